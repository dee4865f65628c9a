"""The entry-criteria language: validation, safe SQL, and SQL that selects what ``evaluate`` selects.

The cross-check builds one table of ~200 awkward rows (NULLs, unicode, LIKE and GLOB
metacharacters, newlines, timestamps a microsecond either side of the relative-date
cut-offs) on the test database — SQLite by default, PostgreSQL when DATABASE_URL is set —
and on a plain sqlite3 connection, runs every criterion there, and compares the ids with
the rows the Python evaluator accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import sqlite3
from decimal import Decimal

import pytest
from django.db import connection

from governance import criteria
from governance.criteria import (
    CriteriaError,
    compile_sql,
    describe,
    evaluate,
    field_family,
    qmark_sql,
    referenced_fields,
    register_sqlite_functions,
    validate,
)

NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)
WEEK_AGO = NOW - dt.timedelta(days=7)
US = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)

TABLE = "criteria_probe_rows"
FIELDS = {
    "id": "integer",
    "name": "varchar(255)",
    "email": "email",
    "status": "picklist",
    "score": "integer",
    "amount": "NUMERIC(12,2)",
    "ratio": "double precision",
    "active": "boolean",
    "created_at": "timestamptz",
    "seen_at": "timestamp",
    "born_on": "date",
    "note": "text",
    'q"uote%s': "string(40)",
}
COLUMNS = {"note": 'we"ird%col'}  # a field whose physical column has a quote and a percent sign
PG_TYPES = {
    "id": "integer PRIMARY KEY", "name": "varchar(255)", "email": "text", "status": "text", "score": "integer",
    "amount": "numeric(12,2)", "ratio": "double precision", "active": "boolean", "created_at": "timestamptz",
    "seen_at": "timestamp", "born_on": "date", "note": "text", 'q"uote%s': "varchar(40)",
}
# As Django declares them, so that its SQLite converters return the same Python types.
SQLITE_TYPES = {
    **PG_TYPES, "id": "integer PRIMARY KEY", "amount": "decimal", "ratio": "real", "active": "bool",
    "created_at": "datetime", "seen_at": "datetime",
}


# --- the rows --------------------------------------------------------------------------------

NAMES = [
    "Zoë", "zoë", "ZOË", "café", "cafe", "cafe au lait", "cafeteria", "O'Brien", 'Robert"); DROP TABLE x; --',
    "a%b", "a_b", "a*b", "a?b", "axb", "[x]", "[%", "back\\slash", "line1\nline2", "bye\n", "bye", "", " spaced ",
    "日本語", "emoji 🎉", "Ünïcödé", "R2D2", "route 66", "ab", "ba", "%s", None,
]
EMAILS = [
    "ann@example.com", "BOB@EXAMPLE.COM", "no-at-sign", "x@y", "a.b+c@sub.example.org", "δοκιμή@παράδειγμα.gr",
    "trailing@example.com\n", "", None,
]
STATUSES = ["mql", "sql", "raw", "MQL", "customer", "", None]
SCORES = [-1, 0, 1, 99, 100, 101, None]
AMOUNTS = [Decimal("0.10"), Decimal("0.00"), Decimal("100.00"), Decimal("-5.25"), Decimal("19.99"),
           Decimal("1234567.89"), None]
RATIOS = [0.1, 0.5, 1 / 3, -0.0, 2.5, 1e-9, None]
ACTIVES = [True, False, None]
CREATED = [
    WEEK_AGO, WEEK_AGO - US, WEEK_AGO + US, WEEK_AGO - SECOND, WEEK_AGO + SECOND,
    NOW - dt.timedelta(hours=1), NOW - dt.timedelta(hours=1) - US, NOW - dt.timedelta(hours=1) + US,
    NOW - dt.timedelta(minutes=30), NOW - dt.timedelta(minutes=30) - US, NOW, NOW + dt.timedelta(days=1),
    dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 31, 9, 30, tzinfo=dt.UTC), None,
]
BORN = [
    NOW.date() - dt.timedelta(days=7), NOW.date() - dt.timedelta(days=6), NOW.date() - dt.timedelta(days=8),
    NOW.date(), NOW.date() + dt.timedelta(days=1), dt.date(1990, 1, 1), dt.date(2025, 1, 31), None,
]
NOTES = ["n1", "%s", "?", "%%", None]
QUOTES = ["a", "b", None]


def _random_name(rng: random.Random) -> str:
    alphabet = "abcxyzABCé日_%*?[] \n'\"\\0123"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))


def _rows() -> list[dict]:
    rng = random.Random(20250615)
    rows = []
    for i in range(1, 201):
        def pick(values, i=i):
            return values[i % len(values)] if i <= 120 else rng.choice(values)

        created = pick(CREATED)
        if i > 120 and rng.random() < 0.5:
            created = NOW - dt.timedelta(seconds=rng.randint(-86_400, 30 * 86_400),
                                         microseconds=rng.choice([0, rng.randint(0, 999_999)]))
        seen = pick(CREATED[::-1])
        rows.append({
            "id": i,
            "name": pick(NAMES) if i <= 150 else _random_name(rng),
            "email": pick(EMAILS),
            "status": pick(STATUSES),
            "score": pick(SCORES) if i <= 120 else rng.choice([None, rng.randint(-50, 200)]),
            "amount": pick(AMOUNTS),
            "ratio": pick(RATIOS),
            "active": pick(ACTIVES),
            "created_at": created,
            "seen_at": None if seen is None else seen.replace(tzinfo=None),  # naive UTC
            "born_on": pick(BORN),
            "note": pick(NOTES),
            'q"uote%s': pick(QUOTES),
        })
    return rows


ROWS = _rows()
ALL_IDS = {row["id"] for row in ROWS}


def _quoted(name: str, *, percent: bool) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    return quoted.replace("%", "%%") if percent else quoted


def _columns() -> list[str]:
    return [COLUMNS.get(field, field) for field in FIELDS]


def _stored_for_sqlite(value):
    """What Django writes to SQLite: naive UTC ISO text, 0/1, decimal text."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ") if value.tzinfo else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _create_table(cursor, vendor: str, placeholder: str) -> None:
    types = PG_TYPES if vendor == "postgresql" else SQLITE_TYPES
    columns = ", ".join(f"{_quoted(COLUMNS.get(f, f), percent=False)} {types[f]}" for f in FIELDS)
    cursor.execute(f"CREATE TABLE {TABLE} ({columns})")
    names = ", ".join(_quoted(column, percent=placeholder == "%s") for column in _columns())
    marks = ", ".join([placeholder] * len(FIELDS))
    convert = (lambda v: v) if vendor == "postgresql" else _stored_for_sqlite
    cursor.executemany(f"INSERT INTO {TABLE} ({names}) VALUES ({marks})",
                       [[convert(row[f]) for f in FIELDS] for row in ROWS])


