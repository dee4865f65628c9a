"""Reliability of compliance runs with a REAL Celery worker (prefork, a separate process) on a REAL Redis.

* kill -9 the worker in the middle of a run; a restarted worker completes the same run with exactly one set of
  results (acks_late: Redis redelivers the unacknowledged task once its visibility timeout has passed);
* a source that is down gives the run an error result and a retry; when the source is back, the run completes
  with its real results.

The worker is another process, so it needs a database both processes can see: the test runs on PostgreSQL only
(scripts/pg.sh; the in-memory SQLite test database cannot be shared) and commits its data (transaction=True). The
worker runs with the production settings (config.settings: config.settings_test would make retries eager), pointed
at the test database, the test's Redis and the test's source. redis-server is Debian's (scripts/ensure_packages.sh).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from config.celery import app as celery_app
from governance.checks.metadata import run_metadata_checks
from governance.models import CheckResult, ComplianceRun, Incident
from governance.services import compliance
from governance.services import contracts as contract_services
from governance.services import states as state_services
from governance.tasks import run_compliance_checks
from permissions.context import Actor
from tests import factories
from tests.governance.compliance_fixtures import MQL, TERMS, write_source
from tests.mixins import make_user

REDIS_SERVER = "/usr/bin/redis-server"
BASE_DIR = Path(settings.BASE_DIR)
ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]
SOURCE_ENV = "ACCORD_TEST_RELIABILITY_DSN"
SCHEMA = "reliability"
VISIBILITY_TIMEOUT = 8  # seconds: longer than any task of this test holds its message, short enough to wait for
SLOW_SECONDS = 6  # the custom_sql rule of the kill -9 scenario sleeps this long in the source

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (scripts/pg.sh): the Celery worker is a separate "
                                               "process and cannot share the in-memory SQLite test database"),
    pytest.mark.skipif(not os.access(REDIS_SERVER, os.X_OK),
                       reason=f"{REDIS_SERVER} is missing (make test installs it: scripts/ensure_packages.sh)"),
    pytest.mark.django_db(transaction=True),
]


# --------------------------------------------------------------------------------------------------------------------
# Helpers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def database_dsn(*, port: int | None = None) -> str:
    """The test database (test_…) as a URL, optionally through another port on 127.0.0.1."""
    db = connection.settings_dict
    user = urllib.parse.quote(db.get("USER") or "", safe="")
    password = urllib.parse.quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = "127.0.0.1" if port else (db.get("HOST") or "localhost")
    return (f"postgresql://{credentials}{host}:{port or db.get('PORT') or 5432}/"
            f"{urllib.parse.quote(db['NAME'], safe='')}")


def run_state(run_id: int) -> tuple[ComplianceRun, list[CheckResult]]:
    run = ComplianceRun.objects.get(pk=run_id)
    return run, list(CheckResult.objects.filter(run_id=run_id).order_by("key"))


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path, name: str):
        self.process, self.log, self.name = process, log, name

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        """SIGKILL the whole worker (main process and pool children): no warm shutdown, no acknowledgement."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class Workers:
    """Starts Celery workers (each in its own process group) and kills every one of them at the end."""

    def __init__(self, tmp: Path, broker_url: str):
        self.tmp, self.broker_url, self.started, self.count = tmp, broker_url, [], 0

    def environment(self, source_dsn: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CELERY_", "ACCORD_", "DJANGO_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_dsn(),
            "DB_CONN_MAX_AGE": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "reliability-test-secret-key",
            "ACCORD_VAR_DIR": str(self.tmp / "var"),
            "CELERY_BROKER_URL": self.broker_url,
            "ACCORD_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "ACCORD_CHECK_RETRY_BASE_SECONDS": "1",
            "ACCORD_CHECK_MAX_RETRIES": "10",
            "ACCORD_CHECK_TIME_LIMIT_SECONDS": "120",
            "PYTHONUNBUFFERED": "1",
            SOURCE_ENV: source_dsn,
        })
        return env

    def start(self, source_dsn: str) -> Worker:
        self.count += 1
        name = f"reliability{self.count}"
        log = self.tmp / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
                   "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   f"--hostname={name}@%h"]
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=BASE_DIR, env=self.environment(source_dsn), stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        worker = Worker(process, log, name)
        self.started.append(worker)

        def ready():
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited with {process.returncode}:\n{worker.output()}")
            return " ready." in worker.output()

        wait_for(ready, timeout=60, what=f"worker {name} to be ready")
        return worker

    def dump(self) -> None:
        for worker in self.started:
            print(f"\n===== output of worker {worker.name} (pid {worker.process.pid}) =====\n{worker.output()}")

    @contextlib.contextmanager
    def dump_on_failure(self):
        try:
            yield
        except BaseException:
            self.dump()
            raise

    def kill_all(self) -> None:
        for worker in self.started:
            with contextlib.suppress(Exception):
                worker.kill9()


