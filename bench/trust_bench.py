"""Trust-layer benchmark: reads with 10,000 active deny rules against none, and writes with the audit chain
against without it.

Run it through ``make bench`` (``scripts/bench.sh``), which starts a throwaway PostgreSQL, migrates it,
keeps a copy of the empty migrated database as a template, and calls ``python -m bench.trust_bench``. It:

1. builds, in a database of its own, a catalog from ``bench.data`` (5,000 datasets / 104,000 fields;
   ``BENCH_SCALE=small``: 1,000 / 20,798) with the people of ``bench.trust_data`` and 100,000 records of
   audit history, and logs the reader and the writer in (Django sessions); VACUUM ANALYZE;
2. copies that database (``CREATE DATABASE … TEMPLATE``) and adds to the copy the 10,000 active deny
   rules, 500 expired ones and 1,003 exceptions of ``bench.trust_data``; VACUUM ANALYZE;
3. **reads**: checks that, with the rules, the endpoints hide from the reader exactly what the rules
   say, counts the statements of one request on each database (and the audit records a request
   writes: reads of restricted rows are audited), then times each endpoint on both databases in
   interleaved rounds (one Django connection per database, swapped without reconnecting, as in
   ``bench.catalog_bench``); the ratio is the median with rules ÷ the median without;
4. **writes** (on the database with the rules): updates of a dataset's description by its department
   lead, (a) through the ORM as a service would write it (``transaction.atomic()``, ``audit.batch()``,
   ``select_for_update().get()``, ``save()``) and (b) through the API (``PATCH /api/v1/datasets/<id>/``),
   with the audit chain and without it, in interleaved batches; "without" disconnects, in this process
   only, the receivers of ``permissions.signals`` that write records (post_save, post_delete,
   m2m_changed). ``on_pre_save`` stays connected: it only takes the before-snapshot, and
   ``catalog.ownership`` reads that snapshot (without it every save would re-grant the steward's
   object permission: a cost the application never pays);
5. the ORM writes again with two writer processes at once (each with its own connection, on
   different datasets), with and without the chain, in interleaved batches: the lock on the chain's
   head row serialises the appends; afterwards ``permissions.audit.verify_chain`` must accept the
   whole chain (history plus everything the benchmark appended).

Environment: ``BENCH_SCALE=small`` for a quick run; ``BENCH_PROFILE=1`` to also write a cProfile report
of each read endpoint with the rules; ``BENCH_STRICT=1`` to exit 1 when a target is missed; ``BENCH_KEEP=1``
to keep the two databases afterwards (for a closer look); ``BENCH_AB=1`` to also run the A/B experiments of
``bench.trust_ab`` (the application patched in this process: the measured effect of the proposals).
"""

from __future__ import annotations

import cProfile
import gc
import json
import multiprocessing
import os
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from bench.support import (
    RESULTS_DIR,
    BenchSetupError,
    StatementCounter,
    Summary,
    create_database,
    fail,
    finish,
    raw_connection,
    say,
    setup_django,
    verdict,
)

HOST = "localhost"
BASE_DB, RULES_DB = "accord_trust", "accord_trust_rules"
TARGET_READ = 1.25
TARGET_WRITE = 1.6
# Two audited writers at once against one audited writer alone: throughput at least this many times.
TARGET_SCALING = 1.6
LIST_PAGE_SIZE = 100
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class Plan:
    datasets: int
    budget_seconds: float  # timed rounds per read scenario: as many as fit in this…
    min_rounds: int  # …but at least this many…
    max_rounds: dict[str, int]  # …and at most this many
    orm_writes: int  # per variant (with / without the chain), single writer
    api_writes: int  # per variant, through PATCH
    concurrent_writes: int  # per variant and per writer process
    batch: int  # writes per batch (variants alternate batch by batch)
    api_batch: int


