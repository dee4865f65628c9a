"""Compliance benchmark: one contract's data checks on a 1,000,000-row table against one hand-written SQL
statement, and 1,000 contracts checked end to end by real Celery workers (one, then two).

Run it through ``make bench`` (``scripts/bench.sh``), which starts a throwaway PostgreSQL, migrates it,
keeps a copy of the empty migrated database as a template, and calls ``python -m bench.compliance_bench``.

**Data checks against the floor.** A warehouse database of its own holds ``staging.stg_leads``
(1,000,000 rows with planted violations, ``bench.compliance_data``), read through a login role that
may only SELECT. The checks are the demo's lead hand-off rules (not_null, unique, accepted_values,
range, pattern, row_count, freshness) run the way a compliance run runs them:
``governance.checks.data.open_source`` (connect, read-only session, statement timeout) then
``run_data_checks`` (the ``LIMIT 0`` probe and the one aggregated SELECT, each in its own read-only
transaction). The floor is one hand-written SELECT computing the same numbers (``FLOOR_SQL``) on a
plain psycopg connection that is already open. Before timing, the benchmark checks that both give
the same numbers. Then the two take turns in interleaved rounds; the ratio is checks median ÷ floor
median (target ≤ 1.2×). Connecting (``open_source`` alone) is timed separately.

**End to end.** 1,000 active contracts (``bench.compliance_data``: the first made through the
services, the others bulk copies with valid hashes and signatures), each over one of 100 tables of
1,000 rows (every tenth table fails a check). A real Redis (``/usr/bin/redis-server`` on a free
port, data in a temporary folder) and real Celery workers (``celery -A config worker
--concurrency=1``, one process each, environment: the application database, the Redis broker, the
warehouse DSN). The benchmark enqueues ``governance.tasks.run_scheduled_contract_checks`` for every
contract (what beat does on a schedule tick: the worker creates the run, runs the metadata and data
checks, records results, the contract's status and, for failing ones, incidents) and measures the
wall time from the first enqueue to the last run's ``finished_at``, with one worker, then (fresh
runs, a new tick) with two. A first, untimed tick of the failing contracts opens their incidents, so
both timed passes do the same work. The passes alternate one, two, two, one worker (the second
worker stops and resumes consuming through Celery's remote control), and the figures per worker
count add up both of its passes. A sampler reads ``pg_stat_activity`` ten times a second to see how
often a backend waits for the lock on the audit chain's head row. Before the workers start, 100 runs of the
same task in this process (``apply``), in alternating batches with and without the audit chain's
receivers, give the statements and time of one run. Every process started is stopped at the end.

Environment: ``BENCH_SCALE=small`` for a quick run (200,000 rows, 200 contracts); ``BENCH_PROFILE=1``
to also write EXPLAIN ANALYZE of the checks' aggregate and of the floor; ``BENCH_STRICT=1`` to exit 1
when the floor target is missed; ``BENCH_KEEP=1`` to keep the databases afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.support import (
    RESULTS_DIR,
    BenchSetupError,
    Summary,
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

APP_DB, WAREHOUSE_DB = "accord_compliance", "accord_warehouse"
CHECKER_ROLE = "bench_checker"
TARGET_FLOOR = 1.2
PASS_ORDER = (1, 2, 2, 1)  # workers per timed pass: ABBA, so a slow drift of the machine hits both alike
ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = os.environ.get("BENCH_REDIS_SERVER", "/usr/bin/redis-server")


@dataclass(frozen=True)
class Plan:
    big_rows: int
    budget_seconds: float  # timed rounds of checks + floor: as many as fit in this…
    min_rounds: int
    max_rounds: int
    contracts: int
    pass_timeout_seconds: float


PLANS = {
    "full": Plan(big_rows=1_000_000, budget_seconds=75, min_rounds=7, max_rounds=40, contracts=1_000,
                 pass_timeout_seconds=1200),
    "small": Plan(big_rows=200_000, budget_seconds=10, min_rounds=5, max_rounds=15, contracts=200,
                  pass_timeout_seconds=600),
}

# The same numbers as the checks, by hand: one scan, FILTER clauses, the pattern as PostgreSQL spells it.
FLOOR_SQL = """
SELECT count(*),
       count(*) - count(lead_id),
       count(lead_id) - count(DISTINCT lead_id),
       count(*) FILTER (WHERE lead_status NOT IN ('raw', 'engaged', 'mql', 'sql', 'customer', 'disqualified')),
       count(*) FILTER (WHERE lead_score < 0 OR lead_score > 100),
       count(*) FILTER (WHERE email !~ '^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$'),
       max(updated_at)
