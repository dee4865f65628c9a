"""Data checks against live sources: planted violations are found exactly, in one scan, read-only, time-limited.

One table of 1,000 leads with violations of known counts is built in a SQLite file (always) and, when the suite
runs on PostgreSQL (DATABASE_URL, see scripts/pg.sh), in the test database. The checks always go through
``open_source`` with a DSN, so the real connection path (read-only transaction, statement timeout) is exercised.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import sqlite3
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection as django_connection

from governance import criteria
from governance.checks.data import (
    CUSTOM_SQL_CAP,
    CheckSetupError,
    Rule,
    RuleResult,
    Source,
    SourceUnavailable,
    open_source,
    run_data_checks,
    run_state_conformance,
)

ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
N = 1000

# --- the planted table ---------------------------------------------------------------------------------------------

ACCEPTED = ["new", "working", "qualified", "won", "lost"]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]+$"
NULL_EMAILS = {10, 20, 30, 40, 600, 601, 602}  # 7 (three of them claim "mql")
MALFORMED_EMAILS = set(range(300, 313))  # 13
DUPLICATE_IDS = set(range(995, 1000))  # 5 rows repeat the ids of rows 0..4
BOGUS_STATUSES = set(range(400, 411))  # 11
NULL_STATUSES = {420, 421}  # not counted by accepted_values
OUT_OF_RANGE = {500: Decimal("-5"), 501: Decimal("101"), 502: Decimal("250.5"), 503: Decimal("-0.5")}  # 4
NULL_SCORES = {510, 511, 512}  # not counted by range
LOW_SCORE_MQL = {603, 604, 605}  # claim "mql" with a score below 50
UNKNOWN_REGION = set(range(900, 909))  # 9 rows the custom SELECT finds
MQL_ROWS = set(range(600, 700))
SQL_ROWS = set(range(700, 800))
NEWEST = NOW - dt.timedelta(hours=30)

CRITERIA = {
    "mql": {"all": [{"field": "email", "op": "is_not_null"}, {"field": "score", "op": "gte", "value": 50}]},
    "sql": {"field": "status", "op": "in", "value": ["qualified", "won"]},
    "customer": {"field": "status", "op": "eq", "value": "won"},
}
COLUMNS = {"id": "integer", "email": "email", "status": "picklist", "score": "numeric(8,2)",
           "updated_at": "timestamptz", "lifecycle": "picklist", "region": "text"}


def _row(i: int) -> dict:
    email = f"lead{i:04d}@example.com"
    if i in NULL_EMAILS:
        email = None
    elif i in MALFORMED_EMAILS:
        email = f"broken-address-{i:04d}"
    status = ACCEPTED[i % len(ACCEPTED)]
    if i in SQL_ROWS:
        status = "qualified"
    if i in BOGUS_STATUSES:
        status = f"zz-bogus-{i}"
    elif i in NULL_STATUSES:
        status = None
    score: Decimal | None = Decimal((i * 7) % 101)
    if i in MQL_ROWS:
        score = Decimal(50 + i % 50)
    if i in OUT_OF_RANGE:
        score = OUT_OF_RANGE[i]
    elif i in NULL_SCORES:
        score = None
    elif i in LOW_SCORE_MQL:
        score = Decimal(10)
    lifecycle = "mql" if i in MQL_ROWS else "sql" if i in SQL_ROWS else "raw"
    return {
        "id": i - 994 if i in DUPLICATE_IDS else i + 1,
        "email": email,
        "status": status,
        "score": score,
        "updated_at": NEWEST - dt.timedelta(minutes=7 * i),
        "lifecycle": lifecycle,
        "region": "unknown" if i in UNKNOWN_REGION else "emea",
    }


ROWS = [_row(i) for i in range(N)]
PLANTED_VALUES = sorted({row["email"] for row in ROWS if row["email"]} | {row["status"] for row in ROWS
                                                                          if row["status"] not in (None, *ACCEPTED)})


def test_the_planted_counts_are_what_the_table_holds():
    """The fixture's arithmetic, checked in Python (criteria.evaluate is the oracle for the states)."""
    import re

    assert sum(row["email"] is None for row in ROWS) == 7
    assert len(ROWS) - len({row["id"] for row in ROWS}) == 5
    assert sum(row["status"] is not None and row["status"] not in ACCEPTED for row in ROWS) == 11
    assert sum(row["email"] is not None and not re.search(EMAIL_PATTERN, row["email"]) for row in ROWS) == 13
    assert sum(row["score"] is not None and not 0 <= row["score"] <= 100 for row in ROWS) == 4
    assert sum(row["region"] == "unknown" for row in ROWS) == 9
    assert max(row["updated_at"] for row in ROWS) == NOW - dt.timedelta(hours=30)
    mql = [row for row in ROWS if row["lifecycle"] == "mql"]
    assert len(mql) == 100
    assert sum(not criteria.evaluate(CRITERIA["mql"], row, now=NOW, fields=COLUMNS) for row in mql) == 6


