"""Data checks: a contract's quality rules and state conformance, run against a dataset's live source.

A pure module: no Django model is used. Open a source, run the checks, read the results::

    with open_source("postgresql://checker@warehouse:5432/dwh", statement_timeout_ms=30_000) as source:
        results = run_data_checks(source, table="staging.stg_leads", columns={"email": "varchar", ...},
                                  rules=[Rule("r1", "not_null", "email", {}, "error"), ...])
        states = run_state_conformance(source, table="staging.stg_leads", columns=..., state_column="status",
                                       states={"mql": approved_criteria_tree})

Sources
-------
``postgresql://…`` / ``postgres://…`` (psycopg 3) and ``sqlite:///absolute/path.db``. Every source is read-only and
every statement is time-limited:

* PostgreSQL: the session is set to ``default_transaction_read_only = on``, ``statement_timeout = <ms>`` and
  ``TimeZone = 'UTC'``; every statement then runs alone in a ``BEGIN READ ONLY`` transaction that is rolled back
  (never committed), so a query that fails or times out cannot affect the next one, and a setting changed by a
  custom query is undone. Server-side parameter binding, no prepared statements (PgBouncer-friendly).
* SQLite: the file is opened with ``file:…?mode=ro`` and ``PRAGMA query_only``; a progress handler aborts any
  statement running past the time limit; ``REGEXP`` is registered (``criteria.register_sqlite_functions``). A regular
  expression is evaluated by Python's ``re`` for one row at a time: the time limit is checked between rows only.

Failures to reach a source raise ``SourceUnavailable`` (transient: retry later): connection refused, unknown host,
timeout, authentication, too many connections, a missing or locked SQLite file, and a connection lost during the
checks. Messages name the host, port and database, or the file, never the user name or password. A DSN that cannot be
used at all (malformed, unsupported scheme, a relative SQLite path, a file that is not a database) raises
``CheckSetupError`` (permanent).

Rules
-----
``Rule(key, rule, field, params, severity)`` with the rules and params of the ODCS terms
(``governance.odcs``, "Rule params"). ``columns`` maps the dataset's registered field names to their data types, as in
``governance.criteria``; a rule's ``field`` must be one of them and must be a column of the table (compared exactly
on PostgreSQL, ignoring case on SQLite). The field names are the physical column names.

All column rules of one table and ``row_count`` are computed by ONE aggregated SELECT (one table scan), e.g.::

    SELECT count(*),                                                            -- row_count
           count(*) - count("email"),                                           -- not_null email
           count("lead_id") - count(DISTINCT "lead_id"),                        -- unique lead_id (duplicates)
           sum(CASE WHEN "status" IS NOT NULL
                     AND NOT ("status" IS NOT NULL AND "status" IN (%s, %s, %s)) THEN 1 ELSE 0 END),
           sum(CASE WHEN "email" IS NOT NULL
                     AND NOT ("email" IS NOT NULL AND CAST("email" AS TEXT) ~ %s) THEN 1 ELSE 0 END),
           sum(CASE WHEN (("score" IS NOT NULL AND "score" < %s) OR ("score" IS NOT NULL AND "score" > %s))
                    THEN 1 ELSE 0 END),                                        -- range
           max("updated_at")                                                    -- freshness
    FROM "staging"."stg_leads"

preceded by ``SELECT * FROM <table> LIMIT 0`` (reads no row) to learn the table's columns, so that a rule on a missing
column becomes an "error" result while the others still run. The conditions are compiled by
``governance.criteria.compile_sql`` (accepted values use the field's registered type; patterns use the portable
regular-expression subset of the criteria language, on ``CAST(col AS TEXT)`` in PostgreSQL, ``REGEXP`` in SQLite);
every value travels as a parameter.

Measured numbers and thresholds:

* not_null (NULL rows), unique (``count(col) - count(DISTINCT col)``: rows beyond the first of each value),
  accepted_values (non-NULL values not in ``values``; ``null`` in the list is ignored: NULLs are never counted),
  pattern (non-NULL values not matching ``pattern``), range (values ``< min`` or ``> max``; bounds inclusive, either
  optional; ``min_exclusive``/``max_exclusive`` true make them strict), length (non-NULL values whose text has fewer
  than ``min_length`` or more than ``max_length`` characters): the violation count, compared with
  ``operator``/``value`` (default ``= 0``). With ``unit`` "percent" (or "%"), not_null, accepted_values, pattern and
  length compare the percentage of all rows instead, unique the percentage of the non-NULL values (observed is then
  that percentage; violations stays the count). For range the unit only labels min/max.
* row_count: ``count(*)``; ``operator`` and ``value`` are required (e.g. ``>= 1``).
* freshness: age in hours of ``max(field)`` at ``now`` (observed, rounded to 2 decimals); it fails when older than
  ``max_age_hours`` or when there is no value at all (empty table). Date-times without a time zone are UTC; on SQLite
  the column holds ISO 8601 text.
* custom_sql: ``query`` is one SELECT (or WITH … SELECT) returning the violating rows; no ``;`` (one trailing ``;`` is
  dropped). It runs on its own, bounded::

      SELECT count(*) FROM (SELECT 1 FROM (
      <query>
      ) AS q LIMIT 10001) AS b

  and its row count is compared with ``operator``/``value`` (default ``= 0``; ``unit`` is a label). When more than
  10,000 rows match, observed is ``"> 10000"`` and violations is None; a threshold beyond the cap then cannot be
  decided (status "error"). The read-only transaction and the statement timeout are the real guard: the syntax check
  only refuses obvious non-queries. The query is sent as written (no parameter substitution).

Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``between`` and ``not_between`` (``value`` ``[low, high]``,
inclusive). A rule passes when ``observed <operator> value`` holds.

Results
-------
``RuleResult`` per rule, in the order of ``rules``. Results hold counts and aggregates only, never a value read from
the data; messages of database errors are reduced to the error's class name (and SQLSTATE), except for classes of
errors whose text can only echo the query or the schema (syntax, unknown column, read-only violation…).
Every rule of the aggregate reports the duration of the aggregate query (do not add them up).
Error results (status "error"): unknown rule or bad params, a field not registered in ``columns`` or missing from the
table, a table not found (every rule that needs it), a failed query (every rule of the aggregate; e.g. the statement
timeout). ``run_data_checks`` itself raises only ``SourceUnavailable`` (connection lost) and ``ValueError`` for bad
arguments (a naive ``now``).

State conformance
-----------------
``run_state_conformance`` counts, in ONE query (after the ``LIMIT 0`` probe), the rows claiming each state value and
those among them that do not satisfy the state's criteria (``criteria.compile_sql``, never NULL)::

    SELECT sum(CASE WHEN "status" = %s THEN 1 ELSE 0 END),
           sum(CASE WHEN "status" = %s AND NOT (<criteria of 'mql'>) THEN 1 ELSE 0 END), …
    FROM "staging"."stg_leads" WHERE "status" IN (%s, …)

It fails closed: anything that prevents a count (table or state column missing, invalid criteria, a criteria field
missing from the table, the query failing or timing out) raises ``CheckSetupError``; a lost connection raises
``SourceUnavailable``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal
from typing import Any, Literal

from governance.criteria import (
    CriteriaError,
    compile_sql,
    qmark_sql,
    referenced_fields,
    register_sqlite_functions,
    utc_now,
)

__all__ = [
    "COLUMN_RULES",
    "CUSTOM_SQL_CAP",
    "OPERATORS",
    "RULES",
    "CheckSetupError",
    "Rule",
    "RuleResult",
    "Source",
    "SourceUnavailable",
    "open_source",
    "run_data_checks",
    "run_state_conformance",
]

RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "length", "row_count", "freshness",
         "custom_sql")
COLUMN_RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "length", "freshness")
_COUNTED_RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "length")  # a violation count
_PERCENT_RULES = ("not_null", "unique", "accepted_values", "pattern", "length")
GUARANTEED_RULES = ("not_null", "unique")  # what a source's constraints can guarantee
_PERCENT_UNITS = ("percent", "%")
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "between", "not_between")
CUSTOM_SQL_CAP = 10_000  # custom queries count at most this many rows (+1 to know that there are more)
_SQLITE_PROGRESS_STEPS = 1_000  # SQLite VM instructions between two looks at the clock

Vendor = Literal["postgresql", "sqlite"]
Status = Literal["pass", "fail", "error"]


class SourceUnavailable(Exception):
    """The source could not be reached (refused, unknown host, timeout, authentication, too many connections,
    connection lost): transient, retry later. The message never contains credentials."""


class CheckSetupError(ValueError):
    """Something that cannot be checked as given (bad DSN, unknown table or column, bad params): permanent."""


@dataclass(eq=False)
class Source:
    """An open, read-only, time-limited connection to a dataset's source.

    ``connection`` is the DB-API connection (psycopg 3 or sqlite3); ``label`` names it without credentials
    ("PostgreSQL at db.example:5432/dwh", "SQLite file /data/app.db").
    """

    vendor: Vendor
    connection: Any
    statement_timeout_ms: int
    label: str
    _deadline: float = _field(default=math.inf, init=False, repr=False)
    _tables: dict[str, tuple[str, dict[str, str]]] = _field(default_factory=dict, init=False, repr=False)


@dataclass
class Rule:
    """One quality rule of a contract: ``rule`` one of RULES, ``params`` as in the ODCS terms."""

    key: str
    rule: str
    field: str | None = None
    params: dict = _field(default_factory=dict)
    severity: str | None = None
    term: str | None = None  # the contract term it comes from ("required", "logicalTypeOptions.pattern"...)


@dataclass
class RuleResult:
    """The outcome of one rule: counts and aggregates only, never a value of the data."""

    key: str
    rule: str
    field: str | None
    status: Status
    observed: int | float | str | None
    threshold: str | None
    violations: int | None
    duration_ms: float
    message: str
    term: str | None = None  # the rule's term, as given in Rule.term
    guaranteed_by: str | None = None  # the source constraint that guarantees it: no data was scanned
    duplicated_values: int | None = None  # unique: distinct values occurring more than once


# --------------------------------------------------------------------------------------------------------------------
# Opening a source


@contextmanager
def open_source(dsn: str, *, statement_timeout_ms: int = 30000, connect_timeout_s: int = 5) -> Iterator[Source]:
    """Open ``dsn`` read-only with a statement timeout; yield a Source and close it afterwards.

    ``postgresql://user:password@host:port/dbname?…`` (or ``postgres://``) and ``sqlite:///absolute/path.db``.
    Raises SourceUnavailable when the source cannot be reached, CheckSetupError when the DSN cannot be used.
    (libpq waits at least 2 seconds for a connection, whatever ``connect_timeout_s`` says.)
    """
    for name, value in (("statement_timeout_ms", statement_timeout_ms), ("connect_timeout_s", connect_timeout_s)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer")
    if not isinstance(dsn, str) or ":" not in dsn:
        raise CheckSetupError("the DSN must be a URI: postgresql://…, postgres://… or sqlite:///absolute/path.db")
    scheme = dsn.split(":", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        source = _open_postgresql(dsn, statement_timeout_ms, connect_timeout_s)
    elif scheme == "sqlite":
        source = _open_sqlite(dsn, statement_timeout_ms, connect_timeout_s)
    else:
        shown = f" {scheme!r}" if re.fullmatch(r"[a-z][a-z0-9+.-]{0,19}", scheme) else ""
        raise CheckSetupError(f"unsupported source{shown}: use postgresql://, postgres:// or sqlite:///absolute/path")
    try:
        yield source
    finally:
        try:
            source.connection.close()
        except Exception:  # closing a broken connection must not hide the real error
            pass


def _open_postgresql(dsn: str, timeout_ms: int, connect_timeout_s: int) -> Source:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    # Errors are raised outside the except blocks, so that no driver exception (whose text may quote the DSN)
    # stays chained to ours as __context__.
    info = None
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.Error:
        pass
    if info is None:
        raise CheckSetupError("the PostgreSQL DSN is malformed (details withheld: they would show the DSN)")
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    label = f"PostgreSQL at {host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or '?'}"
    extra: dict[str, Any] = {"connect_timeout": connect_timeout_s}
    if "application_name" not in info:
        extra["application_name"] = "accord-checks"
    failure = None
    try:
        connection = psycopg.connect(dsn, autocommit=True, prepare_threshold=None, **extra)
    except psycopg.Error as exc:
        failure = _connect_failure(str(exc))
    if failure is not None:
        raise SourceUnavailable(f"cannot connect to {label}: {failure}")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")
            cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
            cursor.execute("SET TimeZone = 'UTC'")
        connection.autocommit = False
        connection.read_only = True  # every transaction starts with BEGIN READ ONLY
    except psycopg.Error as exc:
        connection.close()
        raise SourceUnavailable(f"cannot prepare a read-only session on {label} ({type(exc).__name__})") from None
    return Source("postgresql", connection, timeout_ms, label)


def _connect_failure(text: str) -> str:
    """A reason for a failed connection, without the driver's text (it can name the user)."""
    text = text.lower()
    reasons = (
        (("password authentication failed", "authentication failed", "no password supplied", "pg_hba.conf",
          "role \"", "password is required"), "authentication failed or not allowed"),
        (("too many clients", "too many connections", "remaining connection slots"), "too many connections"),
        (("could not translate host name", "name or service not known", "nodename nor servname",
          "temporary failure in name resolution"), "host name not found"),
        (("timeout expired", "timed out"), "connection timed out"),
        (("connection refused",), "connection refused"),
        (("database \"",), "database not found"),
        (("starting up", "shutting down", "in recovery"), "server not accepting connections"),
        (("ssl",), "SSL negotiation failed"),
        (("no route to host", "network is unreachable"), "host unreachable"),
    )
    for needles, reason in reasons:
        if any(needle in text for needle in needles):
            return reason
    return "connection failed"