FROM staging.stg_leads
"""


def checker_dsn() -> str:
    """The warehouse as the read-only checker role sees it (the throwaway cluster trusts local logins)."""
    parts = urlsplit(database_url(WAREHOUSE_DB))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{CHECKER_ROLE}@{host}", parts.path, parts.query, parts.fragment))


def build_warehouse(plan: Plan) -> dict:
    from bench import compliance_data

    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{WAREHOUSE_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{WAREHOUSE_DB}"')
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [CHECKER_ROLE]).fetchone():
            admin.execute(f"CREATE ROLE {CHECKER_ROLE} LOGIN")
    started = time.perf_counter()
    with raw_connection(WAREHOUSE_DB) as raw, raw.cursor() as cursor:
        compliance_data.create_big_table(cursor, plan.big_rows)
        big_seconds = time.perf_counter() - started
        compliance_data.create_small_tables(cursor)
        for schema in ("staging", "e2e"):
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {CHECKER_ROLE}")
            cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {CHECKER_ROLE}")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('staging.stg_leads'))")
        size = cursor.fetchone()[0]
    return {"big_table_rows": plan.big_rows, "big_table_size": size, "big_table_seconds": round(big_seconds, 1),
            "small_tables": compliance_data.SMALL_TABLES, "small_table_rows": compliance_data.SMALL_ROWS,
            "seconds": round(time.perf_counter() - started, 1)}


# --------------------------------------------------------------------------------------------------------------
# Data checks against the floor


def _checks(rules, columns):
    from django.conf import settings

    from bench.compliance_data import BIG_TABLE
    from governance.checks import data as data_checks

    dsn = checker_dsn()

    def run():
        now = dt.datetime.now(dt.UTC)
        with data_checks.open_source(dsn, statement_timeout_ms=settings.ACCORD_CHECK_STATEMENT_TIMEOUT_MS) as source:
            return data_checks.run_data_checks(source, table=BIG_TABLE, columns=columns, rules=rules, now=now)

    return run


def _floor(connection):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL)
            return cursor.fetchone()

    return run


def _same_numbers(results, row) -> dict:
    """The checks' numbers against the floor's; raises if any differs."""
    by_rule = {(r.rule, r.field): r for r in results}
    if any(r.status == "error" for r in results):
        raise RuntimeError(f"A check errored: {[r.message for r in results if r.status == 'error']}")
    rows, nulls, duplicates, statuses, scores, emails, newest = row
    pairs = {
        "row_count": (by_rule["row_count", None].observed, rows),
        "not_null lead_id": (by_rule["not_null", "lead_id"].violations, nulls),
        "unique lead_id": (by_rule["unique", "lead_id"].violations, duplicates),
        "accepted_values lead_status": (by_rule["accepted_values", "lead_status"].violations, statuses),
        "range lead_score": (by_rule["range", "lead_score"].violations, scores),
        "pattern email": (by_rule["pattern", "email"].violations, emails),
    }
    for name, (checks, floor) in pairs.items():
        if checks != floor:
            raise RuntimeError(f"{name}: the checks count {checks}, the floor {floor}")
    age = round((dt.datetime.now(dt.UTC) - newest.replace(tzinfo=dt.UTC)).total_seconds() / 3600, 2)
    freshness = by_rule["freshness", "updated_at"].observed
    if abs(freshness - age) > 0.05:
        raise RuntimeError(f"freshness: the checks say {freshness} h, the floor {age} h")
    return {name: checks for name, (checks, _) in pairs.items()} | {"freshness_hours": freshness}


def measure_floor(plan: Plan) -> dict:
    from bench.compliance_data import FIELDS, handoff_rules
    from bench.timing import Runner, interleaved
    from governance.checks import data as data_checks

    rules, columns = handoff_rules(), dict(FIELDS)
    checks = _checks(rules, columns)
    import psycopg

    connection = psycopg.connect(checker_dsn(), autocommit=True, prepare_threshold=None)
    connection.execute("SET TIME ZONE 'UTC'")
    floor = _floor(connection)
    numbers = _same_numbers(checks(), floor())

    # What the checks send: capture the statements of one run.
    statements: list[str] = []
    original = data_checks._execute

    def capture(source, sql, params):
        statements.append(" ".join(sql.split()))
        return original(source, sql, params)

    data_checks._execute = capture
    try:
        checks()
    finally:
        data_checks._execute = original

    runners = {"checks": Runner(checks), "floor": Runner(floor)}
    started = time.perf_counter()
    interleaved(runners, iterations=1, warmup=0)
    round_seconds = time.perf_counter() - started
    rounds = max(plan.min_rounds, min(plan.max_rounds, int(plan.budget_seconds / max(round_seconds, 1e-6))))
    stats = interleaved(runners, iterations=rounds, warmup=1)

    opens = []
    for _ in range(20):
        start = time.perf_counter()
        with data_checks.open_source(checker_dsn(), statement_timeout_ms=60_000):
            pass
        opens.append((time.perf_counter() - start) * 1000)

    if os.environ.get("BENCH_PROFILE") == "1":
        with open(RESULTS_DIR / "explain-compliance.txt", "w") as out:
            for label, sql in (("checks' aggregate", statements[-1]), ("floor", FLOOR_SQL)):
                rows = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}",
                                          _params_of(sql, rules, columns) if label != "floor" else None).fetchall()
                out.write(f"== {label}\n{sql}\n" + "\n".join(row[0] for row in rows) + "\n\n")
    connection.close()
    ratio = stats["checks"].median_ms / stats["floor"].median_ms
    return {"rows": plan.big_rows, "rules": [f"{r.rule} {r.field or ''}".strip() for r in rules], "numbers": numbers,
            "rounds": rounds, "checks": asdict(stats["checks"]), "floor": asdict(stats["floor"]), "ratio": ratio,
            "target": TARGET_FLOOR, "passed": ratio <= TARGET_FLOOR, "open_source_ms": asdict(Summary.of(opens)),
            "checks_statements": statements, "floor_sql": " ".join(FLOOR_SQL.split())}


def _params_of(sql: str, rules, columns) -> list:
    """The parameters of the checks' aggregate (re-planned by hand for EXPLAIN)."""
    from bench.compliance_data import BIG_TABLE
    from governance.checks import data as data_checks

    captured: list = []
    original = data_checks._execute

    def capture(source, statement, params):
        if " ".join(statement.split()) == sql:
            captured.extend(params or [])
        return original(source, statement, params)

    data_checks._execute = capture
    try:
        with data_checks.open_source(checker_dsn()) as source:
            data_checks.run_data_checks(source, table=BIG_TABLE, columns=columns, rules=rules)
    finally:
        data_checks._execute = original
    return captured