@pytest.fixture(scope="module")
def django_table(django_db_setup, django_db_blocker):
    """The rows in the test database (SQLite, or PostgreSQL with DATABASE_URL)."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        _create_table(cursor, connection.vendor, "%s")
    yield connection.vendor
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


@pytest.fixture(scope="module")
def plain_sqlite():
    """The rows in a plain sqlite3 database, as another tool would read them."""
    db = sqlite3.connect(":memory:")
    register_sqlite_functions(db)
    _create_table(db.cursor(), "sqlite", "?")
    yield db
    db.close()


# --- the criteria ----------------------------------------------------------------------------

def leaf(field, op, value=None, **extra):
    node = {"field": field, "op": op}
    if op not in ("is_null", "is_not_null"):
        node["value"] = value
    node.update(extra)
    return node


LEAVES = {
    # text
    "name eq unicode": leaf("name", "eq", "Zoë"),
    "name ne": leaf("name", "ne", "Zoë"),
    "name in": leaf("name", "in", ["café", "日本語", "O'Brien", ""]),
    "name not_in": leaf("name", "not_in", ["café", "Zoë", "bye"]),
    "email is_null": leaf("email", "is_null"),
    "email is_not_null": leaf("email", "is_not_null"),
    "status in": leaf("status", "in", ["mql", "sql"]),
    "status eq is case-sensitive": leaf("status", "eq", "MQL"),
    "status ne empty": leaf("status", "ne", ""),
    "name matches class": leaf("name", "matches", "^[A-Z]"),
    "name matches $ only at the very end": leaf("name", "matches", "e$"),
    "name matches . across a newline": leaf("name", "matches", "1.l"),
    "name matches word boundary": leaf("name", "matches", r"\bcafe\b"),
    "name matches not a boundary": leaf("name", "matches", r"caf\B"),
    "email matches address": leaf("email", "matches", r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"),
    "name matches unicode": leaf("name", "matches", "é|日本"),
    "name matches digits": leaf("name", "matches", r"[0-9]{2}|\d\D\d"),
    "name matches lookahead": leaf("name", "matches", "^(?=.*a)(?=.*b)"),
    "name matches hex escape": leaf("name", "matches", r"\x5b|\u00c9"),
    "name matches lazy and alternation": leaf("name", "matches", r"^(?:a|b)+?$"),
    "name matches \\Z and \\A": leaf("name", "matches", r"\Abye\Z"),
    "name matches escaped metacharacters": leaf("name", "matches", r"\*|\?|\\|\%"),
    "name matches negated class with ]": leaf("name", "matches", "^[^]a-z]+$"),
    "email like suffix": leaf("email", "like", "%@example.com"),
    "name like escaped percent": leaf("name", "like", "a\\%b"),
    "name like one character": leaf("name", "like", "a_b"),
    "name like literal star": leaf("name", "like", "a*b"),
    "name like literal bracket": leaf("name", "like", "[%"),
    "name like literal question mark": leaf("name", "like", "%?%"),
    "name like is case-sensitive": leaf("name", "like", "zo%"),
    "name like three characters": leaf("name", "like", "___"),
    "name like backslash": leaf("name", "like", "%\\\\%"),
    "name like across newline": leaf("name", "like", "line1_line2"),
    "note eq percent-s (odd column)": leaf("note", "eq", "%s"),
    "odd field name": leaf('q"uote%s', "eq", "a"),
    "odd field not_in": leaf('q"uote%s', "not_in", ["b"]),
    # numbers
    "score eq": leaf("score", "eq", 100),
    "score ne": leaf("score", "ne", 100),
    "score lt": leaf("score", "lt", 0),
    "score lte": leaf("score", "lte", 0),
    "score gt": leaf("score", "gt", 100),
    "score gte": leaf("score", "gte", 100),
    "score between": leaf("score", "between", [0, 100]),
    "score in": leaf("score", "in", [1, 99, 101]),
    "score not_in": leaf("score", "not_in", [0, 100]),
    "score gt float": leaf("score", "gt", 99.5),
    "amount eq float": leaf("amount", "eq", 0.1),
    "amount between": leaf("amount", "between", [0, 19.99]),
    "amount gte": leaf("amount", "gte", 100),
    "amount in": leaf("amount", "in", [0, 0.1, -5.25]),
    "amount is_null": leaf("amount", "is_null"),
    "ratio lt": leaf("ratio", "lt", 0.5),
    "ratio eq": leaf("ratio", "eq", 0.1),
    "ratio eq negative zero": leaf("ratio", "eq", 0),
    # booleans
    "active eq true": leaf("active", "eq", True),
    "active eq false": leaf("active", "eq", False),
    "active ne true": leaf("active", "ne", True),
    "active is_null": leaf("active", "is_null"),
    # date-times
    "created within_last days": leaf("created_at", "within_last", {"days": 7}),
    "created older_than days": leaf("created_at", "older_than", {"days": 7}),
    "created within_last hours": leaf("created_at", "within_last", {"hours": 1}),
    "created older_than hours": leaf("created_at", "older_than", {"hours": 1}),
    "created within_last minutes": leaf("created_at", "within_last", {"minutes": 30}),
    "seen within_last days": leaf("seen_at", "within_last", {"days": 7}),
    "seen older_than minutes": leaf("seen_at", "older_than", {"minutes": 30}),
    "born within_last days": leaf("born_on", "within_last", {"days": 7}),
    "born older_than days": leaf("born_on", "older_than", {"days": 7}),
    "created eq": leaf("created_at", "eq", "2025-01-31T09:30:00Z"),
    "created eq with microsecond": leaf("created_at", "eq", "2025-06-08T12:00:00.000001+00:00"),
    "created lt with offset": leaf("created_at", "lt", "2025-06-08T14:00:00+02:00"),
    "created lte": leaf("created_at", "lte", "2025-06-08T12:00:00Z"),
    "created gt": leaf("created_at", "gt", "2025-06-15T11:00:00"),
    "created gte": leaf("created_at", "gte", "2025-06-15T11:00:00.000001Z"),
    "created between": leaf("created_at", "between", ["2025-06-08T12:00:00Z", "2025-06-15T11:00:00.000001Z"]),
    "created in": leaf("created_at", "in", ["2025-06-08T12:00:00Z", "2000-01-01T00:00:00Z"]),
    "created ne": leaf("created_at", "ne", "2025-06-15T12:00:00Z"),
    "seen gte naive": leaf("seen_at", "gte", "2025-06-08T12:00:00"),
    "seen ne": leaf("seen_at", "ne", "2025-06-15T11:00:00"),
    "seen not_in": leaf("seen_at", "not_in", ["2025-06-15T11:00:00", "2025-06-08T11:59:59.999999"]),
    "born eq": leaf("born_on", "eq", "2025-06-08"),
    "born lt": leaf("born_on", "lt", "2025-06-08"),
    "born between": leaf("born_on", "between", ["2025-06-07", "2025-06-15"]),
    "born not_in": leaf("born_on", "not_in", ["2025-06-08", "1990-01-01"]),
}

GROUPS = {
    "not over a nullable comparison": {"not": leaf("score", "eq", 100)},
    "not over ne": {"not": leaf("status", "ne", "mql")},
    "not over not_in": {"not": leaf("name", "not_in", ["Zoë"])},
    "not over matches": {"not": leaf("name", "matches", "^[a-z]")},
    "not not": {"not": {"not": leaf("active", "eq", True)}},
    "mql record": {"all": [leaf("status", "in", ["mql", "MQL"]), leaf("email", "is_not_null"),
                           leaf("score", "gte", 1)]},
    "any": {"any": [leaf("active", "eq", True), leaf("score", "gt", 100), leaf("born_on", "lt", "2000-01-01")]},
    "not all": {"not": {"all": [leaf("active", "eq", True), leaf("created_at", "within_last", {"days": 7})]}},
    "not any": {"not": {"any": [leaf("email", "like", "%@example.com"), leaf("status", "is_null")]}},
    "single-item all": {"all": [leaf("ratio", "gt", 0)]},
    "nested": {"any": [
        {"all": [leaf("name", "is_not_null"), {"not": leaf("name", "matches", "a")}]},
        {"all": [{"any": [leaf("score", "between", [0, 10]), leaf("amount", "lt", 0)]},
                 {"not": leaf("seen_at", "within_last", {"hours": 1})}]},
    ]},
    "ten levels": {"all": [{"any": [{"not": {"all": [{"any": [{"not": {"all": [{"any": [{"not": (
        leaf("score", "lt", 50))}]}]}}]}]}}]}]},
}
CASES = {**LEAVES, **GROUPS}


def expected_ids(tree) -> set[int]:
    return {row["id"] for row in ROWS if evaluate(tree, row, now=NOW, fields=FIELDS)}


def select_ids(cursor, where: str, params: list, *, negate: bool = False) -> set[int]:
    cursor.execute(f"SELECT id FROM {TABLE} WHERE {'NOT ' if negate else ''}{where}", params)
    return {row[0] for row in cursor.fetchall()}


def random_leaf(rng: random.Random) -> dict:
    """A random condition, often with a boundary value taken from the rows themselves."""
    def moment(field):
        row_value = rng.choice(ROWS)[field]
        base = row_value if row_value is not None and rng.random() < 0.6 else NOW - dt.timedelta(
            seconds=rng.randint(-86_400, 40 * 86_400))
        base += rng.choice([dt.timedelta(0), dt.timedelta(0), US, -US, SECOND])
        if field == "born_on":
            return (base if isinstance(base, dt.date) and not isinstance(base, dt.datetime) else base.date()
                    ).isoformat()
        return base.isoformat() if rng.random() < 0.5 or isinstance(base, dt.datetime) and base.tzinfo is None \
            else base.astimezone(dt.timezone(dt.timedelta(hours=rng.randint(-11, 12)))).isoformat()

    def number(field):
        row_value = rng.choice(ROWS)[field]
        if row_value is not None and rng.random() < 0.6:
            return float(row_value) if field != "score" else row_value
        return rng.choice([rng.randint(-60, 210), round(rng.uniform(-10, 150), 2)])

    def like_pattern():
        pieces = ["%", "_", "a", "b", "é", "日", "*", "?", "[", "]", "\\%", "\\_", "\\\\", "\n", " ", "'"]
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))

    def regex():
        atoms = [re.escape(c) for c in "abcxyzABCé日_%*?[] \n'\"\\0123"] + [
            ".", "[a-c]", "[^a]", r"\d", r"\s", r"\w", r"\b", "(?:ab|c)"]
        parts = []
        for _ in range(rng.randint(1, 4)):
            part = rng.choice(atoms)
            if part != r"\b" and rng.random() < 0.3:
                part += rng.choice(["*", "+", "?", "{1,2}", "*?"])
            parts.append(part)
        pattern = "".join(parts)
        return rng.choice(["", "^"]) + pattern + rng.choice(["", "", "$"])

    field = rng.choice([f for f in FIELDS if f != "id"])
    family = field_family(FIELDS[field])
    op = rng.choice(criteria.OPERATORS_BY_FAMILY[family])
    if op in ("is_null", "is_not_null"):
        return leaf(field, op)
    if op in ("within_last", "older_than"):
        unit = "days" if field == "born_on" else rng.choice(["days", "hours", "minutes"])
        return leaf(field, op, {unit: rng.choice([1, 7, 8, 30, 60, 10_000])})
    if op == "matches":
        return leaf(field, op, regex())
    if op == "like":
        return leaf(field, op, like_pattern())

    def scalar():
        if family == "boolean":
            return rng.choice([True, False])
        if family == "number":
            return number(field)
        if family == "datetime":
            return moment(field)
        row_value = rng.choice(ROWS)[field]
        return row_value if row_value is not None else rng.choice(["", "a", "mql"])

    if op in ("in", "not_in"):
        return leaf(field, op, [scalar() for _ in range(rng.randint(1, 4))])
    if op == "between":
        low, high = scalar(), scalar()
        def key(value):
            if family != "datetime":
                return value
            moment = dt.datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

        low_key, high_key = key(low), key(high)
        return leaf(field, op, [low, high] if low_key <= high_key else [high, low])
    return leaf(field, op, scalar())


def random_trees(count: int, seed: int) -> list[dict]:
    """Random groups of hand-written and random conditions: the property-style half of the cross-check."""
    rng = random.Random(seed)
    leaves = list(LEAVES.values())

    def tree(depth: int):
        if depth >= 4 or rng.random() < 0.3:
            return rng.choice(leaves) if rng.random() < 0.3 else random_leaf(rng)
        kind = rng.choice(["all", "any", "not"])
        if kind == "not":
            return {"not": tree(depth + 1)}
        return {kind: [tree(depth + 1) for _ in range(rng.randint(1, 3))]}

    return [tree(1) for _ in range(count)]


def test_the_cases_are_discriminating():
    """Every hand-written criterion selects some rows and rejects others, so it can catch a difference."""
    assert len(ROWS) == 200
    trivial = [name for name, tree in CASES.items() if expected_ids(tree) in (set(), ALL_IDS)]
    assert trivial == []


@pytest.mark.django_db
@pytest.mark.parametrize("tree", CASES.values(), ids=CASES.keys())
def test_sql_selects_what_evaluate_selects(django_table, tree):
    sql, params = compile_sql(tree, FIELDS, vendor=django_table, columns=COLUMNS, now=NOW)
    expected = expected_ids(tree)
    with connection.cursor() as cursor:
        assert select_ids(cursor, sql, params) == expected
        # The NULL rule makes the expression two-valued: NOT selects exactly the other rows.
        assert select_ids(cursor, sql, params, negate=True) == ALL_IDS - expected
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE ({sql}) IS NULL", params)
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_sql_selects_what_evaluate_selects_for_random_groups(django_table):
    mismatches = []
    with connection.cursor() as cursor:
        for tree in random_trees(300, seed=1):
            sql, params = compile_sql(tree, FIELDS, vendor=django_table, columns=COLUMNS, now=NOW)
            if select_ids(cursor, sql, params) != expected_ids(tree):
                mismatches.append(describe(tree))
    assert mismatches == []


@pytest.mark.django_db
def test_evaluate_without_fields_reads_the_databases_own_values(django_table):
    """Rows as the database returns them (Decimal/float, aware/naive datetimes, dates, bools) evaluate
    the same without the registry's types."""
    names = {COLUMNS.get(f, f): f for f in FIELDS}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TABLE}")
        columns = [names[column[0]] for column in cursor.description]
        records = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for name, tree in CASES.items():
        got = {record["id"] for record in records if evaluate(tree, record, now=NOW)}
        assert got == expected_ids(tree), name