# --- sources -------------------------------------------------------------------------------------------------------


@dataclass
class Env:
    vendor: str
    dsn: str
    table: str  # as given to run_data_checks
    ref: str  # the table in custom SQL
    slow_table: str  # a view whose every row is slow to read
    empty_table: str
    count_rows: Callable[[], int]  # through another, writable connection


_SQLITE_TYPES = {"id": "integer", "email": "text", "status": "text", "score": "real", "updated_at": "text",
                 "lifecycle": "text", "region": "text"}
_PG_TYPES = {"id": "integer", "email": "varchar(200)", "status": "text", "score": "numeric(8,2)",
             "updated_at": "timestamptz", "lifecycle": "text", "region": "text"}


def _sqlite_value(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory) -> Env:
    """A SQLite file whose table is literally named "staging.stg_leads", independent of the Django database."""
    path = tmp_path_factory.mktemp("sources") / "leads.db"
    db = sqlite3.connect(path)
    definition = ", ".join(f'"{name}" {kind}' for name, kind in _SQLITE_TYPES.items())
    for table in ('"staging.stg_leads"', "stg_plain", "empty_leads"):
        db.execute(f"CREATE TABLE {table} ({definition})")
    marks = ", ".join("?" for _ in _SQLITE_TYPES)
    values = [[_sqlite_value(row[name]) for name in _SQLITE_TYPES] for row in ROWS]
    db.executemany(f'INSERT INTO "staging.stg_leads" VALUES ({marks})', values)
    db.executemany(f"INSERT INTO stg_plain VALUES ({marks})", values[:10])
    # 10^9 rows: reading it takes minutes.
    db.execute('CREATE VIEW slow_leads AS SELECT a.* FROM "staging.stg_leads" a, "staging.stg_leads" b, '
               '"staging.stg_leads" c')
    db.commit()
    db.close()

    def count_rows() -> int:
        with sqlite3.connect(path) as check:
            return check.execute('SELECT count(*) FROM "staging.stg_leads"').fetchone()[0]

    return Env("sqlite", f"sqlite://{path}", "staging.stg_leads", '"staging.stg_leads"', "slow_leads",
               "empty_leads", count_rows)


def _pg_dsn() -> str:
    db = settings.DATABASES["default"]
    user = urllib.parse.quote(db.get("USER") or "", safe="")
    password = urllib.parse.quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db.get("HOST") or "localhost"
    return f"postgresql://{credentials}{host}:{db.get('PORT') or 5432}/{urllib.parse.quote(db['NAME'], safe='')}"


@pytest.fixture(scope="module")
def pg_env(django_db_setup, django_db_blocker) -> Env:
    """The table in schema "staging" of the PostgreSQL test database, committed (autocommit, outside any atomic)."""
    definition = ", ".join(f'"{name}" {kind}' for name, kind in _PG_TYPES.items())
    with django_db_blocker.unblock(), django_connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS staging CASCADE")
        cursor.execute("CREATE SCHEMA staging")
        cursor.execute(f"CREATE TABLE staging.stg_leads ({definition})")
        cursor.execute(f"CREATE TABLE staging.empty_leads ({definition})")
        cursor.execute("CREATE SEQUENCE staging.lead_numbers")
        marks = ", ".join("%s" for _ in _PG_TYPES)
        cursor.executemany(f"INSERT INTO staging.stg_leads VALUES ({marks})",
                           [[row[name] for name in _PG_TYPES] for row in ROWS])
        # 1,000 rows x 10 ms: ten seconds to aggregate.
        cursor.execute("CREATE VIEW staging.slow_leads AS SELECT * FROM staging.stg_leads "
                       "WHERE pg_sleep(0.01) IS NOT NULL")

    def count_rows() -> int:
        with django_db_blocker.unblock(), django_connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM staging.stg_leads")
            return cursor.fetchone()[0]

    yield Env("postgresql", _pg_dsn(), "staging.stg_leads", "staging.stg_leads", "staging.slow_leads",
              "staging.empty_leads", count_rows)
    with django_db_blocker.unblock(), django_connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA staging CASCADE")


needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="runs on PostgreSQL (DATABASE_URL, scripts/pg.sh)")
VENDORS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[needs_postgres, pytest.mark.django_db(transaction=True)]),
]


@pytest.fixture(params=VENDORS)
def env(request) -> Env:
    return request.getfixturevalue("sqlite_env" if request.param == "sqlite" else "pg_env")


@pytest.fixture
def pg(pg_env) -> Env:
    return pg_env


class CountingCursor:
    def __init__(self, cursor, statements: list[str]):
        self._cursor, self._statements = cursor, statements

    def execute(self, sql, *args, **kwargs):
        self._statements.append(sql)
        return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class CountingConnection:
    """Records every statement sent through the connection's cursors."""

    def __init__(self, connection):
        self._connection = connection
        self.statements: list[str] = []

    def cursor(self, *args, **kwargs):
        return CountingCursor(self._connection.cursor(*args, **kwargs), self.statements)

    def execute(self, sql, *args, **kwargs):  # sqlite3's shortcut, in case it is ever used
        self.statements.append(sql)
        return self._connection.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def counting(source: Source) -> list[str]:
    wrapper = CountingConnection(source.connection)
    source.connection = wrapper
    return wrapper.statements


def by_key(results: list[RuleResult]) -> dict[str, RuleResult]:
    return {result.key: result for result in results}


def column_rules() -> list[Rule]:
    return [
        Rule("rows", "row_count", None, {"operator": ">=", "value": 1}),
        Rule("email-not-null", "not_null", "email", {}, "error"),
        Rule("id-unique", "unique", "id", {}),
        Rule("status-accepted", "accepted_values", "status", {"values": ACCEPTED}),
        Rule("email-pattern", "pattern", "email", {"pattern": EMAIL_PATTERN}),
        Rule("score-range", "range", "score", {"min": 0, "max": 100}),
        Rule("fresh-24h", "freshness", "updated_at", {"max_age_hours": 24}),
        Rule("fresh-48h", "freshness", "updated_at", {"max_age_hours": 48}),
    ]


def custom_rule(env: Env) -> Rule:
    return Rule("unknown-region", "custom_sql", None,
                {"query": f"SELECT id FROM {env.ref} WHERE region = 'unknown'", "operator": "=", "value": 0})


def results_text(results) -> str:
    return repr([dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result for result in results])


def assert_no_data_values(results) -> None:
    text = results_text(results)
    leaked = [value for value in PLANTED_VALUES if value in text]
    assert not leaked, leaked[:5]
    assert "example.com" not in text and "zz-bogus" not in text and "broken-address" not in text


# --- every kind of rule --------------------------------------------------------------------------------------------


def test_each_rule_finds_exactly_the_planted_count(env):
    with open_source(env.dsn) as source:
        statements = counting(source)
        results = run_data_checks(source, table=env.table, columns=COLUMNS,
                                  rules=[*column_rules(), custom_rule(env)], now=NOW)
    found = by_key(results)
    assert [r.key for r in results] == [r.key for r in [*column_rules(), custom_rule(env)]]
    expected = {  # key: (status, observed, violations, threshold)
        "rows": ("pass", N, None, ">= 1"),
        "email-not-null": ("fail", 7, 7, "= 0"),
        "id-unique": ("fail", 5, 5, "= 0"),
        "status-accepted": ("fail", 11, 11, "= 0"),
        "email-pattern": ("fail", 13, 13, "= 0"),
        "score-range": ("fail", 4, 4, "= 0"),
        "fresh-24h": ("fail", 30.0, None, "≤ 24 h"),
        "fresh-48h": ("pass", 30.0, None, "≤ 48 h"),
        "unknown-region": ("fail", 9, 9, "= 0"),
    }
    actual = {key: (r.status, r.observed, r.violations, r.threshold) for key, r in found.items()}
    assert actual == expected, "\n".join(r.message for r in results)
    assert found["email-not-null"].field == "email" and found["rows"].field is None
    assert all(result.duration_ms >= 0 for result in results)
    # The probe (LIMIT 0: no row read), ONE aggregate for every column rule, the count of duplicated values (only
    # because the aggregate found duplicates) and the custom query.
    assert len(statements) == 4, statements
    assert statements[0].rstrip().endswith("LIMIT 0")
    assert statements[1].startswith("SELECT count(*), ") and statements[1].count(" FROM ") == 1
    assert "GROUP BY" in statements[2] and "HAVING count(*) > 1" in statements[2]
    assert found["id-unique"].duplicated_values == 5  # ids 0..4 appear twice each
    assert "LIMIT 10001" in statements[3]
    assert_no_data_values(results)