# --------------------------------------------------------------------------------------------------------------
# End to end: Redis and Celery workers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Every process the benchmark starts (each in its own process group), stopped by id at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                   start_new_session=True)
        self.started.append((name, process))
        return process

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.folder / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for _name, process in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)


def start_redis(processes: Processes) -> str:
    if not os.access(REDIS_SERVER, os.X_OK):
        raise BenchSetupError(f"{REDIS_SERVER} not found: the end-to-end benchmark needs a Redis server")
    port = free_port()
    folder = processes.folder / "redis"
    folder.mkdir()
    processes.start("redis", [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                              "--save", "", "--appendonly", "no", "--protected-mode", "yes"], os.environ.copy())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("Redis did not start:\n" + processes.log_tail("redis"))


def worker_env(broker: str) -> dict:
    from bench.compliance_data import SOURCE_ENV

    env = os.environ.copy()
    env.update({"DATABASE_URL": database_url(APP_DB), "CELERY_BROKER_URL": broker,
                "DJANGO_SETTINGS_MODULE": "config.settings", SOURCE_ENV: checker_dsn(),
                "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"),
                "DEBUG": "false", "LOG_LEVEL": "WARNING", "CELERY_TASK_ALWAYS_EAGER": "false"})
    return env


def start_worker(processes: Processes, name: str, env: dict) -> None:
    celery = str(Path(sys.executable).with_name("celery"))
    processes.start(name, [celery, "-A", "config", "worker", "--concurrency=1", "--pool=prefork", "-n",
                           f"{name}@bench", "--without-gossip", "--without-mingle", "--loglevel=INFO"], env)


