"""A/B runs behind the trust benchmark's proposals: the application code patched in this process only.

``BENCH_AB=1`` makes ``bench.trust_bench`` call ``run`` after its own measurements, on the same two
databases and with the same reader and writer. Nothing here changes a file of the application.

Reads (each variant checked to give exactly the same JSON as the unpatched code, then timed in
interleaved rounds against the database without rules):

* ``literal``: ``visible_condition`` fetches the rules that apply to the user once per request
  (one statement, the same ``rules_applying_to`` query) and compiles them into literal conditions:
  ``pk IN (ids)``, ``classification IN (levels)``, ``pk IN (SELECT … FROM <tags> WHERE tag_id IN
  (ids))``, containers through their foreign key (``dataset_id IN (ids)``, ``dataset__classification
  IN (…)``); ``Q()`` when no rule applies. (Proposal: compile applicable rules to literals.)
* ``no-read-audit``: the list and detail skip ``_audit_restricted_reads_by_id`` (the check of the
  shown rows against every active rule, and the chained READ_RESTRICTED append). It shows what
  that costs; the proposal is to make it cheap, not to drop it.
* ``literal+no-read-audit``;
* ``cached``: ``literal``, but the user's compiled rules and the summary of all active rules are kept
  across requests (in this process), as a cache invalidated whenever a rule, an exception, a group or
  a membership changes would keep them: no rule look-up at all per request (the restricted-read check
  still runs, over the cached rule set); and ``cached+no-read-audit``.

Writes (single writer, the ORM path of the benchmark, interleaved batches): the chain as the
application appends it, and no chain. (The former ``append-lean`` variant, head read and insert as two
plain SQL statements, is gone: the application's append is now one statement.)
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial

from bench.support import StatementCounter, say

# --------------------------------------------------------------------------------------------------------------
# Reads


_ACROSS_REQUESTS: dict = {}


def literal_visible_condition(model, user, across_requests: bool = False):
    """visible_condition with the user's applicable rules fetched once and compiled into literals
    (once per request; with ``across_requests``, once per process, as a cache invalidated when rules,
    exceptions, groups or memberships change would give)."""
    from django.db.models import Q

    from permissions import access

    if not hasattr(model, "access") or user.is_superuser:
        return Q()
    if access._all_active_rules().empty:
        return Q()

    def load() -> dict:
        rows = list(access.rules_applying_to(user).values_list(
            "target_kind", "target_type_id", "target_id", "classification_rank", "target_tag_id"))
        objects: dict[int, set[int]] = {}
        ranks, tags = [], set()
        for kind, type_id, target_id, rank, tag_id in rows:
            if kind == "object":
                objects.setdefault(type_id, set()).add(target_id)
            elif kind == "classification":
                ranks.append(rank)
            elif kind == "tag":
                tags.add(tag_id)
        from django.conf import settings

        levels = list(settings.ACCORD_CLASSIFICATION_LEVELS)
        return {"empty": not rows, "objects": objects, "levels": levels[min(ranks):] if ranks else [],
                "tags": sorted(tags)}

    if across_requests:
        rules = _ACROSS_REQUESTS.get(user.pk) or _ACROSS_REQUESTS.setdefault(user.pk, load())
    else:
        rules = access.request_scoped(user, "_bench_literal_rules", load)
    if rules["empty"]:
        return Q()
    parts = _literal_parts(model, rules, "")
    return ~Q(*parts, _connector=Q.OR) if parts else Q()


def _literal_parts(model, rules: dict, prefix: str) -> list:
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    from permissions.access import spec_for

    spec = spec_for(model)
    parts = []
    if spec.targetable:
        ids = rules["objects"].get(ContentType.objects.get_for_model(model).pk)
        if ids:
            parts.append(Q(**{f"{prefix}pk__in": sorted(ids)}))
    if spec.classification and rules["levels"]:
        parts.append(Q(**{f"{prefix}{spec.classification}__in": rules["levels"]}))
    if spec.tags and rules["tags"]:
        tag_field = model._meta.get_field(spec.tags)
        tagged = tag_field.remote_field.through.objects.filter(
            **{f"{tag_field.m2m_reverse_field_name()}__in": rules["tags"]}).values(tag_field.m2m_field_name())
        parts.append(Q(**{f"{prefix}pk__in": tagged}))
    for name in spec.containers:
        parts.extend(_literal_parts(model._meta.get_field(name).related_model, rules, f"{prefix}{name}__"))
    return parts


_ALL_RULES_CACHE: list = []


def cached_all_active_rules():
    """The summary of all active rules, built once per process instead of once per request."""
    from permissions import access

    if not _ALL_RULES_CACHE:
        _ALL_RULES_CACHE.append(access._RuleSet(access.active_rules()))
    return _ALL_RULES_CACHE[0]


@contextmanager
def read_variant(name: str):
    from permissions import access, visibility
    from permissions.api.viewsets import AccordModelViewSet

    original_condition = visibility.visible_condition
    original_audit = AccordModelViewSet._audit_restricted_reads_by_id
    original_all = access._all_active_rules
    if name in ("literal", "literal+no-read-audit"):
        visibility.visible_condition = literal_visible_condition
    if name in ("cached", "cached+no-read-audit"):
        visibility.visible_condition = partial(literal_visible_condition, across_requests=True)
        access._all_active_rules = cached_all_active_rules
    if name.endswith("no-read-audit"):
        AccordModelViewSet._audit_restricted_reads_by_id = lambda self, ids: None
    try:
        yield
    finally:
        visibility.visible_condition = original_condition
        AccordModelViewSet._audit_restricted_reads_by_id = original_audit
        access._all_active_rules = original_all


READ_VARIANTS = ("as-is", "literal", "no-read-audit", "literal+no-read-audit", "cached", "cached+no-read-audit")


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

