"""A generated dbt project for the ingestion benchmark: ``models`` models of ``columns`` columns each,
as manifest.json and catalog.json documents of dbt 1.10 (schema v12), built from the real nodes
of the test project (tests/ingest/dbt_artifacts/shop/built/), so every field the parser checks is
one dbt writes.

Models are spread over ten schemas; each model after the first ten depends on two earlier ones and
its compiled SQL selects its columns from the first of them (so sqlglot maps every column); every
model has a description, an owner in ``meta``, two tags, a described column per ten, and a
``not_null`` test on its first column."""

from __future__ import annotations

import copy
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "ingest" / "dbt_artifacts" / "shop" / "built"
PROJECT = "bench_project"
SCHEMAS = [f"mart_{i}" for i in range(10)]


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def generate(models: int, columns: int) -> tuple[dict, dict]:
    manifest, catalog = _load("manifest.json"), _load("catalog.json")
    model_template = manifest["nodes"]["model.shop.stg_orders"]
    test_template = manifest["nodes"]["test.shop.not_null_stg_orders_order_id.81cfe2fe64"]
    column_template = model_template["columns"]["order_id"]
    catalog_template = catalog["nodes"]["model.shop.stg_orders"]
    catalog_column = catalog_template["columns"]["order_id"]
    manifest["metadata"]["project_name"] = PROJECT
    nodes, catalog_nodes = {}, {}
    for i in range(models):
        schema = SCHEMAS[i % len(SCHEMAS)]
        name = f"model_{i:05d}"
        unique_id = f"model.{PROJECT}.{name}"
        node = copy.deepcopy(model_template)
        names = [f"col_{j:03d}" for j in range(columns)]
        depends = [f"model.{PROJECT}.model_{k:05d}" for k in (i - 10, i - 7) if i >= 10]
        upstream = f'"warehouse"."{SCHEMAS[(i - 10) % len(SCHEMAS)]}"."model_{i - 10:05d}"' if i >= 10 else None
        node.update({
            "unique_id": unique_id, "name": name, "alias": name, "schema": schema, "package_name": PROJECT,
            "fqn": [PROJECT, schema, name], "path": f"{schema}/{name}.sql",
            "original_file_path": f"models/{schema}/{name}.sql", "description": f"Model {i} of the benchmark.",
            "meta": {"owner": f"owner{i % 50}@example.com"}, "tags": ["bench", schema], "refs": [],
            "depends_on": {"macros": [], "nodes": depends},
            "compiled_code": (f"select {', '.join(f'u.{c}' for c in names)} from {upstream} u" if upstream
                              else f"select {', '.join(f'1 as {c}' for c in names)}"),
            "columns": {c: {**copy.deepcopy(column_template), "name": c,
                            "description": f"Column {j} of model {i}." if j % 10 == 0 else ""}
                        for j, c in enumerate(names)},
        })
        node["config"] = {**node["config"], "tags": ["bench", schema], "materialized": "table"}
        nodes[unique_id] = node
        test = copy.deepcopy(test_template)
        test_id = f"test.{PROJECT}.not_null_{name}_col_000.{i:010x}"
        test.update({"unique_id": test_id, "name": f"not_null_{name}_col_000", "column_name": "col_000",
                     "attached_node": unique_id, "depends_on": {"macros": [], "nodes": [unique_id]},
                     "package_name": PROJECT, "fqn": [PROJECT, "not_null", name]})
        test["test_metadata"] = {**test["test_metadata"], "kwargs": {"column_name": "col_000",
                                                                      "model": f"{{{{ ref('{name}') }}}}"}}
        nodes[test_id] = test
        entry = copy.deepcopy(catalog_template)
        entry["unique_id"] = unique_id
        entry["metadata"] = {**entry["metadata"], "schema": schema, "name": name, "type": "BASE TABLE"}
        entry["columns"] = {c: {**catalog_column, "name": c, "index": j + 1,
                                "type": "bigint" if j % 3 == 0 else "text"} for j, c in enumerate(names)}
        catalog_nodes[unique_id] = entry
    manifest["nodes"] = nodes
    manifest["sources"] = {}
    manifest["parent_map"], manifest["child_map"] = {}, {}
    catalog["nodes"], catalog["sources"] = catalog_nodes, {}
    return manifest, catalog