def wait_for_workers(names: list[str], processes: Processes, timeout: float = 90) -> None:
    from config.celery import app

    wanted = {f"{name}@bench" for name in names}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        answered = {node for reply in replies for node in reply}
        if wanted <= answered:
            return
        for name in names:
            for started_name, process in processes.started:
                if started_name == name and process.poll() is not None:
                    raise RuntimeError(f"Worker {name} exited:\n" + processes.log_tail(name))
    raise RuntimeError(f"Workers {sorted(wanted)} did not answer within {timeout:.0f} s:\n"
                       + "\n".join(processes.log_tail(name) for name in names))


class LockSampler:
    """Samples pg_stat_activity of the application database ten times a second (own connection, own thread):
    how often a backend is running a statement, and how often one waits for the audit chain's head row (a
    lock wait in the append statement of ``permissions.audit``)."""

    def __init__(self):
        import threading

        self.samples = self.active = self.waiting = self.any_waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with raw_connection("postgres") as conn:
            while not self._stop.wait(0.1):
                active, waiting = conn.execute(
                    "SELECT count(*) FILTER (WHERE state = 'active'), "
                    "count(*) FILTER (WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%%accord_audit_append%%') "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [APP_DB]).fetchone()
                self.samples += 1
                self.active += active
                self.waiting += waiting
                self.any_waiting += waiting > 0

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict:
        n = max(self.samples, 1)
        return {"samples": self.samples, "mean_active_backends": self.active / n,
                "mean_backends_waiting_for_chain_lock": self.waiting / n,
                "share_of_samples_with_a_chain_lock_wait": self.any_waiting / n}


def task_seconds(processes: Processes, names: list[str], offsets: dict[str, int]) -> list[float]:
    """Task run times the workers logged ("succeeded in 0.05s") after the given log offsets."""
    import re

    found = []
    for name in names:
        path = processes.folder / f"{name}.log"
        with open(path, errors="replace") as log:
            log.seek(offsets.get(name, 0))
            found += [float(m) for m in re.findall(r"succeeded in ([0-9.]+)s", log.read())]
    return found


def log_offsets(processes: Processes, names: list[str]) -> dict[str, int]:
    return {name: (processes.folder / f"{name}.log").stat().st_size for name in names}


def run_tick(contract_ids: list[int], tick: dt.datetime, timeout: float, processes: Processes | None = None,
             workers: tuple[str, ...] = ()) -> dict:
    """Enqueue one scheduled check per contract at ``tick``; wait until every run is completed."""
    from django.db.models import Count, Max, Min

    from governance.models import ComplianceRun
    from governance.tasks import run_scheduled_contract_checks
    from permissions.models import AuditRecord

    audit_before = AuditRecord.objects.count()
    offsets = log_offsets(processes, list(workers)) if processes else {}
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    runs = ComplianceRun.objects.filter(scheduled_for=tick)
    with LockSampler() as sampler:
        for contract_id in contract_ids:
            run_scheduled_contract_checks.delay(contract_id, tick.isoformat())
        enqueue_seconds = time.perf_counter() - started
        while True:
            done = runs.filter(status="completed").count()
            if done == len(contract_ids):
                break
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"Only {done} of {len(contract_ids)} runs completed within {timeout:.0f} s")
            time.sleep(0.25)
    span = runs.aggregate(first=Min("started_at"), last=Max("finished_at"))
    wall = (span["last"] - started_at).total_seconds()
    durations = [(finished - begun).total_seconds() * 1000
                 for begun, finished in runs.values_list("started_at", "finished_at")]
    outcomes = dict(runs.order_by().values_list("outcome").annotate(count=Count("id")))
    tasks = [s * 1000 for s in task_seconds(processes, list(workers), offsets)] if processes else []
    if processes and len(tasks) != len(contract_ids):
        time.sleep(1)  # a worker may log its last line a moment after the run committed
        tasks = [s * 1000 for s in task_seconds(processes, list(workers), offsets)]
    return {"runs": len(contract_ids), "wall_seconds": wall, "runs_per_second": len(contract_ids) / wall,
            "enqueue_seconds": enqueue_seconds, "run_ms": asdict(Summary.of(durations)), "outcomes": outcomes,
            "task_ms": asdict(Summary.of(tasks)) if tasks else None, "tasks_logged": len(tasks),
            "database": sampler.summary(), "log_offsets": offsets,
            "audit_records_per_run": (AuditRecord.objects.count() - audit_before) / len(contract_ids)}