def test_column_rules_share_one_select(env):
    with open_source(env.dsn) as source:
        statements = counting(source)
        results = run_data_checks(source, table=env.table, columns=COLUMNS, rules=column_rules(), now=NOW)
    assert len(statements) == 3, statements  # the probe, the aggregate, the duplicated values (duplicates found)
    aggregate = statements[1]
    for piece in ('count(*) - count("email")', 'count("id") - count(DISTINCT "id")', 'max("updated_at")'):
        assert piece in aggregate
    assert aggregate.count('max("updated_at")') == 1  # two freshness limits, one measure
    durations = {result.duration_ms for result in results}
    assert len(durations) == 1  # every rule reports the aggregate's time


def test_thresholds_on_counts(env):
    rules = [
        Rule("ge1", "row_count", None, {"operator": ">=", "value": 1, "unit": "rows"}),
        Rule("eq", "row_count", None, {"operator": "=", "value": N}),
        Rule("between", "row_count", None, {"operator": "between", "value": [1, 10]}),
        Rule("not-between", "row_count", None, {"operator": "not_between", "value": [1, 10]}),
        Rule("lt", "row_count", None, {"operator": "<", "value": N}),
        Rule("ne", "row_count", None, {"operator": "!=", "value": 0}),
        Rule("nulls-le-7", "not_null", "email", {"operator": "<=", "value": 7}),
        Rule("nulls-lt-7", "not_null", "email", {"operator": "<", "value": 7}),
        Rule("nulls-pct", "not_null", "email", {"operator": "<", "value": 1, "unit": "percent"}),
        Rule("nulls-pct-strict", "not_null", "email", {"operator": "<", "value": 0.5, "unit": "percent"}),
        Rule("dups-between", "unique", "id", {"operator": "between", "value": [1, 5]}),
        Rule("bad-status-gt", "accepted_values", "status", {"values": ACCEPTED, "operator": ">", "value": 11}),
        Rule("custom-le-10", "custom_sql", None, {**custom_rule(env).params, "operator": "<=", "value": 10}),
    ]
    with open_source(env.dsn) as source:
        found = by_key(run_data_checks(source, table=env.table, columns=COLUMNS, rules=rules, now=NOW))
    statuses = {key: result.status for key, result in found.items()}
    assert statuses == {
        "ge1": "pass", "eq": "pass", "between": "fail", "not-between": "pass", "lt": "fail", "ne": "pass",
        "nulls-le-7": "pass", "nulls-lt-7": "fail", "nulls-pct": "pass", "nulls-pct-strict": "fail",
        "dups-between": "pass", "bad-status-gt": "fail", "custom-le-10": "pass",
    }
    assert found["ge1"].threshold == ">= 1 rows"
    assert found["between"].threshold == "between 1 and 10"
    assert found["nulls-pct"].observed == 0.7 and found["nulls-pct"].violations == 7
    assert found["nulls-pct"].threshold == "< 1 percent"


