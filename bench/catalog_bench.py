"""Catalog API benchmark: dataset list, dataset detail and search, each against its raw-SQL floor, at two sizes.

Run it through ``make bench`` (``scripts/bench.sh``), which starts a throwaway
PostgreSQL, migrates it and calls ``python -m bench.catalog_bench``. It:

1. fills the migrated, empty database with a catalog of 500 datasets / ~10,000
   fields (``bench.data``) and VACUUM ANALYZEs it;
2. copies that database (``CREATE DATABASE … TEMPLATE``) and grows the copy to
   50,000 datasets / ~1,000,000 fields, VACUUM ANALYZE;
3. for every scenario, checks that the endpoint and its floor give the same JSON on
   both catalogs, then times four runners in interleaved rounds: the endpoint and
   the floor on the small catalog and on the large one.

The endpoint goes through Django's test client (middleware, session authentication,
DRF, rendering); the floor (``bench.floor``) issues the same statements on a raw
psycopg connection (written by hand for the datasets; the search's own statement,
built once by ``catalog.search``) and encodes the answer with ``json.dumps``. Both catalogs stay
connected (one Django connection and one raw connection each), so a round can switch
catalog without reconnecting, and both ratios (endpoint/floor, and large/small) come
from measurements taken side by side: noise on this shared machine hits both alike.

Environment: ``BENCH_SCALE=small`` for a quick run (100 → 5,000 datasets, fewer rounds);
``BENCH_PROFILE=1`` to also write cProfile reports of each endpoint and
EXPLAIN ANALYZE of the floor's statements on the large catalog to ``bench/results/``;
``BENCH_STRICT=1`` to exit 1 when a target is missed.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial

import django

from bench.support import RESULTS_DIR, StatementCounter, finish

HOST = "localhost"
LIST_PAGE_SIZE = 100
SEARCH_LIMIT = 20
DETAIL_DATASET_ID = 50  # every tenth dataset has exactly 50 fields; this one is in both catalogs
TARGET_VS_FLOOR = {"list": 4.0, "detail": 4.0, "search": 2.0}
# Growth from 10,000 to 1,000,000 fields.
TARGET_GROWTH = {"list": 1.3, "detail": 1.3, "search": 2.0}


@dataclass(frozen=True)
class Plan:
    small_datasets: int
    large_datasets: int
    max_rounds: dict[str, int]  # timed rounds per scenario (each round runs the four runners once)…
    budget_seconds: float  # …unless that would take longer than this: then as many rounds as fit,
    min_rounds: int  # but never fewer than this.
    breakdown_rounds: int = 3  # untimed rounds counting statements and their execute time


PLANS = {
    "full": Plan(small_datasets=500, large_datasets=50_000, budget_seconds=60, min_rounds=7,
                 max_rounds={"list": 200, "detail": 200, "search": 150, "search-broad": 60}),
    "small": Plan(small_datasets=100, large_datasets=5_000, budget_seconds=8, min_rounds=5,
                  max_rounds={"list": 40, "detail": 40, "search": 40, "search-broad": 20}),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # list | detail | search: which target applies
    url: str
    floor: Callable[[object], bytes]  # takes a raw psycopg connection
    rounds_key: str
    note: str = ""


@dataclass
class Catalog:
    label: str
    database: str
    datasets: int
    fields: int
    build_seconds: float
    django_connection: object = field(repr=False, default=None)  # a DatabaseWrapper for this database
    raw: object = field(repr=False, default=None)  # a psycopg connection to this database

    def activate(self) -> None:
        """Make this catalog's connection Django's default one (no reconnect: both stay open)."""
        from django.db import connections

        connections["default"] = self.django_connection

    def summary(self) -> dict:
        return {"label": self.label, "database": self.database, "datasets": self.datasets, "fields": self.fields,
                "build_seconds": round(self.build_seconds, 1)}


@dataclass
class Measurement:
    endpoint: dict
    floor: dict
    ratio: float
    target: float
    passed: bool
    endpoint_queries: int
    floor_queries: int
    endpoint_sql_ms: float
    floor_sql_ms: float
    response_bytes: int


@dataclass
class Growth:
    endpoint: float
    floor: float
    target: float
    passed: bool


def scenarios(reader) -> list[Scenario]:
    """The scenarios; a search's floor runs the product's statement for ``reader``, built here."""
    from bench import floor
    from bench.data import SEARCH_TERMS

    result = [
        Scenario("list", "list", f"/api/v1/datasets/?page_size={LIST_PAGE_SIZE}",
                 partial(floor.dataset_list, page_size=LIST_PAGE_SIZE, base_url=f"http://{HOST}/api/v1/datasets/"),
                 "list", f"first page of {LIST_PAGE_SIZE}, brief system, owner department and steward"),
        Scenario("detail", "detail", f"/api/v1/datasets/{DETAIL_DATASET_ID}/",
                 partial(floor.dataset_detail, dataset_id=DETAIL_DATASET_ID), "detail",
                 "a dataset with its 50 fields"),
    ]
    for term in SEARCH_TERMS:
        result.append(Scenario(
            f"search:{term.label}", "search", f"/api/v1/search/?q={term.text}&limit={SEARCH_LIMIT}",
            partial(floor.search, statement=floor.search_statement(reader, term.text, SEARCH_LIMIT), text=term.text,
                    limit=SEARCH_LIMIT),
            "search-broad" if term.label == "broad" else "search", f"q={term.text}: {term.note}",
        ))
    return result


def _counting_cursor_factory(counter: StatementCounter):
    import psycopg

    class CountingCursor(psycopg.ClientCursor):
        def execute(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super().execute(*args, **kwargs)
            finally:
                counter.seconds += time.perf_counter() - start
                counter.statements += 1

    return CountingCursor


def _endpoint_call(client, url: str) -> Callable[[], bytes]:
    def call() -> bytes:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:500]!r}")
        return response.content

    return call


def _check_same_answer(scenario: Scenario, catalog: Catalog, client) -> int:
    catalog.activate()
    endpoint_body = _endpoint_call(client, scenario.url)()
    floor_body = scenario.floor(catalog.raw)
    decoded = json.loads(endpoint_body)
    if scenario.kind == "detail" and len(decoded["fields"]) != 50:
        raise RuntimeError(f"Dataset {DETAIL_DATASET_ID} should have 50 fields, not {len(decoded['fields'])}.")
    if decoded != json.loads(floor_body):
        slug = f"{scenario.name.replace(':', '-')}-{catalog.database}"
        (RESULTS_DIR / f"mismatch-{slug}-endpoint.json").write_bytes(endpoint_body)
        (RESULTS_DIR / f"mismatch-{slug}-floor.json").write_bytes(floor_body)
        raise RuntimeError(f"{scenario.name} on {catalog.label}: the floor's answer differs from the endpoint's "
                           f"(both written to {RESULTS_DIR}).")
    return len(endpoint_body)


def measure(scenario: Scenario, catalogs: list[Catalog], client, plan: Plan) -> tuple[dict[str, Measurement], Growth]:
    from bench.timing import Runner, interleaved

    sizes = {catalog.label: _check_same_answer(scenario, catalog, client) for catalog in catalogs}
    call = _endpoint_call(client, scenario.url)

    def runners() -> dict[str, Runner]:
        result = {}
        for catalog in catalogs:
            result[f"endpoint {catalog.label}"] = Runner(call, prepare=catalog.activate, group=catalog.label)
            result[f"floor {catalog.label}"] = Runner(partial(scenario.floor, catalog.raw), group=catalog.label)
        return result

    # One untimed warm-up round tells how long a round takes, hence how many fit in the budget.
    warmup_started = time.perf_counter()
    interleaved(runners(), iterations=1, warmup=0)
    round_seconds = time.perf_counter() - warmup_started
    rounds = max(plan.min_rounds, min(plan.max_rounds[scenario.rounds_key],
                                      int(plan.budget_seconds / max(round_seconds, 1e-6))))
    breakdown_runs = plan.breakdown_rounds

    # Where the time goes: statements and their execute time, in a separate short pass.
    counters: dict[str, StatementCounter] = {}
    with ExitStack() as stack:
        for catalog in catalogs:
            counters[f"endpoint {catalog.label}"] = endpoint_counter = StatementCounter()
            counters[f"floor {catalog.label}"] = floor_counter = StatementCounter()
            stack.enter_context(catalog.django_connection.execute_wrapper(endpoint_counter))
            stack.callback(setattr, catalog.raw, "cursor_factory", catalog.raw.cursor_factory)
            catalog.raw.cursor_factory = _counting_cursor_factory(floor_counter)
        interleaved(runners(), iterations=breakdown_runs, warmup=0)

    stats = interleaved(runners(), iterations=rounds, warmup=min(5, rounds // 10))

    target = TARGET_VS_FLOOR[scenario.kind]
    measurements = {}
    for catalog in catalogs:
        endpoint, floor = stats[f"endpoint {catalog.label}"], stats[f"floor {catalog.label}"]
        ratio = endpoint.median_ms / floor.median_ms
        endpoint_counter, floor_counter = counters[f"endpoint {catalog.label}"], counters[f"floor {catalog.label}"]
        measurements[catalog.label] = Measurement(
            endpoint=asdict(endpoint), floor=asdict(floor), ratio=ratio, target=target, passed=ratio <= target,
            endpoint_queries=round(endpoint_counter.statements / breakdown_runs),
            floor_queries=round(floor_counter.statements / breakdown_runs),
            endpoint_sql_ms=endpoint_counter.seconds * 1000 / breakdown_runs,
            floor_sql_ms=floor_counter.seconds * 1000 / breakdown_runs,
            response_bytes=sizes[catalog.label],
        )
    small, large = catalogs[0].label, catalogs[-1].label
    endpoint_growth = stats[f"endpoint {large}"].median_ms / stats[f"endpoint {small}"].median_ms
    floor_growth = stats[f"floor {large}"].median_ms / stats[f"floor {small}"].median_ms
    growth_target = TARGET_GROWTH[scenario.kind]
    return measurements, Growth(endpoint=endpoint_growth, floor=floor_growth, target=growth_target,
                                passed=endpoint_growth <= growth_target)


def build(raw_connection, first: int, last: int) -> tuple[float, dict]:
    from bench import data

    start = time.perf_counter()
    with raw_connection.cursor() as cursor:
        data.add_datasets(cursor, first, last)
        cursor.execute("VACUUM ANALYZE")
        counts = data.counts(cursor)
    expected = data.expected_field_count(1, last)
    if counts["catalog_dataset"] != last or counts["catalog_field"] != expected:
        raise RuntimeError(f"Generated {counts}, expected {last} datasets and {expected} fields.")
    return time.perf_counter() - start, counts


def profile(to_profile: list[Scenario], client, catalog: Catalog) -> None:
    """cProfile of each endpoint (20 requests) and EXPLAIN ANALYZE of each floor statement, on one catalog."""
    import psycopg

    catalog.activate()
    for scenario in to_profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            client.get(scenario.url)
        profiler.disable()
        slug = scenario.name.replace(":", "-")
        with open(RESULTS_DIR / f"profile-{catalog.database}-{slug}.txt", "w") as out:
            for order in ("tottime", "cumulative"):
                out.write(f"== {scenario.url} x20 on {catalog.label}, sorted by {order}\n")
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)

    with open(RESULTS_DIR / f"explain-{catalog.database}.txt", "w") as out:

        class ExplainingCursor(psycopg.ClientCursor):
            def execute(self, query, params=None, **kwargs):
                super().execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params, **kwargs)
                plan = "\n".join(row[0] for row in super().fetchall())
                out.write(f"-- {' '.join(str(query).split())[:300]}\n{plan}\n\n")
                return super().execute(query, params, **kwargs)

        plain_factory = catalog.raw.cursor_factory
        catalog.raw.cursor_factory = ExplainingCursor
        try:
            for scenario in to_profile:
                out.write(f"==== {scenario.name} on {catalog.label}\n")
                scenario.floor(catalog.raw)
        finally:
            catalog.raw.cursor_factory = plain_factory


def summary(catalogs: list[Catalog], results: dict[str, tuple[dict[str, Measurement], Growth]]) -> tuple[str, bool]:
    lines = [
        "| benchmark | catalog | endpoint median (p90) ms | floor median (p90) ms | endpoint/floor | target | "
        "queries endpoint/floor | SQL execute ms endpoint/floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    all_passed = True
    for name, (measurements, _) in results.items():
        for catalog in catalogs:
            m = measurements[catalog.label]
            all_passed &= m.passed
            lines.append(
                f"| {name} | {catalog.label} | {m.endpoint['median_ms']:.2f} ({m.endpoint['p90_ms']:.2f}) | "
                f"{m.floor['median_ms']:.2f} ({m.floor['p90_ms']:.2f}) | {m.ratio:.2f}× | "
                f"≤ {m.target:g}× {'pass' if m.passed else 'FAIL'} | {m.endpoint_queries}/{m.floor_queries} | "
                f"{m.endpoint_sql_ms:.2f}/{m.floor_sql_ms:.2f} |"
            )
    small, large = catalogs[0].label, catalogs[-1].label
    lines += [
        "",
        f"| benchmark | endpoint median, {small} | endpoint median, {large} | endpoint growth | target | "
        "floor growth |",
        "|---|---|---|---|---|---|",
    ]
    for name, (measurements, growth) in results.items():
        all_passed &= growth.passed
        lines.append(
            f"| {name} | {measurements[small].endpoint['median_ms']:.2f} ms | "
            f"{measurements[large].endpoint['median_ms']:.2f} ms | {growth.endpoint:.2f}× | "
            f"≤ {growth.target:g}× {'pass' if growth.passed else 'FAIL'} | {growth.floor:.2f}× |"
        )
    return "\n".join(lines), all_passed


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.db.utils import load_backend
    from django.test import Client

    from bench import data

    scale = os.environ.get("BENCH_SCALE", "full")
    if scale not in PLANS:
        print(f"BENCH_SCALE must be one of {', '.join(PLANS)}; got {scale!r}.", file=sys.stderr)
        return 2
    plan = PLANS[scale]
    if connection.vendor != "postgresql" or "DATABASE_URL" not in os.environ:
        print("The benchmark needs PostgreSQL: run it with `make bench` (scripts/bench.sh starts one).",
              file=sys.stderr)
        return 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_dataset")
        if cursor.fetchone()[0]:
            print("The benchmark fills an empty database and this one already has datasets; "
                  "run it with `make bench`, which starts a throwaway PostgreSQL.", file=sys.stderr)
            return 2
        cursor.execute("SELECT version()")
        postgres_version = cursor.fetchone()[0]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    url = os.environ["DATABASE_URL"]
    settings_dict = connections.settings["default"]
    small_db, large_db = settings_dict["NAME"], f"{settings_dict['NAME']}_large"

    def raw_connection(database: str):
        # Autocommit like Django. No automatic prepared statements, because Django does not use them:
        # both sides pay the same parse and plan cost, and the ratio shows the application's own overhead.
        # Parameters merged client-side, as Django's psycopg cursors do, so the search's floor sends the
        # server the same statement text as the endpoint.
        conn = psycopg.connect(url, dbname=database, autocommit=True, prepare_threshold=None,
                               cursor_factory=psycopg.ClientCursor)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    # The small catalog, with the reader and their session, in the migrated database.
    raw = raw_connection(small_db)
    with raw.cursor() as cursor:
        data.create_reference_data(cursor)
    small_seconds, small_counts = build(raw, 1, plan.small_datasets)
    user = get_user_model().objects.create_user(username="bench-reader")
    client = Client(SERVER_NAME=HOST)
    client.force_login(user)
    print(f"== small catalog: {small_counts['catalog_dataset']:,} datasets, {small_counts['catalog_field']:,} fields "
          f"({small_seconds:.0f} s)", flush=True)

    # The large catalog: a copy of the small one, grown.
    raw.close()
    connection.close()
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{large_db}" TEMPLATE "{small_db}"')
    raw_large = raw_connection(large_db)
    large_seconds, large_counts = build(raw_large, plan.small_datasets + 1, plan.large_datasets)
    print(f"== large catalog: {large_counts['catalog_dataset']:,} datasets, {large_counts['catalog_field']:,} fields "
          f"({large_seconds:.0f} s)", flush=True)

    backend = load_backend(settings_dict["ENGINE"])
    catalogs = [
        Catalog(f"{small_counts['catalog_field']:,} fields", small_db, small_counts["catalog_dataset"],
                small_counts["catalog_field"], small_seconds, connections["default"], raw_connection(small_db)),
        Catalog(f"{large_counts['catalog_field']:,} fields", large_db, large_counts["catalog_dataset"],
                large_counts["catalog_field"], large_seconds,
                backend.DatabaseWrapper({**settings_dict, "NAME": large_db}, "default"), raw_large),
    ]

    results: dict[str, tuple[dict[str, Measurement], Growth]] = {}
    catalogs[0].activate()
    to_measure = scenarios(user)
    for scenario in to_measure:
        measurements, growth = measure(scenario, catalogs, client, plan)
        results[scenario.name] = (measurements, growth)
        line = "   ".join(
            f"{catalog.label}: {measurements[catalog.label].endpoint['median_ms']:7.2f} ms vs floor "
            f"{measurements[catalog.label].floor['median_ms']:7.2f} ms ({measurements[catalog.label].ratio:.2f}×)"
            for catalog in catalogs
        )
        print(f"   {scenario.name:17} {line}   growth {growth.endpoint:.2f}×", flush=True)
    if os.environ.get("BENCH_PROFILE") == "1":
        profile(to_measure, client, catalogs[-1])
    catalogs[0].activate()
    for catalog in catalogs:
        catalog.raw.close()
        catalog.django_connection.close()

    table, all_passed = summary(catalogs, results)
    report = {
        "scale": scale,
        "seconds": round(time.perf_counter() - started, 1),
        "postgresql": postgres_version,
        "django": django.get_version(),
        "plan": asdict(plan),
        "targets": {"vs_floor": TARGET_VS_FLOOR, "growth": TARGET_GROWTH},
        "catalogs": [catalog.summary() for catalog in catalogs],
        "scenarios": {
            scenario.name: {"url": scenario.url, "note": scenario.note,
                            "catalogs": {label: asdict(m) for label, m in results[scenario.name][0].items()},
                            "growth": asdict(results[scenario.name][1])}
            for scenario in to_measure
        },
        "all_targets_met": all_passed,
    }
    return finish("catalog", report, table, all_passed)


if __name__ == "__main__":
    sys.exit(main())