def in_process_runs(contract_ids: list[int], tick: dt.datetime, batch: int = 10) -> dict:
    """The same task run in this process (``apply``: no broker, no worker): statements and time per run,
    with the audit chain and, in alternating batches of ``batch`` contracts, without it (the receivers of
    ``permissions.signals`` that write change records disconnected in this process, as in
    ``bench.trust_bench``)."""
    from django.db import connection

    from bench.support import StatementCounter
    from bench.trust_bench import set_audit
    from governance.tasks import run_scheduled_contract_checks

    variants = ("chain", "no chain")
    counters = {variant: StatementCounter() for variant in variants}
    durations: dict[str, list[float]] = {variant: [] for variant in variants}
    profiler = None
    if os.environ.get("BENCH_PROFILE") == "1":
        import cProfile

        profiler = cProfile.Profile()
    try:
        for number, first in enumerate(range(0, len(contract_ids), batch)):
            variant = variants[number % 2]
            set_audit(variant == "chain")
            with connection.execute_wrapper(counters[variant]):
                for contract_id in contract_ids[first:first + batch]:
                    start = time.perf_counter()
                    if profiler is not None and variant == "chain":
                        profiler.enable()
                    outcome = run_scheduled_contract_checks.apply(args=(contract_id, tick.isoformat())).get()
                    if profiler is not None:
                        profiler.disable()
                    durations[variant].append((time.perf_counter() - start) * 1000)
                    if outcome not in ("pass", "fail"):
                        raise RuntimeError(f"In-process run of contract {contract_id}: {outcome}")
    finally:
        set_audit(True)
    if profiler is not None:
        import pstats

        with open(RESULTS_DIR / "profile-compliance-run.txt", "w") as out:
            for order in ("cumulative", "tottime"):
                out.write(f"== {len(durations['chain'])} runs of run_scheduled_contract_checks in process, "
                          f"by {order}\n")
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(50)
    return {variant: {"runs": len(durations[variant]), "ms_per_run": asdict(Summary.of(durations[variant])),
                      "statements_per_run": counters[variant].statements / len(durations[variant]),
                      "sql_ms_per_run": counters[variant].seconds * 1000 / len(durations[variant])}
            for variant in variants}