def test_bad_rules_are_errors_and_the_others_still_run(env):
    rules = [
        Rule("ok-nulls", "not_null", "email", {}),
        Rule("not-in-table", "not_null", "phone", {}),  # registered, but no such column
        Rule("unregistered", "unique", "region_code", {}),
        Rule("bad-regex", "pattern", "email", {"pattern": "(?P<x>a)"}),
        Rule("no-values", "accepted_values", "status", {"values": "new"}),
        Rule("wrong-type", "accepted_values", "score", {"values": ["high"]}),
        Rule("no-bounds", "range", "score", {}),
        Rule("no-age", "freshness", "updated_at", {}),
        Rule("no-operator", "row_count", None, {}),
        Rule("bad-operator", "not_null", "email", {"operator": "~", "value": 1}),
        Rule("what", "completeness", "email", {}),
        Rule("two-statements", "custom_sql", None, {"query": "SELECT 1; SELECT 2"}),
        Rule("not-a-select", "custom_sql", None, {"query": f"DELETE FROM {env.ref}"}),
        Rule("ok-range", "range", "score", {"max": 100}),
    ]
    with open_source(env.dsn) as source:
        statements = counting(source)
        found = by_key(run_data_checks(source, table=env.table, columns={**COLUMNS, "phone": "phone"},
                                       rules=rules, now=NOW))
    assert found["ok-nulls"].status == "fail" and found["ok-nulls"].violations == 7
    assert found["ok-range"].status == "fail" and found["ok-range"].violations == 2  # 101 and 250.5
    errors = {key: result.message for key, result in found.items() if result.status == "error"}
    assert set(errors) == set(found) - {"ok-nulls", "ok-range"}
    assert "column 'phone' not found" in errors["not-in-table"]
    assert "'region_code' is not registered" in errors["unregistered"]
    assert "unusable pattern" in errors["bad-regex"]
    assert "params.values" in errors["no-values"]
    assert "row_count needs params 'operator' and 'value'" in errors["no-operator"]
    assert "unknown rule 'completeness'" in errors["what"]
    assert "no ';'" in errors["two-statements"]
    assert "must be a SELECT" in errors["not-a-select"]
    assert len(statements) == 2  # the aggregate holds the two valid rules; refused custom SQL never runs
    assert env.count_rows() == N


def test_a_missing_table_errs_its_rules_but_custom_sql_still_runs(env):
    rules = [Rule("nulls", "not_null", "email", {}), custom_rule(env)]
    with open_source(env.dsn) as source:
        found = by_key(run_data_checks(source, table="staging.no_such_table", columns=COLUMNS, rules=rules, now=NOW))
    assert found["nulls"].status == "error" and "not found" in found["nulls"].message
    assert found["unknown-region"].status == "fail" and found["unknown-region"].violations == 9


def test_freshness_fails_on_an_empty_table(env):
    rules = [Rule("fresh", "freshness", "updated_at", {"max_age_hours": 24}),
             Rule("rows", "row_count", None, {"operator": ">=", "value": 1}),
             Rule("nulls", "not_null", "email", {})]
    with open_source(env.dsn) as source:
        found = by_key(run_data_checks(source, table=env.empty_table, columns=COLUMNS, rules=rules, now=NOW))
    assert (found["fresh"].status, found["fresh"].observed) == ("fail", None)
    assert "empty" in found["fresh"].message
    assert (found["rows"].status, found["rows"].observed) == ("fail", 0)
    assert (found["nulls"].status, found["nulls"].violations) == ("pass", 0)


def test_custom_sql_is_bounded(env):
    cross = f"SELECT a.id FROM {env.ref} a, {env.ref} b -- a million rows"
    rules = [
        Rule("none-allowed", "custom_sql", None, {"query": cross}),
        Rule("at-least", "custom_sql", None, {"query": cross + "\n", "operator": ">", "value": 5000}),
        Rule("beyond-cap", "custom_sql", None, {"query": cross, "operator": "<", "value": 20000}),
        Rule("trailing-semicolon", "custom_sql", None,
             {"query": f"  /* note */ with u AS (SELECT id FROM {env.ref} WHERE region = 'unknown') SELECT * FROM u;"}),
    ]
    with open_source(env.dsn) as source:
        found = by_key(run_data_checks(source, table=env.table, columns=COLUMNS, rules=rules, now=NOW))
    assert (found["none-allowed"].status, found["none-allowed"].observed) == ("fail", f"> {CUSTOM_SQL_CAP}")
    assert found["none-allowed"].violations is None
    assert found["at-least"].status == "pass"
    assert found["beyond-cap"].status == "error" and "cannot decide" in found["beyond-cap"].message
    assert (found["trailing-semicolon"].status, found["trailing-semicolon"].observed) == ("fail", 9)


