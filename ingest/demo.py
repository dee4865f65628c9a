"""The demo warehouse's dbt project, in ``make run``'s demo (``manage.py load_demo``).

``demo_dbt/project/`` is a small dbt project over the demo warehouse: three marts built from the
staging leads (``marts.dim_lead``, with an enforced contract; ``marts.fct_lead_funnel``;
``marts.mql_handoff_queue``), owners and departments of the demo company in ``meta``, and generic
tests, of which some fail and one warns on the demo's planted bad leads. ``demo_dbt/target/`` holds
what dbt-core wrote for it (manifest, catalog of the models, run results), run by
``scripts/dbt_fixtures.sh`` with dbt-postgres on a PostgreSQL copy of the demo warehouse's tables.

The demo does not run dbt: ``build_demo_dbt_tables`` creates, in the demo warehouse's SQLite file,
the (empty) tables that project builds, with the columns and types its catalog reports, so the
warehouse's harvest and the ingestion describe the same tables; ``ingest_demo_dbt`` registers the
project on the warehouse System and ingests the artifacts through ``ingest.dbt`` like any other.
Both are idempotent: a second run creates no table and the ingestion writes nothing but its run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from catalog.models import System
from ingest import dbt
from ingest.models import DbtProject, IngestionRun

DEMO_DBT = Path(__file__).resolve().parent / "demo_dbt"
TARGET = DEMO_DBT / "target"
PROJECT_NAME = "accord_demo_warehouse"
WAREHOUSE = "analytics-warehouse"  # catalog.demo.WAREHOUSE
#: Where the project's relations go: both schemas it reads and builds are the demo warehouse's
#: (the artifacts name the PostgreSQL database dbt ran on, "warehouse").
SCHEMA_SYSTEMS = {"warehouse.staging": WAREHOUSE, "warehouse.marts": WAREHOUSE}


def _artifact(name: str) -> dict:
    return json.loads((TARGET / f"{name}.json").read_text(encoding="utf-8"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def demo_dbt_tables() -> dict[str, list[tuple[str, str]]]:
    """The tables the project builds, by qualified name (``marts.dim_lead``, as the demo warehouse
    names its tables), with their columns and types in order, as dbt's catalog reports them."""
    tables = {}
    for node in _artifact("catalog")["nodes"].values():
        columns = sorted(node["columns"].values(), key=lambda column: column["index"])
        tables[f"{node['metadata']['schema']}.{node['metadata']['name']}"] = [
            (column["name"], column["type"]) for column in columns]
    return tables


def build_demo_dbt_tables(path: Path) -> list[str]:
    """Create in the demo warehouse file the tables of the project that are not there yet (as ``dbt
    run`` would have built them, empty: the demo's marts hold no rows); the names created."""
    tables = demo_dbt_tables()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        present = {row[0] for row in reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        reader.close()
    missing = [name for name in tables if name not in present]
    if not missing:  # the file is not opened for writing, so it stays as it is
        return []
    connection = sqlite3.connect(path)
    try:
        for name in missing:
            columns = ", ".join(f"{_quote(column)} {data_type}" for column, data_type in tables[name])
            connection.execute(f"CREATE TABLE {_quote(name)} ({columns})")
        connection.commit()
    finally:
        connection.close()
    return missing


def ingest_demo_dbt(*, actor) -> IngestionRun:
    """Register the demo project on the warehouse System (once; its settings are then the admins'),
    and ingest its artifacts; the finished run. ``actor`` is who registers the project."""
    from permissions import context

    artifacts = dbt.parse_artifacts(_artifact("manifest"), _artifact("catalog"), _artifact("run_results"))
    project = DbtProject.objects.filter(name=PROJECT_NAME).select_related("system").first()
    if project is None:
        with context.acting_as(actor, reason="The demo warehouse's dbt project"):
            project = DbtProject.objects.create(name=PROJECT_NAME, system=System.objects.get(slug=WAREHOUSE),
                                                schema_systems=SCHEMA_SYSTEMS)
    return dbt.ingest(project, artifacts)
