"""Scorecard benchmark: the scorecard of the organisation and of one department, on a catalog of 50,000
datasets and about 1,040,000 fields, against the same aggregates written by hand in SQL; on a database
without deny rules and on its copy with the 10,000 rules of ``bench.trust_data``.

Run it like the other benchmarks (``BENCH_ONLY=scorecard make bench``; scripts/bench.sh starts a
throwaway PostgreSQL, migrates it and keeps the empty migrated template). It:

1. builds, in a database of its own, the catalog of ``bench.data`` (``BENCH_SCALE=small``: 1,000
   datasets) with the people of ``bench.trust_data`` and lineage edges across departments (every
   even dataset feeds the next one); VACUUM ANALYZE;
2. copies it and adds the 10,000 active deny rules of ``bench.trust_data`` (27 of which reach the
   reader); VACUUM ANALYZE;
3. times, in interleaved rounds, ``governance.scorecard.scorecard(reader)`` (the organisation and
   every department) and ``scorecard(reader, department_slug="sales")`` on both databases, and the
   *floor*: the scorecard's aggregates as hand-written SQL statements over the tables (no
   visibility filter, no restricted flag, one statement per kind of object, as the scorecard reads
   them), run through psycopg on the database without rules. The ratio is each median ÷ the floor's.

The scorecard is called as the daily task and the admin page call it, outside the API's rendering;
outside a web request the access generation token is read on each visibility check (one cheap
statement each), which the timing includes.

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

BASE_DB, RULES_DB = "accord_scorecard", "accord_scorecard_rules"
TARGET = 2.0
PLANS = {"full": {"datasets": 50_000, "rounds": 7, "warmup": 1},
         "small": {"datasets": 1_000, "rounds": 7, "warmup": 1}}

LIVE = "lifecycle IN ('draft', 'active', 'deprecated') AND removed_from_source_at IS NULL"
FLOOR = [
    f"""SELECT owner_department_id, count(*), count(*) FILTER (WHERE steward_id IS NOT NULL),
               count(*) FILTER (WHERE description <> '')
        FROM catalog_dataset WHERE {LIVE} GROUP BY 1""",
    """SELECT d.owner_department_id, count(*),
              count(*) FILTER (WHERE f.owner_id IS NOT NULL AND f.owner_department_id IS NOT NULL),
              count(*) FILTER (WHERE f.description <> ''), count(*) FILTER (WHERE f.classification <> 'internal'),
              count(*) FILTER (WHERE f.classification IN ('pii', 'restricted'))
       FROM catalog_field f JOIN catalog_dataset d ON d.id = f.dataset_id
       WHERE d.lifecycle IN ('draft', 'active', 'deprecated') AND d.removed_from_source_at IS NULL GROUP BY 1""",
    """SELECT e.owner_department_id, count(*),
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM governance_systemofrecord s WHERE s.status = 'active'
                                             AND (s.attribute_id = a.id OR (s.entity_id = a.entity_id
                                                                           AND s.attribute_id IS NULL))))
       FROM governance_entityattribute a JOIN governance_businessentity e ON e.id = a.entity_id GROUP BY 1""",
    """SELECT s.owner_department_id, count(*),
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM governance_statedefinitionversion v
                                             WHERE v.definition_id = s.id AND v.status = 'approved'))
       FROM governance_statedefinition s GROUP BY 1""",
    """SELECT src.owner_department_id, count(*),
              count(*) FILTER (WHERE EXISTS (
                  SELECT 1 FROM governance_contractversion v
                  JOIN governance_contractversion_consumers c ON c.contractversion_id = v.id
                  JOIN governance_contractversion_datasets cd ON cd.contractversion_id = v.id
                  WHERE v.status = 'active' AND v.producer_id = src.owner_department_id
                    AND c.department_id = tgt.owner_department_id AND cd.dataset_id = e.source_id))
       FROM catalog_lineageedge e JOIN catalog_dataset src ON src.id = e.source_id
       JOIN catalog_dataset tgt ON tgt.id = e.target_id
       WHERE e.source_field_id IS NULL AND src.owner_department_id <> tgt.owner_department_id GROUP BY 1""",
    """SELECT DISTINCT src.owner_department_id, tgt.owner_department_id
       FROM catalog_lineageedge e JOIN catalog_dataset src ON src.id = e.source_id
       JOIN catalog_dataset tgt ON tgt.id = e.target_id
       WHERE e.source_field_id IS NULL AND src.owner_department_id <> tgt.owner_department_id""",
    """SELECT c.id, c.producer_id, count(*), count(*) FILTER (WHERE r.status = 'pass')
       FROM governance_checkresult r JOIN governance_compliancerun run ON run.id = r.run_id
       JOIN governance_contractversion v ON v.id = run.contract_version_id
       JOIN governance_datacontract c ON c.id = v.contract_id
       WHERE v.status = 'active' AND run.id = (SELECT id FROM governance_compliancerun x
                                               WHERE x.contract_version_id = v.id AND x.status = 'completed'
                                               ORDER BY scheduled_for DESC, id DESC LIMIT 1)
       GROUP BY 1, 2""",
    """SELECT c.producer_id, count(*) FILTER (WHERE i.status <> 'resolved'),
              sum(i.acknowledged_at - i.created_at) FILTER (WHERE i.acknowledged_at IS NOT NULL)
       FROM governance_incident i JOIN governance_datacontract c ON c.id = i.contract_id GROUP BY 1""",
    """SELECT owner_department_id, count(*) FROM catalog_system s WHERE connection_engine <> ''
         AND (SELECT finished_at FROM harvest_harvestrun h WHERE h.system_id = s.id
              AND h.status IN ('succeeded', 'partial') ORDER BY finished_at DESC LIMIT 1) > now() - interval '2 days'
       GROUP BY 1""",
    """SELECT producer_id, count(*) FROM governance_datacontract c WHERE EXISTS (
         SELECT 1 FROM governance_contractversion v WHERE v.contract_id = c.id AND v.status = 'active') GROUP BY 1""",
    "SELECT department_id, count(*) FROM catalog_departmentmembership WHERE role = 'lead' GROUP BY 1",
    "SELECT id, name, slug FROM catalog_department ORDER BY name",
]


def _default_later_columns(cursor) -> None:
    """``bench.data`` writes the columns the catalog had when it was written; the harvest's later ones
    (``source_description``, ``unique_keys``…: NOT NULL, no database default) get their model default
    in this throwaway database, so its INSERTs still run."""
    cursor.execute("""SELECT table_name, column_name, data_type FROM information_schema.columns
                      WHERE table_name IN ('catalog_dataset', 'catalog_field', 'catalog_system', 'catalog_lineageedge')
                        AND is_nullable = 'NO' AND column_default IS NULL
                        AND data_type IN ('text', 'character varying', 'jsonb')""")
    for table, column, data_type in cursor.fetchall():
        default = "'[]'::jsonb" if data_type == "jsonb" else "''"
        cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {default}')


def build(datasets: int) -> dict:
    from bench import data, trust_data

    start = time.perf_counter()
    with raw_connection(BASE_DB) as raw, raw.cursor() as cursor:
        _default_later_columns(cursor)
        data.create_reference_data(cursor)
        data.add_datasets(cursor, 1, datasets)
        trust_data.create_people(cursor)
        cursor.execute("""INSERT INTO catalog_lineageedge (created_at, updated_at, source_id, target_id,
                                                           transformation, origin, job)
                          SELECT now(), now(), d, d + 1, '', '', '' FROM generate_series(2, %s - 1, 2) d""",
                       [datasets])
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

    from bench.support import django_wrapper
    from bench.trust_data import READER
    from governance import scorecard

    info = {"catalog": build(plan["datasets"])}
    say(f"== scorecard: {info['catalog']['counts']['catalog_dataset']:,} datasets, "
        f"{info['catalog']['counts']['catalog_field']:,} fields, {info['catalog']['counts']['catalog_lineageedge']:,} "
        f"lineage edges ({info['catalog']['seconds']:.0f} s)")
    connection.close()
    create_database(RULES_DB, template=BASE_DB)
    info["rules"] = add_rules(plan["datasets"])
    say(f"== scorecard: {info['rules']['rules']:,} deny rules ({info['rules']['seconds']:.0f} s)")

    wrappers = {"none": connections["default"], "rules": django_wrapper(RULES_DB)}

    def activate(key):
        return lambda: connections.__setitem__("default", wrappers[key])

    reader = get_user_model().objects.get(username=READER)
    floor_connection = raw_connection(BASE_DB)

    def floor():
        with floor_connection.cursor() as cursor:
            for statement in FLOOR:
                cursor.execute(statement)
                cursor.fetchall()

    # What each variant counts, and how many statements it runs.
    facts, statements = {}, {}
    for key in wrappers:
        activate(key)()
        counter = StatementCounter()
        with connections["default"].execute_wrapper(counter):
            card = scorecard.scorecard(reader)
        facts[key] = card["organisation"]["facts"]
        statements[key] = counter.statements
    info["reader_datasets"] = {key: value["datasets"] for key, value in facts.items()}
    info["statements"] = statements
    say(f"   the reader counts {facts['none']['datasets']:,} datasets without rules, {facts['rules']['datasets']:,} "
        f"with them; {statements['none']} / {statements['rules']} statements")
    if facts["rules"]["datasets"] >= facts["none"]["datasets"]:
        raise RuntimeError("The rules hide nothing from the reader: the benchmark would not measure them.")

    runners = {
        "floor": Runner(floor, group="floor"),
        "organisation:none": Runner(lambda: scorecard.scorecard(reader), prepare=activate("none"), group="none"),
        "department:none": Runner(lambda: scorecard.scorecard(reader, department_slug="sales"),
                                  prepare=activate("none"), group="none"),
        "organisation:rules": Runner(lambda: scorecard.scorecard(reader), prepare=activate("rules"), group="rules"),
        "department:rules": Runner(lambda: scorecard.scorecard(reader, department_slug="sales"),
                                   prepare=activate("rules"), group="rules"),
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
        rows.append(f"| {name} | {stats[name].median_ms:,.0f} ms | {base:,.0f} ms | {ratio:.2f}× | "
                    f"{verdict(ratio, TARGET)} |")
        say(f"   {name:20} {stats[name].median_ms:9.1f} ms   floor {base:9.1f} ms   {ratio:.2f}×")
    table = "\n".join([
        f"Scorecard at {info['catalog']['counts']['catalog_dataset']:,} datasets / "
        f"{info['catalog']['counts']['catalog_field']:,} fields (medians of {plan['rounds']} interleaved rounds; "
        f"load average {os.getloadavg()[0]:.1f})", "",
        "| Scorecard | Accord | Hand SQL | Ratio | Target |", "|---|---|---|---|---|", *rows])
    report = {"benchmark": "scorecard", "scale": scale, "seconds": round(time.perf_counter() - started, 1),
              "plan": plan, "target": TARGET, "setup": info,
              "timings": {name: vars(value) for name, value in stats.items()}, "all_targets_met": passed}
    return finish("scorecard", report, table, passed, databases=(RULES_DB, BASE_DB))


if __name__ == "__main__":
    sys.exit(main())