@pytest.mark.parametrize("tree", CASES.values(), ids=CASES.keys())
def test_plain_sqlite_selects_what_evaluate_selects(plain_sqlite, tree):
    sql, params = compile_sql(tree, FIELDS, vendor="sqlite", columns=COLUMNS, now=NOW)
    assert select_ids(plain_sqlite.cursor(), qmark_sql(sql), params) == expected_ids(tree)


def test_plain_sqlite_random_groups(plain_sqlite):
    cursor = plain_sqlite.cursor()
    mismatches = []
    for tree in random_trees(300, seed=2):
        sql, params = compile_sql(tree, FIELDS, vendor="sqlite", columns=COLUMNS, now=NOW)
        if select_ids(cursor, qmark_sql(sql), params) != expected_ids(tree):
            mismatches.append(describe(tree))
    assert mismatches == []


def test_plain_sqlite_regexp_is_null_safe(plain_sqlite):
    assert plain_sqlite.execute("SELECT NULL REGEXP 'a', 'a' REGEXP NULL, 'abc' REGEXP 'b', 12 REGEXP '^1'"
                                ).fetchone() == (None, None, 1, 1)


# --- validation ------------------------------------------------------------------------------

V = {  # fields for the validation tests
    "email": "varchar(255)", "status": "picklist", "score": "bigint", "amount": "numeric(12,2)",
    "active": "boolean", "created_at": "timestamptz", "born_on": "date",
}

