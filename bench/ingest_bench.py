"""dbt ingestion benchmark: a generated project of 5,000 models with 100,000 columns (``bench.ingest_data``)
ingested into an empty registry, against a floor of parsing the same artifacts plus one bulk ``COPY`` of the
same rows into the registry's tables; then the same artifacts again, against parsing alone.

Run it through ``make bench`` (``BENCH_ONLY=ingest make bench``), which starts a throwaway PostgreSQL,
migrates it and keeps the empty migrated database as a template.

* **Floor.** ``ingest.dbt.parse_artifacts`` (dbt-artifacts-parser) on the manifest and catalog, then, on a
  plain psycopg connection to a fresh copy of the template, one ``COPY`` per table of the rows the
  ingestion writes: datasets, fields, dbt nodes, dbt tests and dataset- and field-level lineage edges
  (tags and their links are left out: a few hundred rows). The columns the registry requires and the
  rows do not give get the model's defaults.
* **First ingestion.** ``parse_artifacts`` then ``ingest.dbt.ingest`` into another fresh copy, through the
  models' audited saves (one audit record per row written, under the run's actor).
* **Second ingestion.** The same artifacts again into the same registry: rows written (catalog tables,
  ingest tables, audit records) must be zero, and the time is compared with ``parse_artifacts`` alone.

Targets (issue 17): first ingestion within 3× of the floor; the second within 1.5× of parsing, writing
nothing. ``BENCH_SCALE=small``: 500 models, 10,000 columns. ``BENCH_STRICT=1`` exits 1 on a missed
target; ``BENCH_KEEP=1`` keeps the databases.
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench.support import (
    BenchSetupError,
    create_database,
    fail,
    finish,
    raw_connection,
    say,
    setup_django,
    verdict,
)

SCALE = os.environ.get("BENCH_SCALE", "full")
MODELS, COLUMNS = (500, 20) if SCALE == "small" else (5000, 20)
FLOOR_DB, FIRST_DB = "bench_ingest_floor", "bench_ingest"
TARGET_FIRST, TARGET_SECOND = 3.0, 1.5
TABLES = ("catalog_dataset", "catalog_field", "catalog_lineageedge", "ingest_dbtnode", "ingest_dbttest",
          "catalog_tag", "catalog_dataset_tags", "catalog_field_tags", "permissions_auditrecord")


def _counts(connection) -> dict[str, int]:
    return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def _defaults(connection, table: str, given: list[str]) -> tuple[list[str], list]:
    """The NOT NULL columns of ``table`` without a database default that ``given`` leaves out, and a
    value for each (the models' defaults: empty text, empty JSON list, false, 0, now)."""
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s AND is_nullable = 'NO' "
        "AND column_default IS NULL ORDER BY ordinal_position", [table]).fetchall()
    names, values = [], []
    for name, kind in rows:
        if name in given or name == "id":
            continue
        names.append(name)
        values.append({"jsonb": "[]", "boolean": False, "integer": 0, "bigint": 0,
                       "timestamp with time zone": "now"}.get(kind, ""))
    return names, values