# --- guards: time limit, read-only, unreachable sources, no data in results ----------------------------------------


def test_the_statement_timeout_turns_slow_queries_into_errors(env):
    slow_sql = ("SELECT pg_sleep(5)" if env.vendor == "postgresql" else
                f"SELECT 1 FROM {env.ref} a, {env.ref} b, {env.ref} c WHERE a.score + b.score + c.score < -1e9")
    with open_source(env.dsn, statement_timeout_ms=300) as source:
        started = dt.datetime.now()
        custom = run_data_checks(source, table=env.table, columns=COLUMNS,
                                 rules=[Rule("slow", "custom_sql", None, {"query": slow_sql})], now=NOW)
        aggregate = run_data_checks(source, table=env.slow_table, columns=COLUMNS, rules=column_rules(), now=NOW)
        elapsed = dt.datetime.now() - started
        # The source is still usable afterwards.
        after = by_key(run_data_checks(source, table=env.table, columns=COLUMNS, rules=column_rules(), now=NOW))
    assert elapsed < dt.timedelta(seconds=4)
    assert custom[0].status == "error"
    assert "300 ms" in custom[0].message
    assert {result.status for result in aggregate} == {"error"}
    assert all("300 ms" in result.message for result in aggregate)
    assert after["email-not-null"].violations == 7