INVALID = [
    # (tree, path, part of the message)
    ([], "", "expected an object"),
    ({}, "", "empty object"),
    ("status = 'mql'", "", "expected an object"),
    ({"all": {"field": "email"}}, "all", "takes a list"),
    ({"all": []}, "all", "at least one"),
    ({"any": []}, "any", "at least one"),
    ({"not": []}, "not", "expected an object"),
    ({"not": None}, "not", "expected an object"),
    ({"all": [leaf("email", "is_null")], "any": [leaf("email", "is_null")]}, "any", "exactly one key"),
    ({"all": [leaf("email", "is_null")], "op": "eq"}, "op", "exactly one key"),
    ({"all": [leaf("email", "is_null", values=[1])]}, "all[0].values", "unknown key 'values'"),
    ({"op": "eq", "value": "x"}, "field", "missing 'field'"),
    (leaf("", "is_null"), "field", "non-empty string"),
    (leaf(["email"], "is_null"), "field", "non-empty string"),
    (leaf("emial", "eq", "x"), "field",
     "unknown field 'emial' (did you mean 'email'?); the dataset's fields are: active, amount, born_on, "
     "created_at, email, score, status"),
    ({"field": "email", "value": "x"}, "op", "missing 'op'"),
    (leaf("email", "equals", "x"), "op", "unknown operator 'equals'; operators are: eq, ne, lt"),
    (leaf("email", "lt", "x"), "op",
     "operator 'lt' does not apply to text field 'email' ('varchar(255)'); use one of: eq, ne, in, not_in, "
     "is_null, is_not_null, matches, like"),
    (leaf("email", "between", ["a", "b"]), "op", "does not apply to text field"),
    (leaf("email", "within_last", {"days": 1}), "op", "does not apply to text field"),
    (leaf("score", "like", "1%"), "op", "does not apply to number field 'score' ('bigint')"),
    (leaf("score", "within_last", {"days": 1}), "op", "does not apply to number field"),
    (leaf("created_at", "matches", "^2025"), "op", "does not apply to datetime field"),
    (leaf("active", "in", [True]), "op",
     "does not apply to boolean field 'active' ('boolean'); use one of: eq, ne, is_null, is_not_null"),
    (leaf("active", "lt", True), "op", "does not apply to boolean field"),
    (leaf("active", "between", [False, True]), "op", "does not apply to boolean field"),
    ({"field": "email", "op": "eq"}, "value", "operator 'eq' needs a value"),
    ({"field": "email", "op": "is_null", "value": None}, "value", "takes no value"),
    (leaf("email", "eq", None), "value", "use 'is_null' or 'is_not_null'"),
    (leaf("email", "eq", ["a"]), "value", "must be a single string, number or true/false"),
    (leaf("email", "eq", {"a": 1}), "value", "must be a single string"),
    (leaf("email", "eq", 5), "value", "text field 'email' takes a string, not 5"),
    (leaf("email", "eq", "a\x00b"), "value", "NUL"),
    (leaf("score", "eq", "5"), "value", "number field 'score' takes a number, not '5'"),
    (leaf("score", "eq", True), "value", "takes a number, not True"),
    (leaf("score", "gt", float("inf")), "value", "finite"),
    (leaf("score", "gt", float("nan")), "value", "finite"),
    (leaf("active", "eq", 1), "value", "boolean field 'active' takes true or false, not 1"),
    (leaf("active", "eq", "true"), "value", "takes true or false"),
    (leaf("created_at", "gt", "yesterday"), "value", "takes an ISO 8601 date-time"),
    (leaf("created_at", "gt", 1718000000), "value", "takes an ISO 8601 date-time"),
    (leaf("created_at", "eq", "2025-02-30T00:00:00Z"), "value", "takes an ISO 8601 date-time"),
    (leaf("born_on", "eq", "2025-06-08T00:00:00"), "value", "date field 'born_on' takes an ISO 8601 date"),
    (leaf("born_on", "eq", "08/06/2025"), "value", "takes an ISO 8601 date"),
    (leaf("status", "in", []), "value", "non-empty list"),
    (leaf("status", "in", "mql"), "value", "non-empty list"),
    (leaf("status", "not_in", None), "value", "non-empty list"),
    (leaf("status", "in", ["x"] * 1001), "value", "has 1001 values; at most 1000"),
    (leaf("status", "in", ["mql", 1]), "value[1]", "takes a string, not 1"),
    (leaf("score", "in", [1, None]), "value[1]", "must not be null"),
    (leaf("created_at", "not_in", ["2025-01-01", "soon"]), "value[1]", "ISO 8601"),
    (leaf("score", "between", [1]), "value", "list of two values"),
    (leaf("score", "between", 5), "value", "list of two values"),
    (leaf("score", "between", [1, 2, 3]), "value", "list of two values"),
    (leaf("score", "between", [10, 1]), "value", "the low end 10 is greater than the high end 1"),
    (leaf("score", "between", ["a", 5]), "value[0]", "takes a number"),
    (leaf("created_at", "between", ["2025-02-01T00:00:00Z", "2025-01-01T00:00:00Z"]), "value", "greater than"),
    (leaf("born_on", "between", ["2025-02-01", "2025-01-01"]), "value", "greater than"),
    (leaf("created_at", "within_last", 7), "value", 'one of {"days": N}, {"hours": N}, {"minutes": N}'),
    (leaf("created_at", "within_last", {"weeks": 1}), "value", 'one of {"days": N}'),
    (leaf("created_at", "within_last", {"days": 1, "hours": 2}), "value", 'one of {"days": N}'),
    (leaf("created_at", "older_than", {"days": 0}), "value.days", "positive integer, not 0"),
    (leaf("created_at", "older_than", {"hours": -3}), "value.hours", "positive integer"),
    (leaf("created_at", "older_than", {"days": 1.5}), "value.days", "positive integer"),
    (leaf("created_at", "older_than", {"days": True}), "value.days", "positive integer"),
    (leaf("created_at", "older_than", {"days": "7"}), "value.days", "positive integer"),
    (leaf("created_at", "older_than", {"days": 10**9}), "value.days", "at most 36500 days"),
    (leaf("born_on", "within_last", {"hours": 12}), "value", "date field 'born_on' counts in days"),
    (leaf("email", "matches", 5), "value", "regular expression string"),
    (leaf("email", "matches", "a" * 501), "value", "501 characters long; at most 500"),
    (leaf("email", "matches", "(unclosed"), "value", "not a valid regular expression"),
    (leaf("email", "matches", "(?i)abc"), "value", "no inline flags"),
    (leaf("email", "matches", "(?P<user>.+)@"), "value", "named groups"),
    (leaf("email", "matches", r"(a)\1"), "value", "back-references"),
    (leaf("email", "matches", "[[:alpha:]]+"), "value", "POSIX bracket classes"),
    (leaf("email", "matches", "a{,3}"), "value", "{m,n}"),
    (leaf("email", "matches", "a{256}"), "value", "up to 255"),
    (leaf("email", "matches", "a++"), "value", "possessive"),
    (leaf("email", "matches", r"\y"), "value", "not a valid regular expression"),
    (leaf("email", "like", 5), "value", "LIKE pattern string"),
    (leaf("email", "like", "abc\\"), "value", "ends with an escaping backslash"),
    (leaf("email", "like", "x" * 501), "value", "at most 500"),
]