PLANS = {
    "full": Plan(datasets=5_000, budget_seconds=40, min_rounds=7,
                 max_rounds={"list": 400, "detail": 400, "search": 400, "search-broad": 300},
                 orm_writes=3_000, api_writes=600, concurrent_writes=3_000, batch=100, api_batch=30),
    "small": Plan(datasets=1_000, budget_seconds=6, min_rounds=5,
                  max_rounds={"list": 30, "detail": 30, "search": 30, "search-broad": 20},
                  orm_writes=600, api_writes=100, concurrent_writes=200, batch=50, api_batch=25),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    url: str
    rounds_key: str


def scenarios() -> list[Scenario]:
    from bench.data import SEARCH_TERMS
    from bench.trust_data import DETAIL_DATASET_ID

    result = [Scenario("list", f"/api/v1/datasets/?page_size={LIST_PAGE_SIZE}", "list"),
              Scenario("detail", f"/api/v1/datasets/{DETAIL_DATASET_ID}/", "detail")]
    for term in SEARCH_TERMS:
        result.append(Scenario(f"search:{term.label}", f"/api/v1/search/?q={term.text}&limit={SEARCH_LIMIT}",
                               "search-broad" if term.label == "broad" else "search"))
    return result


class Database:
    """One of the two databases, with its own Django connection (swapped in without reconnecting)."""

    def __init__(self, label: str, name: str, wrapper):
        self.label, self.name, self.wrapper = label, name, wrapper

    def activate(self) -> None:
        from django.db import connections

        connections["default"] = self.wrapper

    def audit_records(self) -> int:
        self.activate()
        from permissions.models import AuditRecord

        return AuditRecord.objects.count()


def _get(client, url: str) -> bytes:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:500]!r}")
    return response.content


# --------------------------------------------------------------------------------------------------------------
# Building the databases


def build(plan: Plan) -> dict:
    """The base database (catalog, people, audit history, sessions) and its copy with the rules."""
    from bench import data, trust_data

    timings = {}
    start = time.perf_counter()
    with raw_connection(BASE_DB) as raw, raw.cursor() as cursor:
        data.create_reference_data(cursor)
        data.add_datasets(cursor, 1, plan.datasets)
        trust_data.create_people(cursor)
        timings["catalog_and_people_s"] = time.perf_counter() - start
        mark = time.perf_counter()
        trust_data.create_audit_history(cursor)
        timings["audit_history_s"] = time.perf_counter() - mark
        cursor.execute("VACUUM ANALYZE")
        counts = data.counts(cursor)
    expected = data.expected_field_count(1, plan.datasets)
    if counts["catalog_dataset"] != plan.datasets or counts["catalog_field"] != expected:
        raise RuntimeError(f"Generated {counts}, expected {plan.datasets} datasets and {expected} fields.")
    return {"counts": counts, "timings": timings}


def add_rules(plan: Plan) -> dict:
    from bench import trust_data

    start = time.perf_counter()
    with raw_connection(RULES_DB) as raw, raw.cursor() as cursor:
        created = trust_data.create_rules(cursor, datasets=plan.datasets)
        cursor.execute("VACUUM ANALYZE")
        hidden = trust_data.reader_hidden_datasets(cursor, plan.datasets)
        cursor.execute(
            """SELECT count(*) FROM catalog_field WHERE dataset_id = %s
               AND NOT (id = ANY(%s) OR id IN (SELECT field_id FROM catalog_field_tags WHERE tag_id = %s))""",
            [trust_data.DETAIL_DATASET_ID, created["reader_hidden_field_ids"], trust_data.HR_SENSITIVE_TAG])
        detail_fields = cursor.fetchone()[0]
        cursor.execute(
            """SELECT count(DISTINCT target_id) FROM permissions_accessrule
               WHERE target_kind = 'object' AND (expires_at IS NULL OR expires_at > now())
               AND target_type_id = (SELECT id FROM django_content_type
                                     WHERE app_label = 'catalog' AND model = 'dataset')""")
        datasets_named = cursor.fetchone()[0]
    return {**created, "seconds": time.perf_counter() - start, "reader_hidden_datasets": sorted(hidden),
            "detail_visible_fields": detail_fields, "datasets_named_by_some_rule": datasets_named}


# --------------------------------------------------------------------------------------------------------------
# Reads


