"""A/B runs behind the trust benchmark's proposals: the application code patched in this process only.

``BENCH_AB=1`` makes ``bench.trust_bench`` call ``run`` after its own measurements, on the same two
databases and with the same reader and writer. Nothing here changes a file of the application.

Reads (each variant checked to give exactly the same JSON as the unpatched code, then timed in
interleaved rounds against the database without rules):

* ``no-read-audit``: the list and detail skip the restricted-read audit (the flag computed for the
  shown rows in the read's own statement, and the chained READ_RESTRICTED append). It shows what
  the restricted-read audit costs; it is not a proposal to drop it.

Writes (single writer, the ORM path of the benchmark, interleaved batches): the chain as the
application appends it, and no chain. (The former ``append-lean`` variant, head read and insert as two
plain SQL statements, is gone: the application's append is now one statement.)
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict

from bench.support import StatementCounter, say

# --------------------------------------------------------------------------------------------------------------
# Reads


@contextmanager
def read_variant(name: str):
    """``no-read-audit``: no row is ever restricted, so lists and details neither flag rows nor
    append READ_RESTRICTED records."""
    from permissions.api import viewsets

    original = viewsets.restricted_flag
    if name.endswith("no-read-audit"):
        viewsets.restricted_flag = lambda model: None
    try:
        yield
    finally:
        viewsets.restricted_flag = original


READ_VARIANTS = ("as-is", "no-read-audit")


def ab_reads(databases, client, scenarios, rounds: int) -> dict:
    from bench.timing import Runner, interleaved
    from bench.trust_bench import _get

    results = {}
    for scenario in scenarios:
        databases["rules"].activate()
        reference = json.loads(_get(client, scenario.url))
        for variant in READ_VARIANTS[1:]:
            with read_variant(variant):
                if json.loads(_get(client, scenario.url)) != reference:
                    raise RuntimeError(f"A/B {variant}: {scenario.name} answers differently")

        def runner(variant: str, key: str, url: str = scenario.url) -> Runner:
            def call():
                with read_variant(variant):
                    _get(client, url)
            return Runner(call, prepare=databases[key].activate)

        runners = {"no rules": runner("as-is", "none")}
        runners.update({variant: runner(variant, "rules") for variant in READ_VARIANTS})
        statements = {}
        for variant in READ_VARIANTS:
            counter = StatementCounter()
            databases["rules"].activate()
            with databases["rules"].wrapper.execute_wrapper(counter), read_variant(variant):
                for _ in range(3):
                    _get(client, scenario.url)
            statements[variant] = {"statements": round(counter.statements / 3), "sql_ms": counter.seconds * 1000 / 3}
        stats = interleaved(runners, iterations=rounds, warmup=2)
        base = stats["no rules"].median_ms
        results[scenario.name] = {
            "rounds": rounds, "no_rules_ms": base,
            "variants": {v: {**asdict(stats[v]), "ratio": stats[v].median_ms / base, **statements[v]}
                         for v in READ_VARIANTS}}
        say(f"   A/B {scenario.name:17} no rules {base:6.1f} ms | " + " | ".join(
            f"{v} {stats[v].median_ms:6.1f} ms ({stats[v].median_ms / base:.2f}×)" for v in READ_VARIANTS))
    return results


# --------------------------------------------------------------------------------------------------------------
# Writes


@contextmanager
def write_variant(name: str):
    from bench.trust_bench import set_audit

    set_audit(name != "no chain")
    try:
        yield
    finally:
        set_audit(True)


WRITE_VARIANTS = ("chain as is", "no chain")


def ab_writes(database, ids: list[int], total: int, batch: int) -> dict:
    from bench.support import Summary
    from bench.trust_bench import orm_write

    writers = dict.fromkeys(WRITE_VARIANTS, orm_write)
    database.activate()
    seconds: dict[str, list[float]] = {name: [] for name in WRITE_VARIANTS}
    statements = {}
    sequence = 0
    for name in WRITE_VARIANTS:
        counter = StatementCounter()
        with write_variant(name), database.wrapper.execute_wrapper(counter):
            for i in range(5):
                writers[name](ids[i], f"A/B warm-up {name} {i}")
        statements[name] = counter.statements / 5
    for round_number in range(total // batch):
        order = WRITE_VARIANTS if round_number % 2 == 0 else tuple(reversed(WRITE_VARIANTS))
        for name in order:
            with write_variant(name):
                start = time.perf_counter()
                for _ in range(batch):
                    sequence += 1
                    writers[name](ids[sequence % len(ids)], f"A/B {name} {sequence}")
                seconds[name].append(time.perf_counter() - start)
    per_write = {name: Summary.of([s / batch * 1000 for s in values]) for name, values in seconds.items()}
    base = per_write["no chain"].median
    result = {name: {**asdict(per_write[name]), "ratio": per_write[name].median / base,
                     "statements": statements[name]} for name in WRITE_VARIANTS}
    say("   A/B writes  " + " | ".join(f"{name} {per_write[name].median:.2f} ms ({per_write[name].median / base:.2f}×)"
                                       for name in WRITE_VARIANTS))
    return {"writes_per_variant": (total // batch) * batch, "batch": batch, "variants": result}


def run(databases, reader_client, scenarios, plan, ids: list[int]) -> dict:
    from django.contrib.auth import get_user_model

    from bench.trust_data import WRITER
    from permissions.context import actor_context

    rounds = 40 if plan.datasets >= 5_000 else 10
    reads = ab_reads(databases, reader_client, scenarios, rounds)
    databases["rules"].activate()
    writer = get_user_model().objects.get(username=WRITER)
    with actor_context(writer, reason="Benchmark A/B writes"):
        writes = ab_writes(databases["rules"], ids, total=1_000 if plan.datasets >= 5_000 else 200, batch=50)
    return {"reads": reads, "writes": writes}