@pytest.mark.parametrize("tree, path, message", INVALID, ids=[f"{p or 'root'}: {m[:40]}" for _, p, m in INVALID])
def test_validation_reports_the_path_and_what_to_do(tree, path, message):
    with pytest.raises(CriteriaError) as raised:
        validate(tree, V)
    assert any(p == path and message in m for p, m in raised.value.errors), raised.value.errors


def test_validation_reports_every_problem_at_once():
    tree = {"all": [
        leaf("status", "in", ["mql", "sql"]),
        leaf("emial", "is_not_null"),
        {"any": [leaf("score", "gte", "100"), leaf("active", "lt", True)]},
        {"not": leaf("created_at", "within_last", {"days": 0})},
        leaf("email", "like", "%", extra=1),
    ]}
    with pytest.raises(CriteriaError) as raised:
        validate(tree, V)
    paths = [path for path, _ in raised.value.errors]
    assert paths == ["all[1].field", "all[2].any[0].value", "all[2].any[1].op", "all[3].not.value.days",
                     "all[4].extra"]
    text = str(raised.value)
    for path, message in raised.value.errors:
        assert f"{path}: {message}" in text
    assert isinstance(raised.value, ValueError)


def test_depth_is_limited_to_ten_levels():
    ten = leaf("score", "eq", 1)
    for _ in range(9):
        ten = {"not": ten}
    validate(ten, V)
    with pytest.raises(CriteriaError) as raised:
        validate({"all": [ten]}, V)
    assert raised.value.errors == [("all[0]" + ".not" * 9, "groups are nested more than 10 levels deep; "
                                                          "flatten them")]