def _open_sqlite(dsn: str, timeout_ms: int, connect_timeout_s: int) -> Source:
    parts = urllib.parse.urlsplit(dsn)
    if parts.netloc or parts.query or parts.fragment or not parts.path.startswith("/"):
        raise CheckSetupError("a SQLite DSN is sqlite:///absolute/path.db (an absolute path, no host or options)")
    path = "/" + urllib.parse.unquote(parts.path).lstrip("/")
    label = f"SQLite file {path}"
    if not os.path.isfile(path):
        raise SourceUnavailable(f"cannot open {label}: no such file")
    try:
        connection = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True,
                                     timeout=connect_timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise SourceUnavailable(f"cannot open {label} ({type(exc).__name__})") from None
    source = Source("sqlite", connection, timeout_ms, label)

    def past_deadline() -> int:
        return 1 if time.monotonic() > source._deadline else 0

    try:
        connection.set_progress_handler(past_deadline, _SQLITE_PROGRESS_STEPS)
        register_sqlite_functions(connection)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database at all?
    except sqlite3.Error as exc:
        connection.close()
        text = str(exc).lower()
        if "not a database" in text or "malformed" in text:
            raise CheckSetupError(f"{label} is not a readable SQLite database") from None
        raise SourceUnavailable(f"cannot read {label} ({type(exc).__name__}: "
                                f"{'locked' if 'locked' in text or 'busy' in text else 'unreadable'})") from None
    return source