def check_reads(databases: dict[str, Database], client, plan: Plan, rules_info: dict) -> dict:
    """With the rules, the reader sees exactly what the plan says; without, everything."""
    from django.contrib.auth import get_user_model

    from bench.trust_data import READER
    from catalog.models import Dataset

    hidden = set(rules_info["reader_hidden_datasets"])
    facts = {}
    for key, database in databases.items():
        database.activate()
        reader = get_user_model().objects.get(username=READER)
        visible = Dataset.objects.visible_to(reader).count()
        expected = plan.datasets - (len(hidden) if key == "rules" else 0)
        if visible != expected:
            raise RuntimeError(f"{database.label}: the reader sees {visible} datasets, expected {expected}")
        page = json.loads(_get(client, f"/api/v1/datasets/?page_size={LIST_PAGE_SIZE}"))
        ids = [row["id"] for row in page["results"]]
        wanted = [d for d in range(1, plan.datasets + 1) if key != "rules" or d not in hidden][:LIST_PAGE_SIZE]
        if ids != wanted:
            raise RuntimeError(f"{database.label}: the list's first page is not what the rules leave visible")
        detail = json.loads(_get(client, scenarios()[1].url))
        expected_fields = rules_info["detail_visible_fields"] if key == "rules" else 50
        if len(detail["fields"]) != expected_fields:
            raise RuntimeError(f"{database.label}: the detail shows {len(detail['fields'])} fields, "
                               f"expected {expected_fields}")
        facts[key] = {"visible_datasets": visible,
                      "first_page_hidden": sum(1 for d in hidden if d <= ids[-1]) if key == "rules" else 0,
                      "detail_fields": len(detail["fields"])}
        for scenario in scenarios()[2:]:
            answer = json.loads(_get(client, scenario.url))
            facts[key][scenario.name] = {entry["value"]: entry["count"] for entry in answer["facets"]["type"]}
    return facts


