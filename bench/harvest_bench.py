"""Harvest benchmark: harvesting a generated PostgreSQL source of 5,000 tables and 250,000 columns
(``bench.harvest_data``) into the registry, against reading its catalog and bulk-copying the rows.

Run it through ``make bench`` (``scripts/bench.sh``): ``BENCH_ONLY=harvest make bench``. The source is a
database of its own in the throwaway cluster (``accord_harvest_source``); the registry is a copy of the
empty migrated template (``accord_harvest``); the floor writes into another copy (``accord_harvest_floor``).
The System reads the source through its named connection (``ACCORD_BENCH_HARVEST_DSN``), as in production.
Each harvest is ``harvest.services.harvest`` in this process, as the Celery task runs it.

1. **First harvest** into the empty registry, against the floor: the connector's own catalog queries
   (``harvest.connectors.postgresql``: the schemas, then each schema's objects, columns, sizes, comments,
   keys, view definitions and dependencies) read by a plain psycopg connection in one REPEATABLE READ
   transaction, plus a bulk ``COPY`` of the rows the harvest wrote into ``catalog_dataset``,
   ``catalog_field``, ``harvest_fieldrelationship`` and ``catalog_lineageedge`` (the same rows, ids
   included, copied out of the registry before timing), in one transaction. Target ≤ 3×. One harvest
   (it fills the registry); the floor is the median of three (each into freshly truncated tables).
2. **Second harvest**, nothing changed, against reading the catalog alone (the floor's read part):
   interleaved rounds (``bench.timing``), target ≤ 1.5×, and no row written: the inserts, updates and
   deletes PostgreSQL counted (``pg_stat_user_tables``, flushed by ``pg_stat_force_next_flush``) on the
   catalog's, harvest's and audit tables, before and after, and the audit records.
3. **Changes**: a share of the columns changed on the source (a third widened to ``bigint``, a third
   dropped, a third added; ``bench.harvest_data.change_script``), then one harvest: its time, its time
   above the no-change harvest, and the rows it wrote, each per changed column, at two or three shares,
   to show that both follow the change, not the source.
4. **Peak memory**: a first harvest in a child process (the peak of Python's allocations during the
   harvest, ``tracemalloc``, which slows it; and ``resource.getrusage`` maxrss before and after) of one
   schema and of four schemas of the source (include patterns of the System's harvest settings), each
   into an empty registry: the harvest holds one schema's batch at a time, so the peak should not grow
   with the number of schemas beyond what the run keeps across batches (names seen, foreign keys, views
   and the schema changes it records).

Environment: ``BENCH_SCALE=small`` for a tenth of the source (500 tables, 25,000 columns);
``BENCH_PROFILE=1`` to also write a cProfile report of the first harvest; ``BENCH_STRICT=1`` to exit 1
when a target is missed; ``BENCH_KEEP=1`` to keep the databases afterwards.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass

from bench.support import (
    RESULTS_DIR,
    BenchSetupError,
    StatementCounter,
    admin_connection,
    create_database,
    database_url,
    fail,
    finish,
    raw_connection,
    say,
    setup_django,
    verdict,
)

APP_DB, FLOOR_DB, SOURCE_DB = "accord_harvest", "accord_harvest_floor", "accord_harvest_source"
MEMORY_DB = "accord_harvest_memory"
DSN_ENV = "ACCORD_BENCH_HARVEST_DSN"
TARGET_FIRST, TARGET_UNCHANGED = 3.0, 1.5
COPIED = ("catalog_dataset", "catalog_field", "harvest_fieldrelationship", "catalog_lineageedge")
WRITTEN = (*COPIED, "harvest_schemachange", "permissions_auditrecord")


@dataclass(frozen=True)
class Plan:
    unchanged_rounds: int
    floor_rounds: int
    change_shares: tuple[float, ...]  # of the columns
    memory_schemas: tuple[int, ...]


PLANS = {
    "full": Plan(unchanged_rounds=5, floor_rounds=3, change_shares=(0.001, 0.01), memory_schemas=(1, 4)),
    "small": Plan(unchanged_rounds=5, floor_rounds=3, change_shares=(0.001, 0.01, 0.05), memory_schemas=(1, 4)),
}


# --------------------------------------------------------------------------------------------------------------
# The floor


def read_catalog(connection) -> int:
    """The connector's catalog queries, on a plain psycopg connection in one REPEATABLE READ, READ ONLY
    transaction; the number of rows read."""
    from harvest.connectors import postgresql as pg

    rows = 0
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(pg.SCHEMAS)
        schemas = cursor.fetchall()
        for oid, _ in schemas:
            for sql in (pg.OBJECTS, pg.COLUMNS, pg.SIZES, pg.COMMENTS, pg.KEYS, pg.VIEWS, pg.DEPENDENCIES):
                cursor.execute(sql, [oid])
                rows += len(cursor.fetchall())
    return rows + len(schemas)


def copy_out(connection) -> dict[str, bytes]:
    """The rows the harvest wrote, table by table, as COPY's binary format (read before timing)."""
    out = {}
    for table in COPIED:
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
            out[table] = b"".join(bytes(chunk) for chunk in copy)
    return out