# --------------------------------------------------------------------------------------------------------------------
# Executing one statement


class _QueryFailed(Exception):
    def __init__(self, message: str, *, missing_table: bool = False, timed_out: bool = False):
        super().__init__(message)
        self.message, self.missing_table, self.timed_out = message, missing_table, timed_out
        self.duration_ms = 0.0


@dataclass
class _Outcome:
    row: tuple | None
    columns: list[str]
    duration_ms: float


# Error classes whose text echoes the query or the schema, never the data: shown in full.
_PG_SAFE_SQLSTATE_CLASSES = ("42", "25", "0A", "3F")
_SQLITE_SAFE_MESSAGES = ("no such ", "near ", "syntax error", "incomplete input", "ambiguous column", "readonly",
                         "read-only", "attempt to write", "wrong number of arguments", "misuse of", "too many ",
                         "sub-select returns", "incorrect number of bindings", "not authorized", "interrupted")


def _execute(source: Source, sql: str, params: Sequence | None) -> _Outcome:
    """Run one statement alone (PostgreSQL: in its own read-only transaction, rolled back) and fetch one row.

    ``params`` None sends ``sql`` as written; otherwise it uses ``%s`` placeholders and ``%%`` (criteria style).
    Raises _QueryFailed with a message that holds no data, or SourceUnavailable when the connection is lost.
    """
    connection = source.connection
    if source.vendor == "sqlite" and params is not None:
        sql = qmark_sql(sql)
    started = time.perf_counter()
    source._deadline = time.monotonic() + source.statement_timeout_ms / 1000
    cursor = None
    try:
        cursor = connection.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, list(params))
        columns = [column[0] for column in cursor.description or ()]
        row = cursor.fetchone() if cursor.description else None
        return _Outcome(None if row is None else tuple(row), columns, (time.perf_counter() - started) * 1000)
    except Exception as exc:
        timed_out = time.monotonic() >= source._deadline
        failure = _classify(source, exc, timed_out)
        if failure is None:
            raise
        failure.duration_ms = (time.perf_counter() - started) * 1000
        raise failure from None
    finally:
        source._deadline = math.inf
        if cursor is not None:
            try:
                cursor.close()
            except Exception:
                pass
        if source.vendor == "postgresql":
            _end_transaction(source)