def test_sqlite_source_is_read_only(sqlite_env):
    with open_source(sqlite_env.dsn) as source:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
            source.connection.execute('DELETE FROM "staging.stg_leads"')
        results = run_data_checks(source, table=sqlite_env.table, columns=COLUMNS,
                                  rules=[Rule("rows", "row_count", None, {"operator": "=", "value": N})], now=NOW)
    assert results[0].status == "pass"
    assert sqlite_env.count_rows() == N


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_source_refuses_writes(pg):
    import psycopg

    rules = [
        Rule("cte-delete", "custom_sql", None,
             {"query": f"WITH gone AS (DELETE FROM {pg.ref} RETURNING id) SELECT id FROM gone"}),
        Rule("nextval", "custom_sql", None, {"query": "SELECT nextval('staging.lead_numbers')"}),
        Rule("switch-off", "custom_sql", None,
             {"query": "SELECT set_config('default_transaction_read_only', 'off', false)"}),
    ]
    with open_source(pg.dsn) as source:
        found = by_key(run_data_checks(source, table=pg.table, columns=COLUMNS, rules=rules, now=NOW))
        # A setting changed by a custom query is rolled back with its transaction.
        with source.connection.cursor() as cursor:
            cursor.execute("SHOW default_transaction_read_only")
            assert cursor.fetchone()[0] == "on"
            cursor.execute("SHOW transaction_read_only")
            assert cursor.fetchone()[0] == "on"
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "30s"
        source.connection.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            source.connection.execute(f"DELETE FROM {pg.ref}")
        source.connection.rollback()
    assert found["cte-delete"].status == "error"
    assert found["nextval"].status == "error" and "ReadOnlySqlTransaction" in found["nextval"].message
    assert pg.count_rows() == N


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_database_errors_do_not_echo_data(pg):
    # PostgreSQL's message would quote the offending value: 'invalid input syntax for type integer: "lead…"'.
    rule = Rule("cast", "custom_sql", None, {"query": f"SELECT id FROM {pg.ref} WHERE CAST(email AS integer) > 0"})
    with open_source(pg.dsn) as source:
        results = run_data_checks(source, table=pg.table, columns=COLUMNS, rules=[rule], now=NOW)
    assert results[0].status == "error"
    assert "InvalidTextRepresentation" in results[0].message
    assert_no_data_values(results)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _whole_text(exc: BaseException) -> str:
    """The messages of the exception and of every exception chained to it (what a log would show)."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *traceback.format_exception_only(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


def test_an_unreachable_postgresql_raises_source_unavailable_without_credentials():
    port = _closed_port()
    with pytest.raises(SourceUnavailable) as caught:
        with open_source(f"postgresql://checker:S3cret-Pa55@127.0.0.1:{port}/warehouse", connect_timeout_s=2):
            pass  # pragma: no cover
    message = str(caught.value)
    assert f"127.0.0.1:{port}/warehouse" in message and "refused" in message
    assert "S3cret-Pa55" not in _whole_text(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None  # no driver exception chained
    assert "checker" not in message


def test_a_missing_sqlite_file_raises_source_unavailable(tmp_path):
    missing = tmp_path / "nowhere.db"
    with pytest.raises(SourceUnavailable, match="nowhere.db"):
        with open_source(f"sqlite://{missing}"):
            pass  # pragma: no cover
    assert not missing.exists()  # read-only mode never creates the file


@pytest.mark.parametrize("dsn", [
    "mysql://root:S3cret-Pa55@db/x",
    "postgres://u:S3cret-Pa55@host/db x=",
    "sqlite://host/S3cret-Pa55.db",
    "sqlite:///tmp/x.db?mode=rwc",
    "just-a-path",
])
def test_unusable_dsns_are_setup_errors_without_credentials(dsn):
    with pytest.raises(CheckSetupError) as caught:
        with open_source(dsn):
            pass  # pragma: no cover
    assert "S3cret-Pa55" not in _whole_text(caught.value)


def test_a_file_that_is_not_a_database_is_a_setup_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database " * 100)
    with pytest.raises(CheckSetupError, match="not a readable SQLite database"):
        with open_source(f"sqlite://{path}"):
            pass  # pragma: no cover


def test_now_must_be_aware(sqlite_env):
    with open_source(sqlite_env.dsn) as source, pytest.raises(ValueError, match="timezone-aware"):
        run_data_checks(source, table=sqlite_env.table, columns=COLUMNS, rules=[], now=dt.datetime(2025, 1, 1))


# --- table names on SQLite -----------------------------------------------------------------------------------------


def test_sqlite_table_names(sqlite_env):
    rules = [Rule("rows", "row_count", None, {"operator": ">=", "value": 1})]
    with open_source(sqlite_env.dsn) as source:
        literal = run_data_checks(source, table="staging.stg_leads", columns=COLUMNS, rules=rules, now=NOW)
        schema = run_data_checks(source, table="main.stg_plain", columns=COLUMNS, rules=rules, now=NOW)
        plain = run_data_checks(source, table="stg_plain", columns=COLUMNS, rules=rules, now=NOW)
        # SQLite column names ignore case.
        upper = run_data_checks(source, table="stg_plain", columns={"EMAIL": "email"},
                                rules=[Rule("n", "not_null", "EMAIL", {})], now=NOW)
    assert literal[0].observed == N
    assert schema[0].observed == 10 and plain[0].observed == 10
    assert upper[0].status == "pass"


# --- state conformance ---------------------------------------------------------------------------------------------


def test_state_conformance_counts_claims_and_violations_in_one_query(env):
    with open_source(env.dsn) as source:
        statements = counting(source)
        counts = run_state_conformance(source, table=env.table, columns=COLUMNS, state_column="lifecycle",
                                       states=CRITERIA, now=NOW)
    assert {value: (c["claimed"], c["violations"]) for value, c in counts.items()} == {
        "mql": (100, 6), "sql": (100, 0), "customer": (0, 0),
    }
    assert all(c["duration_ms"] >= 0 for c in counts.values())
    assert len(statements) == 2 and statements[0].rstrip().endswith("LIMIT 0")
    assert_no_data_values([counts])


def test_state_conformance_fails_closed(env):
    with open_source(env.dsn) as source:
        with pytest.raises(CheckSetupError, match="not registered"):
            run_state_conformance(source, table=env.table, columns=COLUMNS, state_column="stage",
                                  states=CRITERIA, now=NOW)
        with pytest.raises(CheckSetupError, match="criteria of state 'mql'"):
            run_state_conformance(source, table=env.table, columns=COLUMNS, state_column="lifecycle",
                                  states={"mql": {"field": "nope", "op": "is_null"}}, now=NOW)
        with pytest.raises(CheckSetupError, match="not found"):
            run_state_conformance(source, table="staging.nothing_here", columns=COLUMNS, state_column="lifecycle",
                                  states=CRITERIA, now=NOW)
        assert run_state_conformance(source, table=env.table, columns=COLUMNS, state_column="lifecycle",
                                     states={}, now=NOW) == {}