def copy_in(connection, data: dict[str, bytes]) -> None:
    with connection.transaction(), connection.cursor() as cursor:
        for table in COPIED:
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(data[table])


def truncate(connection) -> None:
    connection.execute(f"TRUNCATE {', '.join(COPIED)} CASCADE")


# --------------------------------------------------------------------------------------------------------------
# Writes PostgreSQL counted


def written() -> dict[str, int]:
    """Inserted + updated + deleted rows per table, as counted by PostgreSQL, on the Django connection
    (which made the writes: its counters are flushed first)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
                       "WHERE relname = ANY(%s)", [list(WRITTEN)])
        return dict(cursor.fetchall())


def audit_records() -> int:
    from permissions.models import AuditRecord

    return AuditRecord.objects.count()


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after.get(table, 0) - before.get(table, 0) for table in WRITTEN}


def timed_harvest(system) -> dict:
    from django.db import connection

    from harvest.services import harvest

    counter = StatementCounter()
    before_w, before_a = written(), audit_records()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        run = harvest(system)
    seconds = time.perf_counter() - started
    changes = delta(before_w, written())
    if run.status not in ("succeeded", "partial"):
        raise RuntimeError(f"The harvest failed: {run.errors}")
    return {"seconds": seconds, "statements": counter.statements, "registry_seconds": counter.seconds,
            "run": run.pk, "status": run.status, "counts": run.counts, "written": changes,
            "catalog_rows_written": sum(v for k, v in changes.items() if k != "permissions_auditrecord"),
            "audit_records": audit_records() - before_a}


# --------------------------------------------------------------------------------------------------------------
# The measures


def make_system(name: str, include: list[str] | None = None):
    from catalog.models import System
    from harvest.models import HarvestSettings
    from permissions.context import system_actor

    with system_actor("bench", reason="Harvest benchmark set-up"):
        system = System.objects.create(name=name, slug=name.lower().replace(" ", "-"), connection_engine="postgresql",
                                       connection_env=DSN_ENV)
        if include:
            HarvestSettings.objects.create(system=system, include=include)
    return system


def measure_first(system, source, floor_conn, plan: Plan) -> dict:
    from django.db import connection

    read_catalog(source)  # warm the source's catalog caches for both
    if os.environ.get("BENCH_PROFILE") == "1":
        import cProfile
        import pstats

        profile = cProfile.Profile()
        first = profile.runcall(timed_harvest, system)
        with open(RESULTS_DIR / "profile-harvest-first.txt", "w") as out:
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
    else:
        first = timed_harvest(system)
    connection.ensure_connection()
    data = copy_out(connection.connection)
    floors, reads = [], []
    for _ in range(plan.floor_rounds):
        truncate(floor_conn)
        started = time.perf_counter()
        read_catalog(source)
        read = time.perf_counter() - started
        copy_in(floor_conn, data)
        floors.append(time.perf_counter() - started)
        reads.append(read)
    with floor_conn.cursor() as cursor:
        copied = {}
        for table in COPIED:
            cursor.execute(f"SELECT count(*) FROM {table}")
            copied[table] = cursor.fetchone()[0]
    floors.sort()
    reads.sort()
    floor = floors[len(floors) // 2]
    ratio = first["seconds"] / floor
    return {"harvest": first, "floor_seconds": floors, "floor_read_seconds": reads, "copied_rows": copied,
            "floor": floor, "ratio": ratio, "target": TARGET_FIRST, "passed": ratio <= TARGET_FIRST}


def measure_unchanged(system, source, plan: Plan) -> dict:
    from bench.timing import Runner, interleaved

    harvests: list[dict] = []
    before_w, before_a = written(), audit_records()
    runners = {"harvest": Runner(lambda: harvests.append(timed_harvest(system))),
               "read": Runner(lambda: read_catalog(source))}
    stats = interleaved(runners, iterations=plan.unchanged_rounds, warmup=1)
    changes = delta(before_w, written())
    catalog_rows = sum(v for k, v in changes.items() if k != "permissions_auditrecord")
    audit = audit_records() - before_a
    ratio = stats["harvest"].median_ms / stats["read"].median_ms
    passed = ratio <= TARGET_UNCHANGED and catalog_rows == 0 and audit == 0
    return {"harvest": asdict(stats["harvest"]), "read": asdict(stats["read"]), "ratio": ratio,
            "target": TARGET_UNCHANGED, "harvests": len(harvests), "statements": harvests[-1]["statements"],
            "counts": harvests[-1]["counts"], "written": changes, "catalog_rows_written": catalog_rows,
            "audit_records": audit, "passed": passed}


def measure_changes(system, shape, plan: Plan, unchanged_ms: float) -> list[dict]:
    from bench.harvest_data import change_script

    results = []
    with raw_connection(SOURCE_DB) as owner, owner.cursor() as cursor:
        for number, share in enumerate(plan.change_shares):
            columns = max(3, round(shape.columns * share))
            script, made = change_script(cursor, columns, salt=f"r{number}")
            statements = script.splitlines()
            for start in range(0, len(statements), 200):  # a transaction each: one for all needs too many locks
                cursor.execute("\n".join(statements[start:start + 200]))
            cursor.execute("ANALYZE")
            result = timed_harvest(system)
            changed = sum(made.values())
            extra_ms = result["seconds"] * 1000 - unchanged_ms
            results.append({"share": share, "columns_changed": changed, "made": made, **result,
                            "ms_above_unchanged": extra_ms, "ms_per_change": extra_ms / changed,
                            "catalog_rows_per_change": result["catalog_rows_written"] / changed,
                            "audit_records_per_change": result["audit_records"] / changed})
    return results


def measure_memory(plan: Plan) -> list[dict]:
    results = []
    for schemas in plan.memory_schemas:
        create_database(MEMORY_DB)
        out = subprocess.run([sys.executable, "-m", "bench.harvest_bench", "--memory", str(schemas)],
                             capture_output=True, text=True, env=os.environ.copy(), timeout=7200)
        if out.returncode != 0:
            raise RuntimeError(f"The memory child failed: {out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def memory_child(schemas: int) -> None:
    """In a child process: a first harvest of ``schemas`` schemas into the empty MEMORY_DB; maxrss."""
    setup_django(MEMORY_DB)
    from django.db import connection

    from bench.harvest_data import schema_name
    from harvest.services import harvest

    system = make_system("Memory source", include=[f"{schema_name(s)}.*" for s in range(schemas)])
    connection.ensure_connection()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    run = harvest(system)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"schemas": schemas, "datasets": run.counts["datasets"]["added"],
                      "fields": run.counts["fields"]["added"], "seconds": seconds, "status": run.status,
                      "maxrss_before_mb": before / 1024, "maxrss_after_mb": after / 1024,
                      "growth_mb": (after - before) / 1024, "traced_peak_mb": traced_peak / 2**20}))


# --------------------------------------------------------------------------------------------------------------


def build_source(shape) -> dict:
    from bench.harvest_data import build_source as build

    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{SOURCE_DB}"')
    started = time.perf_counter()
    with raw_connection(SOURCE_DB) as raw, raw.cursor() as cursor:
        build(cursor, shape)
    return {**asdict(shape), "tables": shape.tables, "columns": shape.columns, "views": shape.views,
            "foreign_keys": shape.foreign_keys, "seconds": round(time.perf_counter() - started, 1)}


def table(report: dict) -> str:
    first, unchanged, source = report["first"], report["unchanged"], report["source"]
    h = first["harvest"]
    lines = [
        f"Harvest benchmark ({report['scale']}): a PostgreSQL source of {source['tables']:,} tables, "
        f"{source['columns']:,} table columns, {source['views']:,} views, {source['foreign_keys']:,} foreign keys",
        "",
        "| measure | harvest | floor | ratio | target |",
        "|---|---|---|---|---|",
        f"| first harvest (empty registry) vs catalog read + COPY | {h['seconds']:.1f} s "
        f"({h['statements']:,} statements) | {first['floor']:.2f} s | {first['ratio']:.1f}× | "
        f"{verdict(first['ratio'], TARGET_FIRST)} |",
        f"| second harvest, nothing changed, vs catalog read | {unchanged['harvest']['median_ms']:.0f} ms "
        f"({unchanged['statements']:,} statements) | {unchanged['read']['median_ms']:.0f} ms | "
        f"{unchanged['ratio']:.2f}× | {verdict(unchanged['ratio'], TARGET_UNCHANGED)} |",
        f"| rows written by the unchanged harvests (catalog, audit) | {unchanged['catalog_rows_written']}, "
        f"{unchanged['audit_records']} | 0 | | "
        f"{'pass' if unchanged['catalog_rows_written'] == 0 and unchanged['audit_records'] == 0 else '**FAIL**'} |",
        "",
        "| columns changed (share) | harvest | above unchanged | per change | catalog rows written | audit records "
        "| schema changes |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report["changes"]:
        lines.append(f"| {c['columns_changed']:,} ({c['share'] * 100:g} %) | {c['seconds']:.1f} s | "
                     f"{c['ms_above_unchanged'] / 1000:.1f} s | {c['ms_per_change']:.1f} ms | "
                     f"{c['catalog_rows_written']:,} ({c['catalog_rows_per_change']:.2f}/change) | "
                     f"{c['audit_records']:,} | {c['written']['harvest_schemachange']:,} |")
    lines += ["", "| peak memory: first harvest of | datasets | fields | seconds (traced) | "
              "Python peak during the harvest (tracemalloc) | maxrss before, after |", "|---|---|---|---|---|---|"]
    for m in report["memory"]:
        lines.append(f"| {m['schemas']} schema(s) | {m['datasets']:,} | {m['fields']:,} | {m['seconds']:.1f} | "
                     f"{m['traced_peak_mb']:.1f} MB | {m['maxrss_before_mb']:.0f} MB, {m['maxrss_after_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--memory"]:
        memory_child(int(sys.argv[2]))
        return 0
    from bench.harvest_data import SHAPES

    scale = os.environ.get("BENCH_SCALE", "full")
    plan, shape = PLANS[scale], SHAPES[scale]
    started = time.perf_counter()
    try:
        say(f"== harvest: building the source ({shape.tables:,} tables, {shape.columns:,} columns)")
        source_info = build_source(shape)
        create_database(APP_DB)
        create_database(FLOOR_DB)
    except BenchSetupError as exc:
        return fail(str(exc))
    os.environ[DSN_ENV] = database_url(SOURCE_DB)
    setup_django(APP_DB)
    system = make_system("Bench source")
    with raw_connection(FLOOR_DB) as floor_conn, raw_connection(SOURCE_DB) as source:
        with raw_connection(APP_DB) as app, app.cursor() as out, floor_conn.cursor() as into, \
                out.copy("COPY catalog_system TO STDOUT (FORMAT binary)") as copy_from, \
                into.copy("COPY catalog_system FROM STDIN (FORMAT binary)") as copy_to:
            for chunk in copy_from:
                copy_to.write(chunk)
        say("== harvest: first harvest and the floor")
        first = measure_first(system, source, floor_conn, plan)
        say(f"   {first['harvest']['seconds']:.1f} s against {first['floor']:.2f} s")
        say("== harvest: unchanged harvests against reading the catalog")
        unchanged = measure_unchanged(system, source, plan)
        say(f"   {unchanged['harvest']['median_ms']:.0f} ms against {unchanged['read']['median_ms']:.0f} ms")
    say("== harvest: changed columns")
    changes = measure_changes(system, shape, plan, unchanged["harvest"]["median_ms"])
    say("== harvest: peak memory (child processes)")
    memory = measure_memory(plan)
    report = {"benchmark": "harvest", "scale": scale, "source": source_info, "first": first,
              "unchanged": unchanged, "changes": changes, "memory": memory,
              "seconds": time.perf_counter() - started}
    passed = first["passed"] and unchanged["passed"]
    return finish("harvest", report, table(report), passed, databases=(APP_DB, FLOOR_DB, SOURCE_DB, MEMORY_DB))


if __name__ == "__main__":
    sys.exit(main())