def _end_transaction(source: Source) -> None:
    connection = source.connection
    try:
        connection.rollback()
    except Exception as exc:
        if connection.closed or getattr(connection, "broken", False):
            raise SourceUnavailable(f"lost the connection to {source.label} ({type(exc).__name__})") from None
        raise


def _classify(source: Source, exc: Exception, timed_out: bool) -> _QueryFailed | None:
    name = type(exc).__name__
    limit = f"the statement timeout of {source.statement_timeout_ms} ms"
    if source.vendor == "postgresql":
        import psycopg

        if not isinstance(exc, psycopg.Error):
            return None
        connection = source.connection
        if connection.closed or getattr(connection, "broken", False):
            raise SourceUnavailable(f"lost the connection to {source.label} ({name})") from None
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate == "57014":
            return _QueryFailed(f"the query was cancelled, most likely by {limit} ({name})", timed_out=True)
        missing = sqlstate in ("42P01", "3F000")  # undefined table, invalid schema name
        primary = getattr(getattr(exc, "diag", None), "message_primary", None)
        if primary and sqlstate[:2] in _PG_SAFE_SQLSTATE_CLASSES:
            return _QueryFailed(f"{name} [{sqlstate}]: {primary}", missing_table=missing)
        return _QueryFailed(f"the query failed: {name}" + (f" [{sqlstate}]" if sqlstate else ""),
                            missing_table=missing)
    if not isinstance(exc, sqlite3.Error):
        return None
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and text == "interrupted" and timed_out:
        return _QueryFailed(f"the query was interrupted by {limit} ({name})", timed_out=True)
    if isinstance(exc, sqlite3.OperationalError) and ("database is locked" in text or "disk i/o" in text.lower()):
        raise SourceUnavailable(f"cannot read {source.label} ({name}: {'locked' if 'locked' in text else 'I/O'})")
    missing = text.startswith("no such table")
    if text.lower().startswith(_SQLITE_SAFE_MESSAGES):
        return _QueryFailed(f"{name}: {text}", missing_table=missing)
    return _QueryFailed(f"the query failed: {name}", missing_table=missing)


# --------------------------------------------------------------------------------------------------------------------
# Tables and columns