def test_a_very_deep_tree_is_refused_without_recursing_through_it():
    tree = leaf("score", "eq", 1)
    for _ in range(5000):
        tree = {"not": tree}
    with pytest.raises(CriteriaError) as raised:
        validate(tree, V)
    assert len(raised.value.errors) == 1


def test_at_most_two_hundred_nodes():
    validate({"any": [leaf("score", "eq", i) for i in range(199)]}, V)
    with pytest.raises(CriteriaError) as raised:
        validate({"any": [leaf("score", "eq", i) for i in range(200)]}, V)
    assert raised.value.errors == [("", "the criteria have more than 200 conditions and groups; simplify them")]


def test_a_valid_tree_survives_a_json_round_trip():
    tree = json.loads(json.dumps(CASES["nested"]))
    validate(tree, FIELDS)
    assert compile_sql(tree, FIELDS, vendor="sqlite", now=NOW) == compile_sql(CASES["nested"], FIELDS,
                                                                              vendor="sqlite", now=NOW)


def test_valid_regular_expressions_are_accepted():
    for pattern in [r"^\d{3}-\d{4}$", r"[^]a-z]", r"(?:ab|cd){2,}?", r"(?<=@)example\.com", r"\\", r"a\{1\}", "é"]:
        validate(leaf("email", "matches", pattern), V)


@pytest.mark.parametrize("data_type, family", [
    ("varchar(255)", "text"), ("text", "text"), ("email", "text"), ("picklist", "text"), ("id", "text"),
    ("id(18)", "text"), ("uuid", "text"), ("json", "text"), ("something new", "text"), ("time", "text"),
    ("bigint", "number"), ("int", "number"), ("INTEGER", "number"), ("numeric(12,2)", "number"),
    ("NUMERIC(12, 2)", "number"), ("currency", "number"), ("currency(16,2)", "number"), ("percent(3,0)", "number"),
    ("double precision", "number"), ("int unsigned", "number"),
    ("boolean", "boolean"), ("bool", "boolean"),
    ("timestamp", "datetime"), ("timestamptz", "datetime"), ("timestamp(3) with time zone", "datetime"),
    ("datetime", "datetime"), ("date", "datetime"),
])
def test_registered_types_map_to_families(data_type, family):
    assert field_family(data_type) == family