def _copy(connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    extra, values = _defaults(connection, table, columns)
    values = [v if v != "now" else time.strftime("%Y-%m-%d %H:%M:%S+00") for v in values]
    with connection.cursor().copy(f"COPY {table} ({', '.join(columns + extra)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row, *values))


def floor(manifest: dict, catalog: dict) -> dict:
    """Parse, then COPY the rows the ingestion writes, with ids assigned here."""
    from ingest import dbt

    started = time.perf_counter()
    artifacts = dbt.parse_artifacts(manifest, catalog)
    parsed = time.perf_counter()
    relations = dbt._relations(artifacts)  # what the ingestion reads from the artifacts
    create_database(FLOOR_DB)
    with raw_connection(FLOOR_DB) as connection, connection.transaction():
        system_id, project_id = 1, 1
        _copy(connection, "catalog_system", ["id", "name", "slug", "kind"], [(system_id, "Warehouse", "warehouse",
                                                                           "warehouse")])
        _copy(connection, "ingest_dbtproject", ["id", "name", "system_id", "schema_systems"],
              [(project_id, artifacts.project_name, system_id, "{}")])
        dataset_ids = {r.unique_id: i + 1 for i, r in enumerate(relations)}
        _copy(connection, "catalog_dataset", ["id", "system_id", "qualified_name", "name", "kind", "description"],
              [(dataset_ids[r.unique_id], system_id, f"{r.schema}.{r.alias}", r.alias, "table", r.description)
               for r in relations])
        field_ids, field_rows = {}, []
        for r in relations:
            for column in r.columns.values():
                field_ids[(r.unique_id, column.name)] = len(field_ids) + 1
                field_rows.append((len(field_ids), dataset_ids[r.unique_id], column.name, column.data_type,
                                   column.position or 0, column.description))
        _copy(connection, "catalog_field", ["id", "dataset_id", "name", "data_type", "position", "description"],
              field_rows)
        _copy(connection, "ingest_dbtnode", ["project_id", "unique_id", "resource_type", "dataset_id",
                                             "materialized", "written"],
              [(project_id, r.unique_id, r.resource_type, dataset_ids[r.unique_id], r.materialized,
                json.dumps({"description": r.description})) for r in relations])
        edges = []
        for r in relations:
            for upstream in r.depends_on:
                if upstream in dataset_ids:
                    edges.append((dataset_ids[upstream], dataset_ids[r.unique_id], None, None, "dbt", r.unique_id))
            if r.depends_on and r.depends_on[0] in dataset_ids:
                for column in r.columns:
                    source = field_ids.get((r.depends_on[0], column))
                    if source:
                        edges.append((dataset_ids[r.depends_on[0]], dataset_ids[r.unique_id], source,
                                      field_ids[(r.unique_id, column)], "dbt", r.unique_id))
        _copy(connection, "catalog_lineageedge", ["source_id", "target_id", "source_field_id", "target_field_id",
                                                  "origin", "job"], edges)
        tests = [n for n in artifacts.manifest.nodes.values() if str(getattr(n.resource_type, "value", "")) == "test"]
        _copy(connection, "ingest_dbttest", ["project_id", "unique_id", "name", "test_type", "dataset_id",
                                             "field_id", "column_name", "arguments"],
              [(project_id, t.unique_id, t.name, "not_null", dataset_ids[t.attached_node],
                field_ids.get((t.attached_node, t.column_name)), t.column_name, "{}") for t in tests])
    done = time.perf_counter()
    return {"seconds": done - started, "parse_seconds": parsed - started, "copy_seconds": done - parsed,
            "rows": len(relations) * 2 + len(field_rows) + len(edges) + len(tests)}


def main() -> int:
    try:
        from bench.ingest_data import generate

        create_database(FIRST_DB)
        setup_django(FIRST_DB)
        from catalog.models import System
        from ingest import dbt
        from permissions.context import system_actor

        say(f"== generating a dbt project of {MODELS:,} models with {MODELS * COLUMNS:,} columns")
        manifest, catalog = generate(MODELS, COLUMNS)
        size = len(json.dumps(manifest)) + len(json.dumps(catalog))
        say(f"   manifest + catalog: {size / 1e6:.1f} MB")
        say("== floor: parse, then COPY the same rows")
        floor_figures = floor(manifest, catalog)
        say(f"   {floor_figures['seconds']:.1f} s (parse {floor_figures['parse_seconds']:.1f} s, "
            f"COPY of {floor_figures['rows']:,} rows {floor_figures['copy_seconds']:.1f} s)")

        with system_actor("bench", reason="ingestion benchmark") as audit_context:
            system = System.objects.create(name="Warehouse", slug="warehouse", kind="warehouse")
        say("== first ingestion into the empty registry")
        started = time.perf_counter()
        artifacts = dbt.parse_artifacts(manifest, catalog)
        with system_actor("bench", reason="ingestion benchmark") as audit_context:
            project = dbt.project_for(artifacts, system=system, actor=audit_context.actor)
        run = dbt.ingest(project, artifacts)
        first = time.perf_counter() - started
        say(f"   {first:.1f} s, {run.status}, {json.dumps(run.counts)}")

        with raw_connection(FIRST_DB) as connection:
            before = _counts(connection)
        say("== parse alone")
        started = time.perf_counter()
        dbt.parse_artifacts(manifest, catalog)
        parse_only = time.perf_counter() - started
        say("== second ingestion of the same artifacts")
        started = time.perf_counter()
        second_run = dbt.ingest(project, dbt.parse_artifacts(manifest, catalog))
        second = time.perf_counter() - started
        with raw_connection(FIRST_DB) as connection:
            after = _counts(connection)
        written = {table: after[table] - before[table] for table in TABLES if after[table] != before[table]}
        say(f"   {second:.1f} s, parse alone {parse_only:.1f} s, rows written {written or 0}")
    except BenchSetupError as exc:
        return fail(str(exc))

    first_ratio = first / floor_figures["seconds"]
    second_ratio = second / parse_only
    passed = first_ratio <= TARGET_FIRST and second_ratio <= TARGET_SECOND and not written
    table = "\n".join([
        f"dbt ingestion, {MODELS:,} models, {MODELS * COLUMNS:,} columns (BENCH_SCALE={SCALE})",
        "",
        "| measure | seconds | against | ratio | target |",
        "|---|---|---|---|---|",
        f"| first ingestion | {first:.1f} | floor (parse {floor_figures['parse_seconds']:.1f} s + COPY of "
        f"{floor_figures['rows']:,} rows {floor_figures['copy_seconds']:.1f} s) {floor_figures['seconds']:.1f} s "
        f"| {first_ratio:.2f}× | {verdict(first_ratio, TARGET_FIRST)} |",
        f"| second ingestion, nothing changed | {second:.1f} | parse alone {parse_only:.1f} s | {second_ratio:.2f}× "
        f"| {verdict(second_ratio, TARGET_SECOND)} |",
        f"| rows written by the second ingestion | {sum(written.values()) if written else 0} | | | 0 "
        f"{'pass' if not written else '**FAIL**'} |",
    ])
    report = {"seconds": first + second + floor_figures["seconds"] + parse_only, "scale": SCALE, "models": MODELS,
              "columns": MODELS * COLUMNS, "floor": floor_figures, "first_seconds": first, "first_counts": run.counts,
              "second_seconds": second, "second_counts": second_run.counts, "parse_seconds": parse_only,
              "rows_written_second": written, "first_ratio": first_ratio, "second_ratio": second_ratio}
    return finish("ingest", report, table, passed, databases=(FLOOR_DB, FIRST_DB))


if __name__ == "__main__":
    sys.exit(main())

