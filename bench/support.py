"""Helpers shared by the trust-layer and compliance benchmarks (``bench.trust_bench``, ``bench.compliance_bench``).

Each of those benchmarks works in databases of its own, created in the throwaway
PostgreSQL cluster of ``scripts/bench.sh`` from the migrated, still empty template
``accord_migrated`` (``BENCH_TEMPLATE_DB``), which ``scripts/bench.sh`` copies from
the freshly migrated database before the catalog benchmark fills that one. So the
three benchmark modules are independent of each other and can run in any order.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TEMPLATE_DB = os.environ.get("BENCH_TEMPLATE_DB", "accord_migrated")


class BenchSetupError(RuntimeError):
    """The benchmark cannot run here (no PostgreSQL, no template database…)."""


def base_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise BenchSetupError("The benchmark needs PostgreSQL: run it with `make bench` "
                              "(scripts/bench.sh starts a throwaway cluster and sets DATABASE_URL).")
    return url


def database_url(name: str) -> str:
    """DATABASE_URL with another database name."""
    parts = urlsplit(base_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def admin_connection():
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


def create_database(name: str, template: str = TEMPLATE_DB) -> None:
    """(Re)create ``name`` as a copy of ``template`` (which nobody may be connected to)."""
    with admin_connection() as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone():
            raise BenchSetupError(
                f"The template database {template!r} does not exist. Run the benchmark with `make bench`: "
                "scripts/bench.sh copies the freshly migrated database to it.")
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def drop_database(name: str) -> None:
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def raw_connection(name: str):
    """A plain psycopg connection like Django's: autocommit, no prepared statements, UTC."""
    import psycopg

    conn = psycopg.connect(database_url(name), autocommit=True, prepare_threshold=None)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def setup_django(database: str) -> None:
    """Point Django's default connection at ``database`` (before settings are read) and set Django up."""
    import django

    os.environ["DATABASE_URL"] = database_url(database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def django_wrapper(database: str):
    """Another DatabaseWrapper like the default one, on ``database`` (for switching without reconnecting)."""
    from django.db import connections
    from django.db.utils import load_backend

    settings_dict = connections.settings["default"]
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper({**settings_dict, "NAME": database}, "default")


@dataclass(frozen=True)
class Summary:
    samples: int
    median: float
    p90: float
    minimum: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        ordered = sorted(values)
        p90 = statistics.quantiles(ordered, n=10, method="inclusive")[-1] if len(ordered) > 1 else ordered[0]
        return cls(len(ordered), statistics.median(ordered), p90, ordered[0])


class StatementCounter:
    """Statements run on a Django connection and the time spent in their execute calls."""

    def __init__(self) -> None:
        self.statements = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.statements += 1


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "load_average_at_end": list(os.getloadavg())}


def code_version() -> dict:
    """The commit measured and the files changed on top of it (read-only git commands)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10).stdout

        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "changed_files": [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]}


CODE_AT_START = code_version()  # when the benchmark module is imported, i.e. the code it runs


def write_results(prefix: str, report: dict, table: str) -> Path:
    """``<prefix>-<UTC stamp>.json``, ``<prefix>-latest.json`` and ``<prefix>-latest.md`` in bench/results/."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    finished = datetime.now(UTC)
    report = {"finished_at": finished.isoformat(timespec="seconds"), **report, "machine": machine(),
              "code_at_start": CODE_AT_START, "code_at_end": code_version()}
    stamped = RESULTS_DIR / f"{prefix}-{finished:%Y%m%d-%H%M%S}.json"
    text = json.dumps(report, indent=2, default=str)
    stamped.write_text(text)
    (RESULTS_DIR / f"{prefix}-latest.json").write_text(text)
    (RESULTS_DIR / f"{prefix}-latest.md").write_text(table + "\n")
    return stamped


def finish(prefix: str, report: dict, table: str, passed: bool, databases: tuple[str, ...] = ()) -> int:
    """Write the results, drop the benchmark's own ``databases`` (unless ``BENCH_KEEP=1``), print
    the summary table, and give the exit status: 1 when a target is missed and ``BENCH_STRICT=1``."""
    path = write_results(prefix, report, table)
    if os.environ.get("BENCH_KEEP") != "1":
        for name in databases:
            drop_database(name)
    say("")
    say(table)
    say("")
    say(f"{'All targets met.' if passed else 'Some targets are missed (FAIL above).'} "
        f"Ran {report['seconds']:.0f} s. Results: {path}")
    return 1 if not passed and os.environ.get("BENCH_STRICT") == "1" else 0


def verdict(ratio: float, target: float) -> str:
    return f"≤ {target:g}× {'pass' if ratio <= target else '**FAIL**'}"


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> int:
    print(text, file=sys.stderr, flush=True)
    return 2