class TcpProxy:
    """127.0.0.1:<port> → PostgreSQL, once started: the source at that address 'comes back'."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.server: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()

    def start(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, destination: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                destination.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.stopped.set()
        for sock in [self.server, *self.sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


# --------------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def redis_url(tmp_path):
    """A private redis-server on 127.0.0.1 at a free port, without persistence; stopped afterwards."""
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    log = (folder / "redis.log").open("wb")
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def pong():
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited: {(folder / 'redis.log').read_text(errors='replace')}")
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    try:
        wait_for(pong, timeout=20, what="redis-server to answer")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def workers(tmp_path, redis_url):
    manager = Workers(tmp_path, redis_url)
    try:
        yield manager
    finally:
        manager.kill_all()
        # A killed worker's query may still be sleeping in the server: end it, so that nothing holds the test
        # database when it is flushed and dropped.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND application_name = 'accord-checks'")


@pytest.fixture
def source_table():
    """reliability.leads in the test database: the planted rows of compliance_fixtures.write_source."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cursor.execute(f"CREATE SCHEMA {SCHEMA}")
        cursor.execute(f"CREATE TABLE {SCHEMA}.leads (lead_id integer, email varchar(255), status varchar(32), "
                       "score integer)")
    yield f"{SCHEMA}.leads"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def fill_source(table: str, tmp_path: Path) -> None:
    planted = tmp_path / "planted.sqlite3"
    write_source(planted)
    with contextlib.closing(sqlite3.connect(planted)) as lite:
        rows = lite.execute("SELECT lead_id, email, status, score FROM leads ORDER BY lead_id").fetchall()
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows)


@contextlib.contextmanager
def real_broker(url: str):
    """Send from this process (where tasks are eager) to the real broker, for the duration of the block."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with Connection(url) as broker, broker.Producer() as producer:
            yield producer
    finally:
        celery_app.conf.task_always_eager = saved


def enqueue(run: ComplianceRun, broker_url: str) -> None:
    with real_broker(broker_url) as producer:
        run_compliance_checks.apply_async(args=[run.pk], producer=producer)


def build_contract(table: str, *, sleep_seconds: int):
    """An active contract (Marketing → Sales) over ``table`` in the PostgreSQL source named by SOURCE_ENV, with the
    rules of compliance_fixtures.TERMS plus a custom_sql rule that finds nothing after ``sleep_seconds``."""
    marketing = factories.department(name="Marketing", slug="marketing")
    sales = factories.department(name="Sales", slug="sales")
    maria, sofia = make_user("maria"), make_user("sofia")
    factories.membership(maria, department=marketing, role="lead")
    factories.membership(sofia, department=sales, role="lead")
    system = factories.system(name="Warehouse", slug="warehouse", connection_engine="postgresql",
                              connection_env=SOURCE_ENV)
    dataset = factories.dataset(system=system, qualified_name=table, owner_department=marketing)
    owner = make_user("owner")
    for name, data_type in (("lead_id", "integer"), ("email", "varchar(255)"), ("status", "varchar(32)"),
                            ("score", "integer")):
        factories.field(dataset=dataset, name=name, data_type=data_type, owner=owner, owner_department=marketing)
    workflow = factories.workflow(dataset=dataset, owner_department=marketing,
                                  state_field=dataset.fields.get(name="status"))
    mql = factories.state(workflow=workflow, slug="mql", state_value="mql", owner_department=marketing)
    state_version = state_services.create_draft(definition=mql, definition_text="Engaged", criteria=MQL, actor=maria)
    state_services.propose(state_version, actor=maria)
    state_services.approve(state_version, department=marketing, actor=maria)
    # Sleeps, then finds no row. (A constant "WHERE false" would let the planner skip the sleep altogether.)
    slow = {"object": "leads", "field": None, "rule": "custom_sql", "severity": "error",
            "params": {"query": f"SELECT 1 FROM pg_sleep({sleep_seconds}) WHERE random() < 0",
                       "operator": "=", "value": 0}}
    terms = {**TERMS, "quality": [*TERMS["quality"], slow]}
    contract = factories.contract(slug="handoff", name="Lead hand-off", producer=marketing, consumers=[sales],
                                  datasets=[dataset])
    version = contract_services.create_version(contract=contract, version="1.0.0", terms=terms, actor=maria,
                                               state_definitions=[mql])
    contract_services.propose(version, actor=maria)
    contract_services.sign(version, department=marketing, actor=maria)
    contract_services.sign(version, department=sales, actor=sofia)
    version.refresh_from_db()
    assert version.status == "active"
    return contract, version


def expected_keys(version, table: str) -> list[str]:
    """One result per metadata check, per quality rule and per claimed state: the keys of one set of results."""
    metadata = [result.key for result in run_metadata_checks(version)]
    data = [f"data:leads:{rule['field'] or '*'}:{rule['rule']}:{index}"
            for index, rule in enumerate(version.terms["quality"])]
    return sorted([*metadata, *data, f"state:{table}:mql"])


def unacked_deliveries(broker_url: str) -> list[tuple[bytes, float]]:
    """kombu's Redis ack emulation: delivered, unacknowledged messages and when they were delivered."""
    client = redis.Redis.from_url(broker_url)
    try:
        return client.zrange("unacked_index", 0, -1, withscores=True)
    finally:
        client.close()