# --- SQL safety --------------------------------------------------------------------------------

ATTACKS = [
    "'; DROP TABLE criteria_probe_rows; --",
    "x' OR '1'='1",
    "\" OR 1=1 --",
    "%s%s%s",
    "%(x)s",
    "?",
    "\\'; SELECT pg_sleep(10); --",
    "$$; DROP TABLE t; $$",
]


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_values_only_ever_travel_as_parameters(vendor):
    for attack in ATTACKS:
        tree = {"any": [leaf("name", "eq", attack), leaf("name", "in", [attack, "x"]),
                        leaf("name", "like", attack.replace("\\", "\\\\")), leaf("name", "matches", re.escape(attack)),
                        leaf("note", "not_in", [attack])]}
        sql, params = compile_sql(tree, FIELDS, vendor=vendor, columns=COLUMNS, now=NOW)
        assert attack not in sql
        for fragment in ("DROP", "OR '1'", "pg_sleep", "$$", "(x)"):
            assert fragment not in sql
        assert sql.count("%s") == len(params)
        assert re.sub(r'"(?:[^"]|"")*"', "", sql).replace("%s", "").count("%") == 0  # only placeholders


@pytest.mark.django_db
def test_attacks_in_values_select_harmlessly(django_table):
    with connection.cursor() as cursor:
        for attack in [*ATTACKS, 'Robert"); DROP TABLE x; --']:
            tree = leaf("name", "in", [attack, "%s"])
            sql, params = compile_sql(tree, FIELDS, vendor=django_table, columns=COLUMNS, now=NOW)
            assert select_ids(cursor, sql, params) == expected_ids(tree)
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")
        assert cursor.fetchone()[0] == len(ROWS)


def test_unregistered_field_names_never_reach_sql():
    for attack in ATTACKS:
        with pytest.raises(CriteriaError) as raised:
            compile_sql(leaf(attack, "is_null"), FIELDS, vendor="postgresql")
        assert raised.value.errors[0][0] == "field"


@pytest.mark.parametrize("name", ['x" IS NULL OR 1=1 --', 'a""b', "per%cent", "%s", "semi;colon", "ünï"])
def test_registered_odd_names_are_quoted_identifiers(name):
    sql, params = compile_sql(leaf(name, "eq", "v"), {name: "text"}, vendor="sqlite")
    quoted = '"' + name.replace('"', '""').replace("%", "%%") + '"'
    assert sql == f"({quoted} IS NOT NULL AND {quoted} = %s)"
    assert params == ["v"]
    db = sqlite3.connect(":memory:")
    db.execute(f'CREATE TABLE t ({quoted.replace("%%", "%")} text)')
    db.executemany("INSERT INTO t VALUES (?)", [("v",), ("w",), (None,)])
    assert db.execute(f"SELECT COUNT(*) FROM t WHERE {qmark_sql(sql)}", params).fetchone() == (1,)


def test_physical_column_names_are_quoted_too():
    sql, _ = compile_sql(leaf("note", "is_null"), FIELDS, vendor="postgresql", columns={"note": 'a"; DROP x; --'})
    assert sql == '("a""; DROP x; --" IS NULL)'
    with pytest.raises(ValueError):
        compile_sql(leaf("note", "is_null"), FIELDS, vendor="postgresql", columns={"note": ""})


# --- SQL shape ------------------------------------------------------------------------------------

def test_sql_per_dialect():
    tree = {"all": [leaf("active", "eq", True), leaf("created_at", "within_last", {"hours": 2}),
                    leaf("seen_at", "lt", "2025-06-01T10:00:00.5+02:00"), leaf("born_on", "gte", "2025-01-01"),
                    leaf("name", "matches", r"\bx$"), leaf("name", "like", "a*%\\_")]}
    sql, params = compile_sql(tree, FIELDS, vendor="postgresql", now=NOW)
    assert sql == ('(("active" IS NOT NULL AND "active" = %s) AND ("created_at" IS NOT NULL AND "created_at" >= %s)'
                   ' AND ("seen_at" IS NOT NULL AND "seen_at" < %s) AND ("born_on" IS NOT NULL AND "born_on" >= %s)'
                   ' AND ("name" IS NOT NULL AND CAST("name" AS TEXT) ~ %s)'
                   ' AND ("name" IS NOT NULL AND CAST("name" AS TEXT) LIKE %s))')
    assert params == [True, dt.datetime(2025, 6, 15, 10, tzinfo=dt.UTC), dt.datetime(2025, 6, 1, 8, 0, 0, 500000),
                      dt.date(2025, 1, 1), r"\yx$", "a*%\\_"]
    sql, params = compile_sql(tree, FIELDS, vendor="sqlite", now=NOW)
    assert "REGEXP %s" in sql and "GLOB %s" in sql
    assert params == [1, "2025-06-15 10:00:00", "2025-06-01 08:00:00.500000", "2025-01-01", r"(?s)\bx\Z", "a[*]*_"]


def test_null_checks_take_no_parameters():
    assert compile_sql({"any": [leaf("email", "is_null"), leaf("score", "is_not_null")]}, FIELDS,
                       vendor="sqlite") == ('(("email" IS NULL) OR ("score" IS NOT NULL))', [])