def _quote(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise CheckSetupError(f"not a usable identifier: {name!r}")
    # Quotes doubled (SQL); % doubled because the text goes through %s-style parameter substitution.
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


def _table_candidates(vendor: str, table: str) -> list[str]:
    """Quoted references to try, in order, for a plain or dotted table name."""
    if not isinstance(table, str) or not table.strip() or "\x00" in table:
        raise CheckSetupError("the table must be a non-empty name such as 'stg_leads' or 'staging.stg_leads'")
    whole = _quote(table)
    if "." not in table:
        return [whole]
    if vendor == "sqlite":  # a table literally named "a.b" first, then table b of the attached database a
        schema, _, name = table.partition(".")
        return [whole] + ([f"{_quote(schema)}.{_quote(name)}"] if schema and name else [])
    parts = table.split(".")
    if len(parts) > 3 or not all(parts):
        return [whole]
    return [".".join(_quote(part) for part in parts), whole]


def _describe_table(source: Source, table: str) -> tuple[str, dict[str, str]]:
    """(quoted reference, {lookup key → column name}) of ``table``: a ``LIMIT 0`` probe that reads no row.

    Raises CheckSetupError when the table cannot be found or read.
    """
    if table in source._tables:
        return source._tables[table]
    failure: _QueryFailed | None = None
    for reference in _table_candidates(source.vendor, table):
        try:
            outcome = _execute(source, f"SELECT * FROM {reference} LIMIT 0", [])
        except _QueryFailed as exc:
            if exc.missing_table:
                continue
            failure = exc
            break
        names = {_column_key(source.vendor, name): name for name in outcome.columns}
        source._tables[table] = (reference, names)
        return reference, names
    if failure is None:
        raise CheckSetupError(f"table {table!r} not found in {source.label}")
    raise CheckSetupError(f"cannot read table {table!r}: {failure.message}")


def _column_key(vendor: str, name: str) -> str:
    return name.lower() if vendor == "sqlite" else name  # SQLite identifiers ignore case


def _physical_column(source: Source, names: dict[str, str], field_name: str, columns: Mapping[str, str],
                     table: str) -> str:
    if not isinstance(field_name, str) or not field_name:
        raise CheckSetupError("this rule needs a field")
    if field_name not in columns:
        raise CheckSetupError(f"field {field_name!r} is not registered for this dataset")
    physical = names.get(_column_key(source.vendor, field_name))
    if physical is None:
        raise CheckSetupError(f"column {field_name!r} not found in table {table!r}")
    return physical


# --------------------------------------------------------------------------------------------------------------------
# Thresholds


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Threshold:
    operator: str
    value: Any  # a number, or (low, high)
    unit: str | None = None

    def holds(self, observed: float) -> bool:
        op, value = self.operator, self.value
        if op in ("between", "not_between"):
            inside = value[0] <= observed <= value[1]
            return inside if op == "between" else not inside
        return {"=": observed == value, "!=": observed != value, ">": observed > value, ">=": observed >= value,
                "<": observed < value, "<=": observed <= value}[op]

    def numbers(self) -> tuple:
        return tuple(self.value) if self.operator in ("between", "not_between") else (self.value,)

    @property
    def text(self) -> str:
        if self.operator in ("between", "not_between"):
            low, high = self.value
            text = f"{self.operator.replace('_', ' ')} {_fmt(low)} and {_fmt(high)}"
        else:
            text = f"{self.operator} {_fmt(self.value)}"
        return f"{text} {self.unit}" if self.unit else text


def _threshold(rule: Rule, *, required: bool) -> _Threshold:
    params = _require_params(rule)
    unit = params.get("unit") if isinstance(params.get("unit"), str) and params.get("unit") else None
    if "operator" not in params and "value" not in params:
        if required:
            raise CheckSetupError(f"{rule.rule} needs params 'operator' and 'value' (e.g. operator '>=', value 1)")
        return _Threshold("=", 0, unit)
    operator = params.get("operator")
    if operator not in OPERATORS:
        raise CheckSetupError(f"params.operator must be one of {', '.join(OPERATORS)}")
    if "value" not in params:
        raise CheckSetupError(f"params.operator {operator!r} needs a params.value")
    value = params["value"]
    if operator in ("between", "not_between"):
        if not (isinstance(value, list | tuple) and len(value) == 2 and all(_is_number(v) for v in value)
                and value[0] <= value[1]):
            raise CheckSetupError(f"params.value must be [low, high] (numbers, low <= high) for {operator!r}")
        return _Threshold(operator, (value[0], value[1]), unit)
    if not _is_number(value):
        raise CheckSetupError(f"params.value must be a number for {operator!r}")
    return _Threshold(operator, value, unit)


# --------------------------------------------------------------------------------------------------------------------
# Rules of the aggregate


@dataclass
class _Planned:
    index: int
    rule: Rule
    expression: str | None  # None: uses count(*) (row_count)
    params: list
    threshold: _Threshold | None
    percent: bool = False
    max_age_hours: float | None = None
    slot: int = 0
    quoted: str | None = None  # unique: the quoted column (its duplicated values are counted afterwards)
    of_values: str | None = None  # unique in percent: measured against the non-NULL values, count(col)
    of_slot: int = 0


def _require_params(rule: Rule) -> dict:
    if rule.params is None:
        return {}
    if not isinstance(rule.params, Mapping):
        raise CheckSetupError("params must be a mapping")
    return dict(rule.params)


def _compiled(tree: dict, fields: Mapping[str, str], vendor: str, physical: dict[str, str],
              now: dt.datetime, what: str) -> tuple[str, list]:
    try:
        return compile_sql(tree, fields, vendor=vendor, columns=physical, now=now)
    except CriteriaError as exc:
        raise CheckSetupError(f"{what}: " + "; ".join(message for _path, message in exc.errors)) from None


def _plan(index: int, rule: Rule, source: Source, names: dict[str, str], columns: Mapping[str, str],
          table: str, now: dt.datetime) -> _Planned:
    params = _require_params(rule)
    kind = rule.rule
    if kind == "row_count":
        return _Planned(index, rule, None, [], _threshold(rule, required=True))
    field_name = rule.field
    column = _physical_column(source, names, field_name, columns, table)
    quoted = _quote(column)
    physical = {field_name: column}
    vendor = source.vendor
    if kind == "freshness":
        hours = params.get("max_age_hours")
        if not _is_number(hours) or hours <= 0:
            raise CheckSetupError("freshness needs params.max_age_hours, a positive number")
        return _Planned(index, rule, f"max({quoted})", [], None, max_age_hours=float(hours))
    threshold = _threshold(rule, required=False)
    percent = kind in _PERCENT_RULES and (threshold.unit or "").lower() in _PERCENT_UNITS
    if kind == "not_null":
        return _Planned(index, rule, f"count(*) - count({quoted})", [], threshold, percent)
    if kind == "unique":
        return _Planned(index, rule, f"count({quoted}) - count(DISTINCT {quoted})", [], threshold, percent,
                        quoted=quoted, of_values=f"count({quoted})" if percent else None)
    if kind == "accepted_values":
        values = params.get("values")
        if not isinstance(values, list | tuple):
            raise CheckSetupError("accepted_values needs params.values, a list of values")
        values = [value for value in values if value is not None]
        if values:
            accepted, sql_params = _compiled({"field": field_name, "op": "in", "value": values}, columns, vendor,
                                             physical, now, f"cannot compare {field_name!r} with the accepted values")
            violation = f"{quoted} IS NOT NULL AND NOT {accepted}"
        else:
            violation, sql_params = f"{quoted} IS NOT NULL", []
        return _Planned(index, rule, f"sum(CASE WHEN {violation} THEN 1 ELSE 0 END)", sql_params, threshold, percent)
    if kind == "pattern":
        pattern = params.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise CheckSetupError("pattern needs params.pattern, a regular expression")
        # The pattern applies to the text of the value, whatever the field's type.
        matches, sql_params = _compiled({"field": field_name, "op": "matches", "value": pattern},
                                        {field_name: "text"}, vendor, physical, now, "unusable pattern")
        violation = f"{quoted} IS NOT NULL AND NOT {matches}"
        return _Planned(index, rule, f"sum(CASE WHEN {violation} THEN 1 ELSE 0 END)", sql_params, threshold, percent)
    if kind == "range":
        bounds = {key: params[key] for key in ("min", "max") if params.get(key) is not None}
        if not bounds or not all(_is_number(value) or isinstance(value, str) for value in bounds.values()):
            raise CheckSetupError("range needs params.min, params.max or both (numbers)")
        if "min" in bounds and "max" in bounds and _is_number(bounds["min"]) and _is_number(bounds["max"]) \
                and bounds["min"] > bounds["max"]:
            raise CheckSetupError("range: params.min is greater than params.max")
        below = "lte" if params.get("min_exclusive") is True else "lt"
        above = "gte" if params.get("max_exclusive") is True else "gt"
        tests = ([{"field": field_name, "op": below, "value": bounds["min"]}] if "min" in bounds else []) + \
                ([{"field": field_name, "op": above, "value": bounds["max"]}] if "max" in bounds else [])
        outside, sql_params = _compiled({"any": tests}, columns, vendor, physical, now,
                                        f"cannot compare {field_name!r} with the range")
        return _Planned(index, rule, f"sum(CASE WHEN {outside} THEN 1 ELSE 0 END)", sql_params, threshold)
    if kind == "length":
        limits = {key: params[key] for key in ("min_length", "max_length") if params.get(key) is not None}
        if not limits or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in limits.values()):
            raise CheckSetupError("length needs params.min_length, params.max_length or both (whole numbers >= 0)")
        size = ("char_length" if vendor == "postgresql" else "length") + f"(CAST({quoted} AS TEXT))"
        tests = ([f"{size} < %s"] if "min_length" in limits else []) + ([f"{size} > %s"] if "max_length" in limits
                                                                          else [])
        violation = f"{quoted} IS NOT NULL AND ({' OR '.join(tests)})"
        return _Planned(index, rule, f"sum(CASE WHEN {violation} THEN 1 ELSE 0 END)", list(limits.values()),
                        threshold, percent)
    raise CheckSetupError(f"unknown rule {kind!r}; rules are: {', '.join(RULES)}")  # pragma: no cover


