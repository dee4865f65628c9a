"""Lineage-map benchmark: the map of depth 3 around one dataset on a lineage graph of 100,000 edges,
against the same statements written by hand in SQL; on a database without deny rules and on its copy
with the 10,000 rules of ``bench.trust_data``.

Run it like the other benchmarks (``BENCH_ONLY=lineage_map make bench``; scripts/bench.sh starts a
throwaway PostgreSQL, migrates it and keeps the empty migrated template). It:

1. builds, in a database of its own, the catalog of ``bench.data`` (20,000 datasets, about 400,000
   fields; ``BENCH_SCALE=small``: 2,000) with the people of ``bench.trust_data``, and 100,000 lineage
   edges (small: 10,000): dataset ``s`` feeds the five datasets ``1 + (7 s + 1009 k) mod N``, k = 1…5,
   so every dataset has five inputs and five outputs and a map of depth 3 holds about 300 datasets;
   the root (dataset 500) also feeds the datasets the rules hide from the reader; VACUUM ANALYZE;
2. copies it and adds the 10,000 active deny rules of ``bench.trust_data`` (some hide datasets on
   the root's map from the reader); VACUUM ANALYZE;
3. checks that the map without rules holds exactly the datasets the hand-written walk finds, and that
   the rules take some away; then times, in interleaved rounds,
   ``catalog.lineage_map.lineage_graph(reader, dataset=root, depth=3)`` (with the contract marks
   governance adds) on both databases, and the *floor*: the same walk in Python over hand-written
   statements on a plain psycopg connection to the database without rules (one statement per level,
   then the datasets with their systems and departments, then the contracts covering the edges; no
   visibility filter). The ratio is each median ÷ the floor's (target ≤ 2×).

The map is computed as the API's view computes it, inside one request's context (a fresh per-request
cache for every call: the access generation token and the reader's subjects are read once per call),
with the root read through ``visible_to`` as the view's ``get_object`` reads it; DRF's rendering of
the answer is not timed, nor is the floor's encoding.

Environment: ``BENCH_SCALE=small`` for a quick run; ``BENCH_KEEP=1`` to keep the databases.
"""

from __future__ import annotations

import os
import sys
import time

from bench.support import (
    BenchSetupError,
    StatementCounter,
    create_database,
    fail,
    finish,
    raw_connection,
    say,
    setup_django,
    verdict,
)
from bench.timing import Runner, interleaved

BASE_DB, RULES_DB = "accord_lineage_map", "accord_lineage_map_rules"
TARGET = 2.0
DEPTH = 3
ROOT = 500
FAN_OUT = 5
PLANS = {"full": {"datasets": 20_000, "rounds": 15, "warmup": 2},
         "small": {"datasets": 2_000, "rounds": 9, "warmup": 1}}

WALK_SQL = "SELECT id, source_id, target_id FROM catalog_lineageedge WHERE target_id = ANY(%s) OR source_id = ANY(%s)"
DATASETS_SQL = """
    SELECT d.id, d.name, d.qualified_name, d.kind, d.lifecycle, d.owner_department_id, d.system_id,
           s.name, s.kind, dep.name
    FROM catalog_dataset d JOIN catalog_system s ON s.id = d.system_id
    LEFT JOIN catalog_department dep ON dep.id = d.owner_department_id
    WHERE d.id = ANY(%s) ORDER BY s.name, d.qualified_name, d.id"""
CONTRACTS_SQL = """
    SELECT DISTINCT c.id, c.name, c.compliance_status,
           coalesce((SELECT v.status FROM governance_contractversion v WHERE v.contract_id = c.id
                     ORDER BY CASE WHEN v.status = 'active' THEN 0 ELSE 1 END, v.id DESC LIMIT 1), 'none'),
           cd.dataset_id, cc.department_id
    FROM governance_datacontract c
    JOIN governance_datacontract_datasets cd ON cd.datacontract_id = c.id
    JOIN governance_datacontract_consumers cc ON cc.datacontract_id = c.id
    WHERE cd.dataset_id = ANY(%s) AND cc.department_id = ANY(%s)"""