def measure_read(scenario: Scenario, databases: dict[str, Database], client, plan: Plan) -> dict:
    from bench.timing import Runner, interleaved

    call = partial(_get, client, scenario.url)
    runners = {key: Runner(call, prepare=database.activate) for key, database in databases.items()}

    started = time.perf_counter()
    interleaved(runners, iterations=1, warmup=0)
    round_seconds = time.perf_counter() - started
    rounds = max(plan.min_rounds, min(plan.max_rounds[scenario.rounds_key],
                                      int(plan.budget_seconds / max(round_seconds, 1e-6))))

    breakdown = {}
    for key, database in databases.items():
        counter = StatementCounter()
        before = database.audit_records()
        database.activate()
        with database.wrapper.execute_wrapper(counter):
            for _ in range(3):
                call()
        breakdown[key] = {"statements": round(counter.statements / 3), "sql_ms": counter.seconds * 1000 / 3,
                          "audit_records_written": (database.audit_records() - before) / 3}

    stats = interleaved(runners, iterations=rounds, warmup=min(5, rounds // 10))
    none, rules = stats["none"], stats["rules"]
    ratio = rules.median_ms / none.median_ms
    return {"url": scenario.url, "rounds": rounds, "none": asdict(none), "rules": asdict(rules), "ratio": ratio,
            "target": TARGET_READ, "passed": ratio <= TARGET_READ, "breakdown": breakdown}


def _time_gc(totals: list, started: dict, phase: str, info: dict) -> None:
    """A ``gc.callbacks`` hook: seconds spent collecting, and how many full collections."""
    if phase == "start":
        started["t"] = time.perf_counter()
    else:
        totals[0] += time.perf_counter() - started.pop("t", time.perf_counter())
        totals[1] += info["generation"] == 2


def profile_reads(database: Database, client) -> None:
    database.activate()
    for scenario in scenarios():
        gc_time = [0.0, 0]
        on_gc = partial(_time_gc, gc_time, {})
        gc.callbacks.append(on_gc)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            _get(client, scenario.url)
        profiler.disable()
        gc.callbacks.remove(on_gc)
        say(f"   GC during 20 {scenario.name}: {gc_time[0] * 1000:.1f} ms, {gc_time[1]} full collections, "
            f"{len(gc.get_objects())} tracked objects")
        with open(RESULTS_DIR / f"profile-trust-rules-{scenario.name.replace(':', '-')}.txt", "w") as out:
            for order in ("tottime", "cumulative"):
                out.write(f"== {scenario.url} x20 with the rules, sorted by {order}\n")
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)
            out.write(f"== {scenario.url} x20 with the rules: who calls the 8 costliest functions\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_callers(8)


# --------------------------------------------------------------------------------------------------------------
# Writes

_RECORD_WRITERS = ("post_save", "post_delete", "m2m_changed")


def set_audit(enabled: bool) -> None:
    """Connect or disconnect (in this process) the receivers of permissions.signals that write records."""
    from django.db.models import signals as model_signals

    from permissions import signals

    receivers = {"post_save": (signals.on_post_save, "accord_audit_post_save"),
                 "post_delete": (signals.on_post_delete, "accord_audit_post_delete"),
                 "m2m_changed": (signals.on_m2m_changed, "accord_audit_m2m")}
    for name in _RECORD_WRITERS:
        receiver, uid = receivers[name]
        signal = getattr(model_signals, name)
        if enabled:
            signal.connect(receiver, dispatch_uid=uid)
        else:
            signal.disconnect(dispatch_uid=uid)


def writer_dataset_ids(datasets: int) -> list[int]:
    """The datasets the writer's department (Finance) owns: ``bench.data`` gives dataset d department 1 + 7d mod 20."""
    from bench.trust_data import FINANCE

    return [d for d in range(1, datasets + 1) if 1 + (d * 7) % 20 == FINANCE]


def orm_write(dataset_id: int, text: str) -> None:
    """A service-style update of one dataset, as ``AccordModelViewSet.perform_update`` wraps it."""
    from django.db import transaction

    from catalog.models import Dataset
    from permissions import audit

    with transaction.atomic(), audit.batch():
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        dataset.description = text
        dataset.save()


def api_write(client, dataset_id: int, text: str) -> None:
    response = client.patch(f"/api/v1/datasets/{dataset_id}/", data=json.dumps({"description": text}),
                            content_type="application/json")
    if response.status_code != 200:
        raise RuntimeError(f"PATCH dataset {dataset_id} answered {response.status_code}: {response.content[:300]!r}")


class ChainLockTimer:
    """How long a writer's append statement takes, and how long it then keeps the chain's head row locked.

    The append (``permissions.audit``) is one call that waits for the head row's lock, moves the
    head and inserts the record; the lock is held until the transaction commits. An execute wrapper
    times the statement carrying it (``append_ms``: the wait for the lock plus the statement's own
    work, which cannot be told apart from outside); a wrapper around the connection's ``commit``
    notes when the transaction ends (``hold_ms``: from the statement's return to commit)."""

    def __init__(self, connection):
        from permissions.audit import APPEND_FUNCTION

        self.connection = connection
        self._append_marker = APPEND_FUNCTION
        self.append_ms: list[float] = []
        self.hold_ms: list[float] = []
        self._appended: float | None = None

    def __call__(self, execute, sql, params, many, context):
        if self._append_marker not in sql:
            return execute(sql, params, many, context)
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._appended = time.perf_counter()
            self.append_ms.append((self._appended - start) * 1000)

    def __enter__(self) -> ChainLockTimer:
        original = self.connection.commit

        def commit():
            try:
                return original()
            finally:
                if self._appended is not None:
                    self.hold_ms.append((time.perf_counter() - self._appended) * 1000)
                    self._appended = None

        self.connection.commit = commit
        self._wrapper = self.connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)
        del self.connection.commit  # back to the class's method

    def summary(self) -> dict:
        return {"append_ms": asdict(Summary.of(self.append_ms)) if self.append_ms else None,
                "hold_ms": asdict(Summary.of(self.hold_ms)) if self.hold_ms else None}


def measure_writes(name: str, write: Callable[[int, str], None], ids: list[int], total: int, batch: int,
                   database: Database) -> dict:
    """``total`` writes per variant, in batches of ``batch``, the variants alternating batch by batch."""
    database.activate()
    counter = {}
    for enabled in (True, False):  # warm-up, and statements per write
        set_audit(enabled)
        stats = StatementCounter()
        with database.wrapper.execute_wrapper(stats):
            for i in range(5):
                write(ids[i % len(ids)], f"Warm-up write {i} ({enabled})")
        counter["audit" if enabled else "plain"] = {"statements": stats.statements / 5,
                                                    "sql_ms": stats.seconds * 1000 / 5}
    set_audit(True)
    with ChainLockTimer(database.wrapper) as lock:
        for i in range(20):
            write(ids[i % len(ids)], f"Lock timing write {i}")
    counter["audit"]["chain_lock"] = lock.summary()
    seconds: dict[str, list[float]] = {"audit": [], "plain": []}
    records_before = database.audit_records()
    database.activate()
    sequence = 0
    for round_number in range(total // batch):
        order = ("audit", "plain") if round_number % 2 == 0 else ("plain", "audit")
        for variant in order:
            set_audit(variant == "audit")
            start = time.perf_counter()
            for _ in range(batch):
                sequence += 1
                write(ids[sequence % len(ids)], f"{name} write {sequence} ({variant})")
            seconds[variant].append(time.perf_counter() - start)
    set_audit(True)
    appended = database.audit_records() - records_before
    rounds = total // batch
    if appended != rounds * batch:
        raise RuntimeError(f"{name}: {appended} audit records appended for {rounds * batch} audited writes")
    per_write = {variant: Summary.of([s / batch * 1000 for s in values]) for variant, values in seconds.items()}
    throughput = {variant: rounds * batch / sum(values) for variant, values in seconds.items()}
    ratio = per_write["audit"].median / per_write["plain"].median
    return {"writes_per_variant": rounds * batch, "batch": batch,
            "ms_per_write": {k: asdict(v) for k, v in per_write.items()},
            "writes_per_second": throughput, "ratio": ratio, "target": TARGET_WRITE,
            "passed": ratio <= TARGET_WRITE, "per_write": counter}


def _writer_process(pipe, database: str, ids: list[int]) -> None:
    """A second (and first) writer: its own Django, its own connection; obeys (variant, count) commands."""
    setup_django(database)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bench.trust_data import WRITER
    from permissions.context import actor_context

    writer = get_user_model().objects.get(username=WRITER)
    sequence = 0
    with actor_context(writer, reason="Benchmark writes"), ChainLockTimer(connection) as lock:
        while True:
            command = pipe.recv()
            if command is None:
                break
            if command == "lock":
                pipe.send({"append_ms": lock.append_ms, "hold_ms": lock.hold_ms})
                continue
            if command == "reset":  # after the warm-up
                lock.append_ms.clear()
                lock.hold_ms.clear()
                continue
            variant, count = command
            set_audit(variant == "audit")
            pipe.send("ready")
            pipe.recv()  # go
            start = time.perf_counter()
            for _ in range(count):
                sequence += 1
                orm_write(ids[sequence % len(ids)], f"Concurrent write {os.getpid()}-{sequence} ({variant})")
            pipe.send(time.perf_counter() - start)
    connection.close()


def measure_concurrent(ids: list[int], total: int, batch: int, database: Database) -> dict:
    """Two writer processes at once, each ``total`` writes per variant, in interleaved batches."""
    context = multiprocessing.get_context("spawn")
    halves = [ids[0::2], ids[1::2]]  # never the same row: the lock measured is the chain's, not a row's
    pipes, processes = [], []
    for half in halves:
        ours, theirs = context.Pipe()
        process = context.Process(target=_writer_process, args=(theirs, database.name, half), daemon=True)
        process.start()
        pipes.append(ours)
        processes.append(process)

    def round_of(variant: str, count: int) -> float:
        # "alone": the first writer makes every write of the round with the chain, the other waits.
        busy = pipes[:1] if variant == "alone" else pipes
        per_writer = count * len(pipes) if variant == "alone" else count
        for pipe in busy:
            pipe.send(("audit" if variant == "alone" else variant, per_writer))
        for pipe in busy:
            if pipe.recv() != "ready":
                raise RuntimeError("writer process out of step")
        start = time.perf_counter()
        for pipe in busy:
            pipe.send("go")
        for pipe in busy:
            pipe.recv()
        return time.perf_counter() - start

    try:
        round_of("audit", 10)
        round_of("plain", 10)  # warm-up
        for pipe in pipes:
            pipe.send("reset")
        records_before = database.audit_records()
        seconds: dict[str, list[float]] = {"audit": [], "plain": [], "alone": []}
        orders = (("audit", "plain", "alone"), ("alone", "plain", "audit"), ("plain", "alone", "audit"))
        for round_number in range(total // batch):
            for variant in orders[round_number % len(orders)]:
                seconds[variant].append(round_of(variant, batch))
        appended = database.audit_records() - records_before
        appends, holds = [], []
        for pipe in pipes:
            pipe.send("lock")
            timings = pipe.recv()
            appends += timings["append_ms"]
            holds += timings["hold_ms"]
    finally:
        for pipe in pipes:
            pipe.send(None)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    writes = len(pipes) * batch
    expected = len(seconds["audit"]) * writes
    if appended != expected + len(seconds["alone"]) * writes:
        raise RuntimeError(f"concurrent: {appended} audit records appended for {expected} audited writes")
    per_batch = {variant: Summary.of([writes / s for s in values]) for variant, values in seconds.items()}
    throughput = {variant: len(values) * writes / sum(values) for variant, values in seconds.items()}
    ratio = per_batch["plain"].median / per_batch["audit"].median
    scaling = per_batch["audit"].median / per_batch["alone"].median
    return {"writers": len(pipes), "writes_per_variant": expected, "batch_per_writer": batch,
            "scaling": scaling, "scaling_target": TARGET_SCALING, "scaling_passed": scaling >= TARGET_SCALING,
            "chain_lock": {"append_ms": asdict(Summary.of(appends)), "hold_ms": asdict(Summary.of(holds))},
            "writes_per_second_median_of_batches": {k: asdict(v) for k, v in per_batch.items()},
            "writes_per_second": throughput, "ratio": ratio, "target": TARGET_WRITE, "passed": ratio <= TARGET_WRITE}


# --------------------------------------------------------------------------------------------------------------


def summary(reads: dict, writes: dict, info: dict) -> tuple[str, bool]:
    lines = [
        f"Catalog: {info['counts']['catalog_dataset']:,} datasets, {info['counts']['catalog_field']:,} fields; "
        f"{info['rules']['active_rules']:,} active deny rules ({info['rules']['rules_reaching_reader']} reach the "
        f"reader), {info['rules']['expired_rules']} expired, {info['rules']['exceptions']:,} exceptions.",
        "",
        "| read | median (p90) ms, no rules | median (p90) ms, 10,000 rules | with/without | target | "
        "statements no rules/rules | SQL ms no rules/rules | audit records per request with rules |",
        "|---|---|---|---|---|---|---|---|",
    ]
    passed = True
    for name, m in reads.items():
        passed &= m["passed"]
        none, rules, b = m["none"], m["rules"], m["breakdown"]
        lines.append(
            f"| {name} | {none['median_ms']:.2f} ({none['p90_ms']:.2f}) | {rules['median_ms']:.2f} "
            f"({rules['p90_ms']:.2f}) | {m['ratio']:.2f}× | {verdict(m['ratio'], m['target'])} | "
            f"{b['none']['statements']}/{b['rules']['statements']} | "
            f"{b['none']['sql_ms']:.1f}/{b['rules']['sql_ms']:.1f} | {b['rules']['audit_records_written']:g} |")
    lines += [
        "",
        "| write | writes | median ms/write (p90), with chain | without chain | writes/s with / without | "
        "with/without | target | statements per write with/without |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("orm", "api"):
        m = writes[name]
        passed &= m["passed"]
        audit, plain = m["ms_per_write"]["audit"], m["ms_per_write"]["plain"]
        lines.append(
            f"| {name} | {m['writes_per_variant']:,} + {m['writes_per_variant']:,} | {audit['median']:.2f} "
            f"({audit['p90']:.2f}) | {plain['median']:.2f} ({plain['p90']:.2f}) | "
            f"{m['writes_per_second']['audit']:.0f} / {m['writes_per_second']['plain']:.0f} | {m['ratio']:.2f}× | "
            f"{verdict(m['ratio'], m['target'])} | {m['per_write']['audit']['statements']:g}/"
            f"{m['per_write']['plain']['statements']:g} |")
    c = writes["concurrent"]
    passed &= c["passed"]
    audit, plain = c["writes_per_second_median_of_batches"]["audit"], c["writes_per_second_median_of_batches"]["plain"]
    lines.append(
        f"| orm, {c['writers']} writers at once | {c['writes_per_variant']:,} + {c['writes_per_variant']:,} | "
        f"{1000 * c['writers'] / audit['median']:.2f} (per writer) | {1000 * c['writers'] / plain['median']:.2f} "
        f"(per writer) | {c['writes_per_second']['audit']:.0f} / {c['writes_per_second']['plain']:.0f} | "
        f"{c['ratio']:.2f}× | {verdict(c['ratio'], c['target'])} | |")
    alone = c["writes_per_second_median_of_batches"]["alone"]
    passed &= c["scaling_passed"]
    lines += [
        "",
        "| audited writers | writes/s (median of batches) | two / one | target |",
        "|---|---|---|---|",
        f"| one alone | {alone['median']:.0f} | | |",
        f"| two at once | {audit['median']:.0f} | {c['scaling']:.2f}× | ≥ {c['scaling_target']:g}× "
        f"{'pass' if c['scaling_passed'] else 'FAIL'} |",
    ]
    return "\n".join(lines), passed


def main() -> int:
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
    from django.db import connection
    from django.test import Client

    from bench.support import django_wrapper
    from bench.trust_data import READER, WRITER
    from permissions.context import actor_context

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        postgres_version = cursor.fetchone()[0]
    info = build(plan)
    users = get_user_model().objects
    reader_client, writer_client = Client(SERVER_NAME=HOST), Client(SERVER_NAME=HOST)
    reader_client.force_login(users.get(username=READER))
    writer_client.force_login(users.get(username=WRITER))
    say(f"== trust: catalog of {info['counts']['catalog_dataset']:,} datasets, {info['counts']['catalog_field']:,} "
        f"fields, people and audit history ({sum(info['timings'].values()):.0f} s)")
    connection.close()
    create_database(RULES_DB, template=BASE_DB)
    info["rules"] = add_rules(plan)
    say(f"== trust: {info['rules']['active_rules']:,} active rules, {info['rules']['expired_rules']} expired, "
        f"{info['rules']['exceptions']:,} exceptions ({info['rules']['seconds']:.0f} s); "
        f"{len(info['rules']['reader_hidden_datasets'])} datasets hidden from the reader")

    from django.db import connections

    databases = {"none": Database("no rules", BASE_DB, connections["default"]),
                 "rules": Database("10,000 rules", RULES_DB, django_wrapper(RULES_DB))}
    info["facts"] = check_reads(databases, reader_client, plan, info["rules"])

    reads = {}
    for scenario in scenarios():
        m = measure_read(scenario, databases, reader_client, plan)
        reads[scenario.name] = m
        say(f"   {scenario.name:17} no rules {m['none']['median_ms']:7.2f} ms   10,000 rules "
            f"{m['rules']['median_ms']:7.2f} ms   {m['ratio']:.2f}×   statements "
            f"{m['breakdown']['none']['statements']}/{m['breakdown']['rules']['statements']}   ({m['rounds']} rounds)")
    if os.environ.get("BENCH_PROFILE") == "1":
        profile_reads(databases["rules"], reader_client)

    rules_db = databases["rules"]
    ids = writer_dataset_ids(plan.datasets)
    writes = {}
    rules_db.activate()
    writer = users.get(username=WRITER)
    with actor_context(writer, reason="Benchmark writes"):
        writes["orm"] = measure_writes("orm", orm_write, ids, plan.orm_writes, plan.batch, rules_db)
    say(f"   writes:orm        with chain {writes['orm']['writes_per_second']['audit']:6.1f}/s   without "
        f"{writes['orm']['writes_per_second']['plain']:6.1f}/s   {writes['orm']['ratio']:.2f}×")
    writes["api"] = measure_writes("api", partial(api_write, writer_client), ids, plan.api_writes, plan.api_batch,
                                   rules_db)
    say(f"   writes:api        with chain {writes['api']['writes_per_second']['audit']:6.1f}/s   without "
        f"{writes['api']['writes_per_second']['plain']:6.1f}/s   {writes['api']['ratio']:.2f}×")
    writes["concurrent"] = measure_concurrent(ids, plan.concurrent_writes, plan.batch, rules_db)
    c = writes["concurrent"]
    say(f"   writes:2 writers  with chain {c['writes_per_second']['audit']:6.1f}/s   without "
        f"{c['writes_per_second']['plain']:6.1f}/s   {c['ratio']:.2f}×   one writer alone "
        f"{c['writes_per_second']['alone']:6.1f}/s   two/one {c['scaling']:.2f}×")
    ab = None
    if os.environ.get("BENCH_AB") == "1":
        from bench import trust_ab

        ab = trust_ab.run(databases, reader_client, scenarios(), plan, ids)
    rules_db.activate()
    from permissions.audit import verify_chain

    chain = verify_chain()
    if not chain.ok:
        raise RuntimeError(f"The audit chain is broken after the writes: {chain.problem}")
    info["chain_verified_records"] = chain.checked

    for database in databases.values():
        database.wrapper.close()
    table, all_passed = summary(reads, writes, info)
    report = {"benchmark": "trust", "scale": scale, "seconds": round(time.perf_counter() - started, 1),
              "postgresql": postgres_version, "plan": asdict(plan),
              "targets": {"read": TARGET_READ, "write": TARGET_WRITE, "scaling": TARGET_SCALING},
              "setup": info, "reads": reads,
              "writes": writes, "ab": ab, "all_targets_met": all_passed}
    return finish("trust", report, table, all_passed, databases=(RULES_DB, BASE_DB))


if __name__ == "__main__":
    sys.exit(main())