def _error(rule: Rule, message: str, duration_ms: float = 0.0, threshold: str | None = None) -> RuleResult:
    return RuleResult(rule.key, rule.rule, rule.field, "error", None, threshold, None, round(duration_ms, 3), message,
                      rule.term)


def _finish(planned: _Planned, row: tuple, duration_ms: float, now: dt.datetime) -> RuleResult:
    rule, kind = planned.rule, planned.rule.rule
    rows = int(row[0] or 0)
    ms = round(duration_ms, 3)
    if kind == "freshness":
        return _finish_freshness(planned, row[planned.slot], rows, ms, now)
    threshold = planned.threshold
    assert threshold is not None
    if kind == "row_count":
        status: Status = "pass" if threshold.holds(rows) else "fail"
        return RuleResult(rule.key, kind, rule.field, status, rows, threshold.text, None, ms,
                          f"{rows} rows; expected {threshold.text}", rule.term)
    violations = int(row[planned.slot] or 0)
    observed: int | float = violations
    base = int(row[planned.of_slot] or 0) if planned.of_values else rows
    if planned.percent:
        observed = round(100 * violations / base, 4) if base else 0.0
    status = "pass" if threshold.holds(observed) else "fail"
    what = {
        "not_null": "null values",
        "unique": "duplicate values (rows beyond the first of each value)",
        "accepted_values": "values not among the accepted values",
        "pattern": "values not matching the pattern",
        "range": "values outside the range" + _range_text(rule.params),
        "length": "values of a length outside" + _length_text(rule.params),
    }[kind]
    share = f" ({_fmt(observed)} % of {base} {'non-null values' if planned.of_values else 'rows'})" \
        if planned.percent else f" in {rows} rows"
    return RuleResult(rule.key, kind, rule.field, status, observed, threshold.text, violations, ms,
                      f"{violations} {what}{share}; expected {threshold.text}", rule.term)


def _guarantee(source: Source, names: dict[str, str], rule: Rule,
               guarantees: Mapping[tuple[str, str], str] | None) -> str | None:
    if not guarantees or rule.rule not in GUARANTEED_RULES or not isinstance(rule.field, str):
        return None
    return guarantees.get((rule.rule, names.get(_column_key(source.vendor, rule.field), "")))


def _guaranteed(planned: _Planned, reason: str) -> RuleResult:
    rule, threshold = planned.rule, planned.threshold
    assert threshold is not None
    observed: int | float = 0.0 if planned.percent else 0
    status: Status = "pass" if threshold.holds(observed) else "fail"
    return RuleResult(rule.key, rule.rule, rule.field, status, observed, threshold.text, 0, 0.0,
                      f"guaranteed by the source: {reason} (not computed); expected {threshold.text}", rule.term,
                      guaranteed_by=reason)


def _count_duplicated_values(source: Source, reference: str, found: list[tuple[_Planned, RuleResult]]) -> None:
    """Set ``duplicated_values`` (values occurring more than once) on unique results that found duplicates."""
    columns = list(dict.fromkeys(item.quoted for item, _result in found))
    if not columns:
        return
    counts = ", ".join(f"(SELECT count(*) FROM (SELECT {column} FROM {reference} WHERE {column} IS NOT NULL "
                       f"GROUP BY {column} HAVING count(*) > 1) AS d{i})" for i, column in enumerate(columns))
    try:
        outcome = _execute(source, f"SELECT {counts}", [])
    except _QueryFailed as failure:
        for _item, result in found:
            result.message += f"; the duplicated values could not be counted ({failure.message})"
        return
    by_column = dict(zip(columns, outcome.row or (), strict=False))
    for item, result in found:
        value = by_column.get(item.quoted)
        result.duplicated_values = None if value is None else int(value)
        result.message = result.message.replace(
            "duplicate values (rows beyond the first of each value)",
            f"rows beyond the first of each value ({result.duplicated_values} duplicated values)")