def test_now_defaults_to_the_current_time_and_must_be_aware():
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    _, params = compile_sql(leaf("created_at", "within_last", {"days": 1}), FIELDS, vendor="postgresql")
    assert before <= params[0] <= dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_sql(leaf("created_at", "within_last", {"days": 1}), FIELDS, vendor="sqlite",
                    now=dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(leaf("created_at", "is_null"), {"created_at": None}, now=dt.datetime(2025, 1, 1))


def test_unknown_vendor():
    with pytest.raises(ValueError, match="vendor"):
        compile_sql(leaf("email", "is_null"), FIELDS, vendor="mysql")


def test_compile_validates_first():
    with pytest.raises(CriteriaError):
        compile_sql(leaf("score", "like", "1%"), FIELDS, vendor="sqlite")


# --- evaluation and the NULL rule --------------------------------------------------------------

NULL_RECORD = {field: None for field in FIELDS}


@pytest.mark.parametrize("tree", LEAVES.values(), ids=LEAVES.keys())
def test_a_condition_on_null_is_false_and_its_negation_true(tree):
    if tree["op"] in ("is_null", "is_not_null"):
        return
    assert evaluate(tree, NULL_RECORD, now=NOW, fields=FIELDS) is False
    assert evaluate({"not": tree}, NULL_RECORD, now=NOW, fields=FIELDS) is True


def test_null_checks():
    assert evaluate(leaf("email", "is_null"), {"email": None}, now=NOW) is True
    assert evaluate(leaf("email", "is_not_null"), {"email": None}, now=NOW) is False
    assert evaluate(leaf("email", "is_null"), {"email": ""}, now=NOW) is False


def test_evaluate_needs_every_referenced_field():
    with pytest.raises(KeyError, match="no field 'score'"):
        evaluate(leaf("score", "eq", 1), {"email": "x"}, now=NOW)


def test_evaluate_infers_types_from_the_record_without_fields():
    assert evaluate(leaf("created_at", "within_last", {"days": 1}), {"created_at": NOW - dt.timedelta(hours=3)},
                    now=NOW)
    assert evaluate(leaf("created_at", "within_last", {"days": 1}), {"created_at": "2025-06-15 10:00:00"}, now=NOW)
    assert evaluate(leaf("born_on", "lt", "2025-06-01"), {"born_on": dt.date(2025, 5, 31)}, now=NOW)
    assert evaluate(leaf("amount", "eq", 0.1), {"amount": Decimal("0.10")}, now=NOW)
    assert evaluate(leaf("active", "eq", True), {"active": 1}, now=NOW)
    with pytest.raises(CriteriaError) as raised:
        evaluate({"all": [leaf("score", "eq", "high")]}, {"score": 5}, now=NOW)
    assert raised.value.errors[0][0] == "all[0].value"


def test_evaluate_with_fields_reads_sqlite_text():
    record = {"created_at": "2025-06-08 12:00:00", "born_on": "2025-06-08", "active": 0, "amount": 0.1}
    assert evaluate(leaf("created_at", "eq", "2025-06-08T14:00:00+02:00"), record, now=NOW, fields=FIELDS)
    assert evaluate(leaf("born_on", "within_last", {"days": 7}), record, now=NOW, fields=FIELDS)
    assert evaluate(leaf("active", "eq", False), record, now=NOW, fields=FIELDS)
    assert evaluate(leaf("amount", "between", [0.1, 0.1]), record, now=NOW, fields=FIELDS)


def test_relative_dates_split_at_the_cutoff():
    within, older = leaf("created_at", "within_last", {"days": 7}), leaf("created_at", "older_than", {"days": 7})
    for moment, is_within in [(WEEK_AGO, True), (WEEK_AGO - US, False), (NOW + dt.timedelta(days=3), True)]:
        record = {"created_at": moment}
        assert evaluate(within, record, now=NOW, fields=FIELDS) is is_within
        assert evaluate(older, record, now=NOW, fields=FIELDS) is not is_within


# --- referenced_fields and describe ----------------------------------------------------------

def test_referenced_fields():
    assert referenced_fields(CASES["nested"]) == {"name", "score", "amount", "seen_at"}
    assert referenced_fields({"all": [leaf("a", "is_null"), {"not": {"any": [leaf("b", "eq", 1)]}}]}) == {"a", "b"}
    assert referenced_fields({"all": "nonsense", "field": 3}) == set()


def test_describe_reads_as_a_sentence():
    tree = {"all": [
        leaf("lead_status", "in", ["mql", "sql"]),
        leaf("email", "is_not_null"),
        {"any": [leaf("score", "gte", 100), leaf("country", "matches", "^(US|CA)$")]},
        {"not": leaf("unsubscribed", "eq", True)},
        leaf("created_at", "within_last", {"days": 1}),
        leaf("updated_at", "older_than", {"hours": 6}),
        leaf("signed_on", "lt", "2025-01-01"),
        leaf("company", "like", "Acme%"),
        leaf("amount", "between", [10, 20.5]),
        leaf("stage", "not_in", ["lost"]),
    ]}
    assert describe(tree) == (
        "lead_status is one of 'mql', 'sql' and email is not empty and (score is at least 100 or country matches "
        "the pattern '^(US|CA)$') and not (unsubscribed is true) and created_at is within the last 1 day and "
        "updated_at is older than 6 hours and signed_on is before '2025-01-01' and company is like 'Acme%' and "
        "amount is between 10 and 20.5 and stage is none of 'lost'"
    )
    assert describe({"not": {"any": [leaf("a", "is_null"), leaf("b", "ne", "x")]}}) == \
        "not (a is empty or b is not 'x')"


def test_describe_refuses_a_malformed_tree():
    with pytest.raises(CriteriaError):
        describe({"all": []})


def test_module_documents_its_rules():
    doc = criteria.__doc__
    for topic in ("NULL rule", "within_last", "SQLite", "PostgreSQL", "Regular expressions"):
        assert topic in doc