def measure_end_to_end(plan: Plan, processes: Processes, broker: str) -> dict:
    from django.db.models import Q

    from bench.compliance_data import FAILING_EVERY, SMALL_TABLES, create_contracts
    from governance.models import CheckResult, DataContract

    setup = create_contracts(plan.contracts)
    say(f"== compliance: {setup['contracts']:,} active contracts ({setup['seconds']:.0f} s; the first through the "
        f"services in {setup['service_seconds']:.1f} s)")
    ids = sorted(DataContract.objects.values_list("pk", flat=True))
    if len(ids) != plan.contracts:
        raise RuntimeError(f"{len(ids)} contracts, expected {plan.contracts}")
    failing = [cid for k, cid in enumerate(ids) if (k % SMALL_TABLES) % FAILING_EVERY == 0]
    env = worker_env(broker)
    base = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=1)

    passing = [cid for cid in ids if cid not in set(failing)]
    in_process = in_process_runs(passing[:100], base - dt.timedelta(minutes=1))
    say("   in process " + "; ".join(
        f"{variant}: median {m['ms_per_run']['median']:.0f} ms, {m['statements_per_run']:.0f} statements per run"
        for variant, m in in_process.items()))

    from config.celery import app

    start_worker(processes, "w1", env)
    start_worker(processes, "w2", env)
    wait_for_workers(["w1", "w2"], processes)
    # Untimed: the failing contracts' first runs open their incidents (so every timed pass does the same
    # work), and both workers have run tasks before the clock starts.
    warmup = run_tick(failing, base, plan.pass_timeout_seconds)

    def consuming(second_worker: bool) -> None:
        """Let the second worker take tasks, or not (the queue is empty whenever this is called)."""
        command = app.control.add_consumer if second_worker else app.control.cancel_consumer
        replies = command("celery", destination=["w2@bench"], reply=True, timeout=5)
        if not replies:
            raise RuntimeError("The second worker did not answer the consumer command")

    passes = []
    for number, workers in enumerate(PASS_ORDER, start=1):
        consuming(workers == 2)
        tick = base + dt.timedelta(minutes=number)
        result = run_tick(ids, tick, plan.pass_timeout_seconds, processes, ("w1", "w2"))
        offsets = result.pop("log_offsets")
        served = {name: len(task_seconds(processes, [name], offsets)) for name in ("w1", "w2")}
        if workers == 1 and served["w2"]:
            raise RuntimeError(f"Pass {number}: the second worker ran {served['w2']} tasks while it should not")
        passes.append({"workers": workers, "tick": tick, "tasks_per_worker": served, **result})
        say(f"   pass {number}: {workers} worker{'s' if workers > 1 else ' '} {result['runs']:,} runs in "
            f"{result['wall_seconds']:.1f} s = {result['runs_per_second']:.1f} runs/s (median task "
            f"{result['task_ms']['median']:.0f} ms, of which the run itself {result['run_ms']['median']:.0f} ms)")

    timed = Q(run__scheduled_for__in=[p["tick"] for p in passes])
    problems = CheckResult.objects.filter(timed).filter(Q(kind="metadata") & ~Q(status="pass")).count()
    errors = CheckResult.objects.filter(timed, status="error").count()
    if problems or errors:
        raise RuntimeError(f"{problems} metadata checks did not pass and {errors} checks errored in the timed runs")
    for item in passes:
        if item["outcomes"].get("fail", 0) != len(failing) or item["outcomes"].get("pass", 0) != len(ids) - len(
                failing):
            raise RuntimeError(f"Pass at {item['tick']}: outcomes {item['outcomes']}, expected {len(failing)} failing")
    by_workers = {}
    for workers in (1, 2):
        chosen = [p for p in passes if p["workers"] == workers]
        runs, wall = sum(p["runs"] for p in chosen), sum(p["wall_seconds"] for p in chosen)
        by_workers[workers] = {"passes": len(chosen), "runs": runs, "wall_seconds": wall,
                               "runs_per_second": runs / wall}
    results_per_run = CheckResult.objects.filter(run__scheduled_for=passes[0]["tick"]).count() / len(ids)
    return {"setup": setup, "failing_contracts": len(failing), "in_process": in_process, "warmup": warmup,
            "passes": passes, "one_worker": by_workers[1], "two_workers": by_workers[2],
            "speedup": by_workers[2]["runs_per_second"] / by_workers[1]["runs_per_second"],
            "results_per_run": results_per_run}


# --------------------------------------------------------------------------------------------------------------