def sleeping_source_queries() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = 'accord-checks' AND state = 'active' AND query LIKE %s",
                       ["%pg_sleep%"])
        return cursor.fetchone()[0]


# --------------------------------------------------------------------------------------------------------------------
# Tests


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_with_one_set_of_results(
        tmp_path, redis_url, workers, source_table):
    fill_source(source_table, tmp_path)
    contract, version = build_contract(source_table, sleep_seconds=SLOW_SECONDS)
    run, created = compliance.get_or_create_run(version, scheduled_for=timezone.now().replace(microsecond=0),
                                                trigger="scheduled", actor=Actor(system="tests"))
    assert created
    expected = expected_keys(version, source_table)
    source_dsn = database_dsn()

    with workers.dump_on_failure():
        first = workers.start(source_dsn)
        enqueue(run, redis_url)
        wait_for(lambda: run_state(run.pk)[0].status == "running", timeout=30, what="the run to start")
        # Mid-run: the worker is inside the slow custom query on the source.
        wait_for(sleeping_source_queries, timeout=30, what="the slow source query to be running")
        first.kill9()

        killed, results = run_state(run.pk)
        assert (killed.status, killed.attempts, results) == ("running", 1, [])
        pending = unacked_deliveries(redis_url)
        assert len(pending) == 1, f"the killed worker's task should still be unacknowledged in Redis: {pending}"

        # Redis hands the task out again once its visibility timeout has passed; a worker looks for such tasks
        # when it starts. Start the replacement then (as after a crash and restart).
        delivered_at = pending[0][1]
        time.sleep(max(0.0, delivered_at + VISIBILITY_TIMEOUT + 0.5 - time.time()))
        workers.start(source_dsn)
        wait_for(lambda: run_state(run.pk)[0].status == "completed", timeout=60,
                 what="the redelivered task to complete the run")

        done, results = run_state(run.pk)
        keys = sorted(result.key for result in results)
        assert keys == expected, "exactly one set of results: one per check, none missing, none twice"
        assert done.attempts == 2
        assert done.outcome == "fail" and done.last_error == ""
        by_key = {result.key: result for result in results}
        assert by_key["data:leads:email:not_null:0"].violations == 3
        assert by_key["data:leads:status:accepted_values:2"].violations == 2
        slow = by_key[f"data:leads:*:custom_sql:{len(version.terms['quality']) - 1}"]
        assert (slow.status, slow.observed) == ("pass", 0)
        assert slow.duration_ms >= SLOW_SECONDS * 1000 * 0.9
        assert ComplianceRun.objects.filter(contract_version=version, scheduled_for=run.scheduled_for).count() == 1
        assert ComplianceRun.objects.count() == 1
        assert Incident.objects.filter(contract=contract).count() == 1
        contract.refresh_from_db()
        assert contract.compliance_status == "failing"
        wait_for(lambda: not unacked_deliveries(redis_url), timeout=10, what="the task to be acknowledged")


def test_a_source_that_is_down_gives_an_error_result_and_retries_then_recovers(
        tmp_path, redis_url, workers, source_table):
    fill_source(source_table, tmp_path)
    contract, version = build_contract(source_table, sleep_seconds=0)
    run, _ = compliance.get_or_create_run(version, scheduled_for=timezone.now().replace(microsecond=0),
                                          trigger="scheduled", actor=Actor(system="tests"))
    expected = expected_keys(version, source_table)
    db = connection.settings_dict
    # The worker's source is 127.0.0.1:<port>, where nothing listens yet (connection refused).
    proxy = TcpProxy(free_port(), (db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))

    try:
        with workers.dump_on_failure():
            workers.start(database_dsn(port=proxy.port))
            enqueue(run, redis_url)

            def failed_and_retrying(min_attempts):
                current, results = run_state(run.pk)
                return (current.status == "retrying" and current.attempts >= min_attempts
                        and [(r.key, r.status) for r in results] == [("source:unavailable", "error")])

            wait_for(lambda: failed_and_retrying(1), timeout=30, what="an error result and a retry")
            down, results = run_state(run.pk)
            assert f"127.0.0.1:{proxy.port}" in results[0].message and "connection refused" in results[0].message
            assert down.last_error == results[0].message and down.outcome == ""
            # It is retried (backoff 1 s, 2 s, …), and fails again while the source is still down.
            wait_for(lambda: failed_and_retrying(2), timeout=30, what="a second failed attempt")

            proxy.start()  # the source is back
            wait_for(lambda: run_state(run.pk)[0].status == "completed", timeout=60,
                     what="the retried task to complete the run")

            done, results = run_state(run.pk)
            assert sorted(result.key for result in results) == expected, "the real results, and only them"
            assert "source:unavailable" not in {result.key for result in results}
            assert done.attempts >= 3
            assert done.outcome == "fail" and done.last_error == ""
            by_key = {result.key: result for result in results}
            assert by_key["data:leads:email:not_null:0"].violations == 3
            assert all(result.status != "error" for result in results)
            assert ComplianceRun.objects.count() == 1
            contract.refresh_from_db()
            assert contract.compliance_status == "failing"
    finally:
        proxy.stop()