def build(datasets: int) -> dict:
    from bench import data, trust_data
    from bench.scorecard_bench import _default_later_columns

    start = time.perf_counter()
    with raw_connection(BASE_DB) as raw, raw.cursor() as cursor:
        _default_later_columns(cursor)
        data.create_reference_data(cursor)
        data.add_datasets(cursor, 1, datasets)
        trust_data.create_people(cursor)
        cursor.execute(
            """INSERT INTO catalog_lineageedge
                   (created_at, updated_at, source_id, target_id, transformation, origin, job)
               SELECT now(), now(), s, 1 + (7 * s + 1009 * k) %% %(n)s, '', '', ''
               FROM generate_series(1, %(n)s) s, generate_series(1, %(fan)s) k
               WHERE s <> 1 + (7 * s + 1009 * k) %% %(n)s""", {"n": datasets, "fan": FAN_OUT})
        hidden = [d for d in (*trust_data.SALES_HIDDEN, *trust_data.GROWTH_HIDDEN) if d <= datasets and d != ROOT]
        cursor.execute(
            """INSERT INTO catalog_lineageedge
                   (created_at, updated_at, source_id, target_id, transformation, origin, job)
               SELECT now(), now(), %s, d, '', '', '' FROM unnest(%s::int[]) d
               WHERE NOT EXISTS (SELECT 1 FROM catalog_lineageedge e WHERE e.source_id = %s AND e.target_id = d)""",
            [ROOT, hidden, ROOT])
        cursor.execute("VACUUM ANALYZE")
        counts = data.counts(cursor)
        cursor.execute("SELECT count(*) FROM catalog_lineageedge")
        counts["catalog_lineageedge"] = cursor.fetchone()[0]
    return {"counts": counts, "seconds": round(time.perf_counter() - start, 1)}


def add_rules(datasets: int) -> dict:
    from bench import trust_data

    start = time.perf_counter()
    with raw_connection(RULES_DB) as raw, raw.cursor() as cursor:
        trust_data.create_rules(cursor, datasets=datasets)
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*) FROM permissions_accessrule")
        rules = cursor.fetchone()[0]
    return {"rules": rules, "seconds": round(time.perf_counter() - start, 1)}


def floor_walk(connection) -> set[int]:
    """The map by hand: the same walk, level by level, then the datasets and the contracts."""
    with connection.cursor() as cursor:
        levels = {ROOT: 0}
        up, down = {ROOT}, {ROOT}
        seen_up, seen_down = set(up), set(down)
        edges = set()
        for level in range(1, DEPTH + 1):
            if not (up or down):
                break
            cursor.execute(WALK_SQL, [list(up), list(down)])
            next_up, next_down = set(), set()
            for _, source, target in cursor.fetchall():
                if target in up:
                    if source not in seen_up:
                        next_up.add(source)
                    levels.setdefault(source, -level)
                if source in down:
                    if target not in seen_down:
                        next_down.add(target)
                    levels.setdefault(target, level)
                edges.add((source, target))
            seen_up |= next_up
            seen_down |= next_down
            up, down = next_up, next_down
        cursor.execute(DATASETS_SQL, [list(levels)])
        rows = cursor.fetchall()
        owners = {row[0]: row[5] for row in rows}
        cursor.execute(CONTRACTS_SQL, [[s for s, _ in edges], list({owners[t] for _, t in edges if owners[t]})])
        cursor.fetchall()
    return {row[0] for row in rows}