def summary(floor: dict, e2e: dict | None) -> tuple[str, bool]:
    c, f = floor["checks"], floor["floor"]
    lines = [
        "| benchmark | checks median (p90) ms | floor median (p90) ms | checks/floor | target |",
        "|---|---|---|---|---|",
        f"| data checks, {floor['rows']:,} rows, {len(floor['rules'])} rules | {c['median_ms']:.1f} "
        f"({c['p90_ms']:.1f}) | {f['median_ms']:.1f} ({f['p90_ms']:.1f}) | {floor['ratio']:.2f}× | "
        f"{verdict(floor['ratio'], floor['target'])} |",
        "",
        f"Opening the source (`open_source`, included in the checks' time): median "
        f"{floor['open_source_ms']['median']:.1f} ms.",
    ]
    if e2e is not None:
        chain, plain = e2e["in_process"]["chain"], e2e["in_process"]["no chain"]
        lines += [
            "",
            f"One run in process (no broker, no worker), {chain['runs']} + {plain['runs']} runs: median "
            f"{chain['ms_per_run']['median']:.1f} ms and {chain['statements_per_run']:.0f} statements with the "
            f"audit chain, {plain['ms_per_run']['median']:.1f} ms and {plain['statements_per_run']:.0f} "
            "statements without.",
        ]
    if e2e is not None:
        lines += [
            "",
            "| end to end | workers | contracts | wall s | runs/s | median task ms (p90) | median run ms | "
            "audit records per run | chain-lock waits seen |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for number, item in enumerate(e2e["passes"], start=1):
            lines.append(
                f"| pass {number} | {item['workers']} | {item['runs']:,} | {item['wall_seconds']:.1f} | "
                f"{item['runs_per_second']:.1f} | {item['task_ms']['median']:.0f} ({item['task_ms']['p90']:.0f}) | "
                f"{item['run_ms']['median']:.0f} | {item['audit_records_per_run']:.1f} | "
                f"{100 * item['database']['share_of_samples_with_a_chain_lock_wait']:.0f} % of samples |")
        one, two = e2e["one_worker"], e2e["two_workers"]
        lines += [
            "",
            f"1 worker: {one['runs']:,} runs in {one['wall_seconds']:.1f} s = {one['runs_per_second']:.1f} runs/s; "
            f"2 workers: {two['runs']:,} runs in {two['wall_seconds']:.1f} s = {two['runs_per_second']:.1f} runs/s; "
            f"speed-up {e2e['speedup']:.2f}×.",
        ]
    return "\n".join(lines), floor["passed"]


def main() -> int:
    scale = os.environ.get("BENCH_SCALE", "full")
    if scale not in PLANS:
        return fail(f"BENCH_SCALE must be one of {', '.join(PLANS)}; got {scale!r}.")
    plan = PLANS[scale]
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="accord-compliance-bench."))
    processes = Processes(folder)
    try:
        create_database(APP_DB)
        broker = start_redis(processes)
    except BenchSetupError as exc:
        processes.stop_all()
        shutil.rmtree(folder, ignore_errors=True)
        return fail(str(exc))
    from bench.compliance_data import SOURCE_ENV

    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ[SOURCE_ENV] = checker_dsn()  # for the in-process runs (the workers get it too)
    try:
        setup_django(APP_DB)
        warehouse = build_warehouse(plan)
        say(f"== compliance: warehouse with {plan.big_rows:,} leads ({warehouse['big_table_size']}) and "
            f"{warehouse['small_tables']} small tables ({warehouse['seconds']:.0f} s)")
        floor = measure_floor(plan)
        say(f"   data checks {floor['checks']['median_ms']:.0f} ms vs floor {floor['floor']['median_ms']:.0f} ms "
            f"({floor['ratio']:.2f}×, {floor['rounds']} rounds)")
        e2e = None if os.environ.get("BENCH_SKIP_E2E") == "1" else measure_end_to_end(plan, processes, broker)
    finally:
        processes.stop_all()
        shutil.rmtree(folder, ignore_errors=True)
    from django.db import connections

    connections.close_all()
    table, passed = summary(floor, e2e)
    report = {"benchmark": "compliance", "scale": scale, "seconds": round(time.perf_counter() - started, 1),
              "plan": asdict(plan), "target": TARGET_FLOOR, "warehouse": warehouse, "floor": floor,
              "end_to_end": e2e, "all_targets_met": passed}
    return finish("compliance", report, table, passed, databases=(APP_DB, WAREHOUSE_DB))


if __name__ == "__main__":
    sys.exit(main())