def _length_text(params: Mapping) -> str:
    low, high = params.get("min_length"), params.get("max_length")
    if low is not None and high is not None:
        return f" [{low}, {high}] characters"
    return f" (>= {low} characters)" if low is not None else f" (<= {high} characters)"


def _range_text(params: Mapping) -> str:
    low, high = params.get("min"), params.get("max")
    strict_low, strict_high = params.get("min_exclusive") is True, params.get("max_exclusive") is True
    if low is not None and high is not None:
        return f" {'(' if strict_low else '['}{_fmt(low)}, {_fmt(high)}{')' if strict_high else ']'}"
    if low is not None:
        return f" ({'>' if strict_low else '>='} {_fmt(low)})"
    return f" ({'<' if strict_high else '<='} {_fmt(high)})"


def _finish_freshness(planned: _Planned, newest: Any, rows: int, ms: float, now: dt.datetime) -> RuleResult:
    rule = planned.rule
    limit = planned.max_age_hours
    threshold = f"≤ {_fmt(limit)} h"
    if newest is None:
        what = "the table is empty" if rows == 0 else f"every value of {rule.field!r} is null"
        return RuleResult(rule.key, rule.rule, rule.field, "fail", None, threshold, None, ms,
                          f"no value to measure freshness: {what}", rule.term)
    moment = _as_utc(newest)
    if moment is None:
        return RuleResult(rule.key, rule.rule, rule.field, "error", None, threshold, None, ms,
                          f"the newest value of {rule.field!r} is not a date-time ({type(newest).__name__})")
    age = round((now - moment).total_seconds() / 3600, 2)
    status: Status = "pass" if age <= limit else "fail"
    return RuleResult(rule.key, rule.rule, rule.field, status, age, threshold, None, ms,
                      f"the newest {rule.field} is {_fmt(age)} h old; expected {threshold}", rule.term)