def main() -> int:  # noqa: PLR0915 - one linear script
    scale = os.environ.get("BENCH_SCALE", "full")
    if scale not in PLANS:
        return fail(f"BENCH_SCALE must be one of {', '.join(PLANS)}; got {scale!r}.")
    plan = PLANS[scale]
    started = time.perf_counter()
    try:
        create_database(BASE_DB)
    except BenchSetupError as exc:
        return fail(str(exc))
    setup_django(BASE_DB)

    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.test import RequestFactory

    from bench.support import django_wrapper
    from bench.trust_data import READER
    from catalog.lineage_map import lineage_graph
    from catalog.models import Dataset
    from permissions.context import new_request_id, request_context

    info = {"catalog": build(plan["datasets"])}
    counts = info["catalog"]["counts"]
    say(f"== lineage map: {counts['catalog_dataset']:,} datasets, {counts['catalog_field']:,} fields, "
        f"{counts['catalog_lineageedge']:,} lineage edges ({info['catalog']['seconds']:.0f} s)")
    connection.close()
    create_database(RULES_DB, template=BASE_DB)
    info["rules"] = add_rules(plan["datasets"])
    say(f"== lineage map: {info['rules']['rules']:,} deny rules ({info['rules']['seconds']:.0f} s)")

    wrappers = {"none": connections["default"], "rules": django_wrapper(RULES_DB)}

    def activate(key):
        return lambda: connections.__setitem__("default", wrappers[key])

    reader = get_user_model().objects.get(username=READER)
    floor_connection = raw_connection(BASE_DB)

    request = RequestFactory().get(f"/api/v1/datasets/{ROOT}/lineage-graph/?depth={DEPTH}")

    def accord_map():
        # As the view computes it: inside one request's context (a fresh per-request cache each
        # call), the root read through visible_to as get_object reads it.
        with request_context(request, new_request_id()):
            root = Dataset.objects.visible_to(reader).get(pk=ROOT)
            return lineage_graph(reader, dataset=root, depth=DEPTH)

    expected = floor_walk(floor_connection)
    nodes, statements = {}, {}
    for key in wrappers:
        activate(key)()
        counter = StatementCounter()
        with connections["default"].execute_wrapper(counter):
            graph = accord_map()
        nodes[key] = {node["id"] for node in graph["nodes"]}
        statements[key] = counter.statements
    info["nodes"] = {"floor": len(expected), **{key: len(value) for key, value in nodes.items()}}
    info["statements"] = statements
    say(f"   the map holds {len(nodes['none']):,} datasets without rules (hand-written walk: {len(expected):,}), "
        f"{len(nodes['rules']):,} with them; {statements['none']} / {statements['rules']} statements")
    if nodes["none"] != expected:
        raise RuntimeError("The map without rules differs from the hand-written walk: the comparison would be unfair.")
    if not nodes["rules"] < nodes["none"]:
        raise RuntimeError("The rules hide nothing on the map: the benchmark would not measure them.")

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        from bench.support import RESULTS_DIR

        for key in wrappers:
            activate(key)()
            profile = cProfile.Profile()
            profile.runcall(lambda: [accord_map() for _ in range(5)])
            path = RESULTS_DIR / f"lineage_map-profile-{key}.txt"
            with path.open("w") as out:
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            say(f"   profile ({key}): {path}")

    runners = {
        "floor": Runner(lambda: floor_walk(floor_connection), group="floor"),
        "map:none": Runner(accord_map, prepare=activate("none"), group="none"),
        "map:rules": Runner(accord_map, prepare=activate("rules"), group="rules"),
    }
    stats = interleaved(runners, plan["rounds"], plan["warmup"])
    floor_connection.close()
    for wrapper in wrappers.values():
        wrapper.close()
    base = stats["floor"].median_ms
    rows, passed = [], True
    for name in runners:
        if name == "floor":
            continue
        ratio = stats[name].median_ms / base
        passed &= ratio <= TARGET
        rows.append(f"| {name} | {stats[name].median_ms:,.1f} ms | {base:,.1f} ms | {ratio:.2f}× | "
                    f"{verdict(ratio, TARGET)} |")
        say(f"   {name:12} {stats[name].median_ms:9.1f} ms   floor {base:9.1f} ms   {ratio:.2f}×")
    table = "\n".join([
        f"Lineage map of depth {DEPTH} on {counts['catalog_lineageedge']:,} edges / {counts['catalog_dataset']:,} "
        f"datasets, {len(nodes['none']):,} datasets on the map (medians of {plan['rounds']} interleaved rounds; "
        f"load average {os.getloadavg()[0]:.1f})", "",
        "| Map | Accord | Hand SQL | Ratio | Target |", "|---|---|---|---|---|", *rows])
    report = {"benchmark": "lineage_map", "scale": scale, "seconds": round(time.perf_counter() - started, 1),
              "plan": plan, "target": TARGET, "setup": info,
              "timings": {name: vars(value) for name, value in stats.items()}, "all_targets_met": passed}
    return finish("lineage_map", report, table, passed, databases=(RULES_DB, BASE_DB))


if __name__ == "__main__":
    sys.exit(main())