def _as_utc(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return None


# --------------------------------------------------------------------------------------------------------------------
# Custom SQL


def _custom_query(rule: Rule) -> str:
    params = _require_params(rule)
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise CheckSetupError("custom_sql needs params.query, a SELECT statement")
    if "\x00" in query:
        raise CheckSetupError("the custom query must not contain the NUL character")
    text = query.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if ";" in text:
        raise CheckSetupError("the custom query must be a single SELECT statement: no ';'")
    head = text
    while True:
        head = head.lstrip()
        if head.startswith("--"):
            head = head.partition("\n")[2]
        elif head.startswith("/*"):
            head = head.partition("*/")[2]
        else:
            break
    if not re.match(r"\(*\s*(select|with)\b", head, re.IGNORECASE):
        raise CheckSetupError("the custom query must be a SELECT (or WITH … SELECT) statement")
    return text


def _run_custom(source: Source, rule: Rule, query: str) -> RuleResult:
    threshold = _threshold(rule, required=False)
    # Newlines around the query: a trailing -- comment must not swallow the wrapper.
    sql = f"SELECT count(*) FROM (SELECT 1 FROM (\n{query}\n) AS q LIMIT {CUSTOM_SQL_CAP + 1}) AS b"
    try:
        outcome = _execute(source, sql, None)
    except _QueryFailed as failure:
        return _error(rule, f"the custom query failed: {failure.message}", failure.duration_ms, threshold.text)
    ms = round(outcome.duration_ms, 3)
    count = int(outcome.row[0]) if outcome.row and outcome.row[0] is not None else 0
    if count <= CUSTOM_SQL_CAP:
        status: Status = "pass" if threshold.holds(count) else "fail"
        return RuleResult(rule.key, rule.rule, rule.field, status, count, threshold.text, count, ms,
                          f"the query returned {count} rows; expected {threshold.text}")
    observed = f"> {CUSTOM_SQL_CAP}"
    if any(number > CUSTOM_SQL_CAP for number in threshold.numbers()):
        return RuleResult(rule.key, rule.rule, rule.field, "error", observed, threshold.text, None, ms,
                          f"the query returned more than {CUSTOM_SQL_CAP} rows (counting stops there): "
                          f"cannot decide {threshold.text}")
    # Every count above the cap compares with the threshold as the cap + 1 does.
    status = "pass" if threshold.holds(CUSTOM_SQL_CAP + 1) else "fail"
    return RuleResult(rule.key, rule.rule, rule.field, status, observed, threshold.text, None, ms,
                      f"the query returned more than {CUSTOM_SQL_CAP} rows; expected {threshold.text}")


# --------------------------------------------------------------------------------------------------------------------
# Entry points


def run_data_checks(
    source: Source,
    *,
    table: str,
    columns: Mapping[str, str],
    rules: Sequence[Rule],
    now: dt.datetime | None = None,
    guarantees: Mapping[tuple[str, str], str] | None = None,
) -> list[RuleResult]:
    """Run ``rules`` against ``table`` of ``source``; one RuleResult per rule, in order.

    ``table`` is a plain or schema-qualified name ("staging.stg_leads"); ``columns`` maps the registered field names
    to their data types. The column rules and row_count run in one aggregated SELECT (after a ``LIMIT 0`` probe),
    each custom_sql rule in its own bounded query. Problems with a rule, a column or the table, and failed queries,
    are "error" results; raises SourceUnavailable if the connection is lost, ValueError for a naive ``now``.

    ``guarantees`` maps (rule, column) — ``("not_null", "email")``, ``("unique", "lead_id")``, the column as the table
    names it — to the source constraint that guarantees it (``"primary key (lead_id)"``): such a rule passes with 0
    violations, ``guaranteed_by`` set, without being computed. A unique rule that finds duplicates also reports how
    many distinct values are duplicated (``duplicated_values``), counted by one more statement for all such columns.
    """
    now = utc_now(now)
    results: dict[int, RuleResult] = {}
    planned: list[_Planned] = []
    custom: list[tuple[int, Rule, str]] = []
    table_rules = [(i, rule) for i, rule in enumerate(rules) if rule.rule in COLUMN_RULES or rule.rule == "row_count"]
    for i, rule in enumerate(rules):
        if rule.rule not in RULES:
            results[i] = _error(rule, f"unknown rule {rule.rule!r}; rules are: {', '.join(RULES)}")
        elif rule.rule == "custom_sql":
            try:
                custom.append((i, rule, _custom_query(rule)))
            except CheckSetupError as exc:
                results[i] = _error(rule, str(exc))
    reference = None
    if table_rules:
        try:
            reference, names = _describe_table(source, table)
        except CheckSetupError as exc:
            for i, rule in table_rules:
                results[i] = _error(rule, str(exc))
        else:
            for i, rule in table_rules:
                try:
                    item = _plan(i, rule, source, names, columns, table, now)
                except CheckSetupError as exc:
                    results[i] = _error(rule, str(exc))
                    continue
                reason = _guarantee(source, names, rule, guarantees)
                if reason is None:
                    planned.append(item)
                else:
                    results[i] = _guaranteed(item, reason)
    if planned:
        expressions, params = ["count(*)"], []
        slots: dict[tuple, int] = {}  # identical measures (two freshness limits on one column) are computed once
        for item in planned:
            for expression, expression_params, attribute in ((item.expression, item.params, "slot"),
                                                             (item.of_values, [], "of_slot")):
                if expression is None:
                    continue
                measure = (expression, *expression_params)
                if measure not in slots:
                    slots[measure] = len(expressions)
                    expressions.append(expression)
                    params.extend(expression_params)
                setattr(item, attribute, slots[measure])
        sql = "SELECT " + ", ".join(expressions) + " FROM " + reference
        try:
            outcome = _execute(source, sql, params)
        except _QueryFailed as failure:
            for item in planned:
                results[item.index] = _error(item.rule, f"the aggregate query failed: {failure.message}",
                                             failure.duration_ms, item.threshold.text if item.threshold else None)
        else:
            for item in planned:
                results[item.index] = _finish(item, outcome.row, outcome.duration_ms, now)
            _count_duplicated_values(source, reference, [(item, results[item.index]) for item in planned
                                                         if item.quoted and results[item.index].violations])
    for i, rule, query in custom:
        try:
            results[i] = _run_custom(source, rule, query)
        except CheckSetupError as exc:
            results[i] = _error(rule, str(exc))
    return [results[i] for i in range(len(rules))]


def run_state_conformance(
    source: Source,
    *,
    table: str,
    columns: Mapping[str, str],
    state_column: str,
    states: Mapping[str, dict],
    now: dt.datetime | None = None,
) -> dict[str, dict]:
    """For each state value, the rows claiming it and those among them not satisfying its criteria.

    ``states`` maps a value of ``state_column`` (e.g. "mql") to its approved criteria tree. One aggregated query
    (after a ``LIMIT 0`` probe); returns ``{value: {"claimed": n, "violations": m, "duration_ms": ms}}``.
    Raises CheckSetupError when any count cannot be made (unknown table or column, invalid criteria, a failed or
    timed-out query), SourceUnavailable when the connection is lost.
    """
    now = utc_now(now)
    if not states:
        return {}
    reference, names = _describe_table(source, table)
    state = _quote(_physical_column(source, names, state_column, columns, table))
    physical = {name: names[_column_key(source.vendor, name)] for name in columns
                if _column_key(source.vendor, name) in names}
    expressions: list[str] = []
    params: list = []
    for value, tree in states.items():
        if not isinstance(value, str) or not value:
            raise CheckSetupError("state values must be non-empty strings")
        try:
            condition, condition_params = compile_sql(tree, columns, vendor=source.vendor, columns=physical, now=now)
        except CriteriaError as exc:
            problems = "; ".join(f"{path or '(root)'}: {message}" for path, message in exc.errors)
            raise CheckSetupError(f"the criteria of state {value!r} cannot be used: {problems}") from None
        missing = sorted(referenced_fields(tree) - set(physical))
        if missing:
            raise CheckSetupError(f"the criteria of state {value!r} use fields missing from table {table!r}: "
                                  f"{', '.join(missing)}")
        expressions.append(f"sum(CASE WHEN {state} = %s THEN 1 ELSE 0 END)")
        expressions.append(f"sum(CASE WHEN {state} = %s AND NOT {condition} THEN 1 ELSE 0 END)")
        params += [value, value, *condition_params]
    marks = ", ".join("%s" for _ in states)
    sql = f"SELECT {', '.join(expressions)} FROM {reference} WHERE {state} IN ({marks})"
    try:
        outcome = _execute(source, sql, [*params, *states])
    except _QueryFailed as failure:
        raise CheckSetupError(f"the state-conformance query on {table!r} failed: {failure.message}") from None
    row = outcome.row or ()
    ms = round(outcome.duration_ms, 3)
    return {value: {"claimed": int(row[2 * i] or 0), "violations": int(row[2 * i + 1] or 0), "duration_ms": ms}
            for i, value in enumerate(states)}
