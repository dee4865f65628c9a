"""The condition language of data-state entry criteria ("the minimum viable record").

A criteria tree is JSON: True/False conditions over the fields of one dataset, checked
against the fields registered in the catalog and compiled to *parameterised* SQL. Nothing a
user writes ever becomes SQL text: field names become double-quoted identifiers of
registered fields, every value travels as a parameter.

Groups::

    {"all": [node, ...]}      every node holds (non-empty list)
    {"any": [node, ...]}      at least one node holds (non-empty list)
    {"not": node}             the node does not hold

Conditions ``{"field": "<name>", "op": "<op>", "value": <value>}``:

    eq, ne, lt, lte, gt, gte   one scalar
    in, not_in                 a non-empty list of at most 1000 scalars
    is_null, is_not_null       no value
    matches                    a regular expression (portable subset, at most 500 characters)
    like                       an SQL LIKE pattern: % any text, _ one character, backslash escapes
    between                    [low, high], low <= high, both ends included
    within_last, older_than    {"days": N}, {"hours": N} or {"minutes": N}, N a positive integer

Each registered ``data_type`` maps to a family (``TYPE_FAMILIES``; unknown types are text),
and the family decides which operators and values fit (``OPERATORS_BY_FAMILY``): booleans
take true/false; date-time values are ISO 8601 strings; ``within_last`` and ``older_than``
need a date-time field; ``matches`` and ``like`` need a text field.

**NULL rule.** A condition on a field whose value is NULL is *false* — whatever the
operator, except ``is_null`` (true) and ``is_not_null`` (false). So ``{"not": condition}``
is *true* for a NULL row, and ``ne`` / ``not_in`` are false for NULL rows (write
``{"any": [{"field": f, "op": "ne", ...}, {"field": f, "op": "is_null"}]}`` to admit
them). The compiled SQL is therefore two-valued — never NULL — and can be negated,
counted or selected by callers without three-valued surprises. Each condition compiles to
``("col" IS NOT NULL AND <test>)`` rather than ``COALESCE(<test>, FALSE)`` so that an index
on the column stays usable (``FALSE AND NULL`` is FALSE in SQL, so the result is the same).

**Time.** ``within_last`` holds when the value is at or after ``now - span`` (future values
included); ``older_than`` holds when it is before ``now - span``: for a non-NULL value
exactly one of the two holds. The cut-off is computed in Python and passed as a parameter.
On a ``date`` field the span must be in days and the cut-off is the calendar date (UTC) of
``now - span``. Values without a time zone are taken as UTC.

**Dialects.** ``compile_sql`` targets PostgreSQL and SQLite:

* PostgreSQL: date-time parameters are ``datetime`` objects — aware UTC for ``timestamptz``
  types, naive UTC for ``timestamp``/``datetime`` types, ``date`` for dates — so the result
  does not depend on the session time zone when the registered type matches the column.
  Where it does not match, the session time zone must be UTC (Django sets it on its own
  connections). ``matches`` uses ``~`` and ``like`` uses ``LIKE`` on ``CAST(col AS TEXT)``.
* SQLite: date-time columns are assumed to hold ISO text as Django stores it — naive UTC
  ``'YYYY-MM-DD HH:MM:SS[.ffffff]'`` and ``'YYYY-MM-DD'`` for dates — and parameters are
  strings in that very format, so that text comparison orders them correctly. Booleans are
  0/1. ``matches`` uses ``REGEXP`` (Django registers it on its connections; call
  ``register_sqlite_functions`` on a plain ``sqlite3`` connection) and ``like`` compiles to
  a case-sensitive ``GLOB``, because SQLite's ``LIKE`` ignores ASCII case and PostgreSQL's
  does not.

**Regular expressions** are a subset on which Python's ``re`` (the evaluator and SQLite)
and PostgreSQL's ARE engine agree: ``.`` matches any character including a newline,
``^``/``$`` match only at the start/end of the text, ``\\b``/``\\B`` are word boundaries,
and the constructs the two engines read differently are refused (inline flags, named
groups, back-references, POSIX ``[:classes:]``, possessive quantifiers…). The classes
``\\d \\w \\s`` may still disagree on non-ASCII text (PostgreSQL follows the database locale).

Known limits: the registered type must match the column (a text condition on an integer
column fails in PostgreSQL); PostgreSQL ignores trailing spaces when comparing ``char(n)``
values and the evaluator does not; ``matches`` runs Python's backtracking ``re`` on SQLite
and in the evaluator, so checks over untrusted data there need a time limit.

``evaluate`` implements the same semantics in Python: to explain why a record fails, and
as the oracle of the tests that run the compiled SQL on both databases.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import re
import sqlite3
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "MAX_DEPTH", "MAX_LIST_ITEMS", "MAX_NODES", "MAX_PATTERN_LENGTH", "OPERATORS", "OPERATORS_BY_FAMILY",
    "TYPE_FAMILIES", "CriteriaError", "compile_sql", "describe", "evaluate", "field_family", "referenced_fields",
    "qmark_sql", "register_sqlite_functions", "validate",
]

MAX_DEPTH = 10
MAX_NODES = 200
MAX_LIST_ITEMS = 1000
MAX_PATTERN_LENGTH = 500
MAX_SPAN_DAYS = 36_500  # a hundred years; keeps now - span far from datetime.min

Family = Literal["number", "boolean", "datetime", "text"]
Vendor = Literal["postgresql", "sqlite"]

# Registered data_type → (family, kind). The lookup lower-cases the type, drops "(…)"
# arguments and "unsigned", and squeezes spaces: "NUMERIC(12,2)" → "numeric",
# "timestamp(3) with time zone" → "timestamp with time zone". Anything else is text.
# The kind only matters to date-times: how a value is passed to each database.
TYPE_FAMILIES: dict[str, tuple[Family, str]] = {
    # numbers
    "int": ("number", "number"), "integer": ("number", "number"), "smallint": ("number", "number"),
    "bigint": ("number", "number"), "tinyint": ("number", "number"), "mediumint": ("number", "number"),
    "int2": ("number", "number"), "int4": ("number", "number"), "int8": ("number", "number"),
    "serial": ("number", "number"), "smallserial": ("number", "number"), "bigserial": ("number", "number"),
    "numeric": ("number", "number"), "decimal": ("number", "number"), "number": ("number", "number"),
    "real": ("number", "number"), "float": ("number", "number"), "float4": ("number", "number"),
    "float8": ("number", "number"), "double": ("number", "number"), "double precision": ("number", "number"),
    "money": ("number", "number"), "currency": ("number", "number"), "percent": ("number", "number"),
    "long": ("number", "number"),
    # booleans
    "boolean": ("boolean", "boolean"), "bool": ("boolean", "boolean"), "checkbox": ("boolean", "boolean"),
    # date-times
    "date": ("datetime", "date"),
    "timestamp": ("datetime", "timestamp"), "timestamp without time zone": ("datetime", "timestamp"),
    "datetime": ("datetime", "timestamp"), "datetime2": ("datetime", "timestamp"),
    "smalldatetime": ("datetime", "timestamp"),
    "timestamptz": ("datetime", "timestamptz"), "timestamp with time zone": ("datetime", "timestamptz"),
    "datetimeoffset": ("datetime", "timestamptz"),
    # text (listed for the reader; it is also the default). "id" is a text key such as a
    # Salesforce record id; integer keys are registered as int/bigint.
    "text": ("text", "text"), "varchar": ("text", "text"), "character varying": ("text", "text"),
    "char": ("text", "text"), "character": ("text", "text"), "string": ("text", "text"),
    "email": ("text", "text"), "phone": ("text", "text"), "url": ("text", "text"),
    "picklist": ("text", "text"), "select": ("text", "text"), "id": ("text", "text"), "uuid": ("text", "text"),
    "reference": ("text", "text"),
}

_ORDERING = ("lt", "lte", "gt", "gte")
_RELATIVE = ("within_last", "older_than")
_NO_VALUE = ("is_null", "is_not_null")
_LISTS = ("in", "not_in")
OPERATORS: tuple[str, ...] = (
    "eq", "ne", *_ORDERING, *_LISTS, *_NO_VALUE, "matches", "like", "between", *_RELATIVE,
)
OPERATORS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", *_ORDERING, *_LISTS, *_NO_VALUE, "between"),
    "datetime": ("eq", "ne", *_ORDERING, *_LISTS, *_NO_VALUE, "between", *_RELATIVE),
    "boolean": ("eq", "ne", *_NO_VALUE),
    "text": ("eq", "ne", *_LISTS, *_NO_VALUE, "matches", "like"),
}
_SPAN_UNITS = {"days": 1440, "hours": 60, "minutes": 1}  # minutes per unit
_GROUP_KEYS = ("all", "any", "not")
_LEAF_KEYS = ("field", "op", "value")


class CriteriaError(ValueError):
    """Criteria that cannot be used, with every problem found as (JSON path, message).

    Paths are relative to the root ("" is the root itself), e.g. ``"all[1].value"``.
    """

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        lines = [f"{path or '(root)'}: {message}" for path, message in errors]
        super().__init__("invalid criteria:\n  " + "\n  ".join(lines))


def field_family(data_type: str) -> Family:
    """The family ("number", "boolean", "datetime" or "text") of a registered data type."""
    return _type_of(data_type)[0]


def validate(tree: Any, fields: Mapping[str, str]) -> None:
    """Check ``tree`` against the dataset's fields (name → registered data_type).

    Raises CriteriaError listing every problem found.
    """
    _parse(tree, fields)


def referenced_fields(tree: Any) -> set[str]:
    """The field names the conditions of ``tree`` use. Tolerates malformed trees (no validation)."""
    found: set[str] = set()

    def walk(node: Any, depth: int) -> None:
        if not isinstance(node, Mapping) or depth > MAX_DEPTH + 1:
            return
        if isinstance(node.get("field"), str):
            found.add(node["field"])
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                for child in node[key]:
                    walk(child, depth + 1)
        if "not" in node:
            walk(node["not"], depth + 1)

    walk(tree, 1)
    return found


def compile_sql(
    tree: Any,
    fields: Mapping[str, str],
    *,
    vendor: str,
    columns: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, list]:
    """Validate ``tree`` and compile it to a boolean SQL expression and its parameters.

    The expression uses ``%s`` placeholders (Django cursors, psycopg) and is never NULL.
    Execute it *with* the parameter list, even an empty one: ``%`` in quoted identifiers
    is written ``%%`` (for sqlite3's ``?`` style, pass the text through ``qmark_sql``).
    ``columns`` maps field names to physical column names (default: the field name);
    they are not table-qualified, so select from a subquery to disambiguate. ``now``
    (aware; default: the current UTC time) anchors within_last and older_than.
    Raises CriteriaError for invalid criteria, ValueError for a bad argument.
    """
    if vendor not in ("postgresql", "sqlite"):
        raise ValueError(f"vendor must be 'postgresql' or 'sqlite', not {vendor!r}")
    root = _parse(tree, fields)
    compiler = _SqlCompiler(vendor, dict(columns or {}), utc_now(now))
    sql = compiler.node(root)
    return sql, compiler.params


def evaluate(
    tree: Any,
    record: Mapping[str, object],
    *,
    now: dt.datetime,
    fields: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``record`` (field name → value) satisfies ``tree``, with the semantics of the SQL.

    Give ``fields`` (name → data_type) to validate the tree and compare exactly as
    ``compile_sql`` does. Without it, each condition's type is inferred from the record's
    value (bool, number, date, datetime, else text) or, when that is NULL or text, from
    the condition (relative and ordering operators on strings mean date-times): a
    date-time stored as text, as SQLite returns it, then compares as text under eq/ne/in.
    A field missing from the record raises KeyError.
    """
    root = _parse(tree, fields)
    return _Evaluator(record, utc_now(now), fields is not None).node(root)


def describe(tree: Any) -> str:
    """A readable sentence: "lead_status is one of 'mql', 'sql' and email is not empty"."""
    return _describe(_parse(tree, None), None)


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Register REGEXP (``X REGEXP pattern``, NULL-safe) on a plain sqlite3 connection.

    Django registers an equivalent function on its own SQLite connections.
    """
    connection.create_function("REGEXP", 2, _sqlite_regexp, deterministic=True)


def qmark_sql(sql: str) -> str:
    """``compile_sql``'s text for sqlite3's own ``?`` placeholders (Django's SQLite cursor converts by itself)."""
    return re.sub(r"%[s%]", lambda match: "?" if match.group() == "%s" else "%", sql)


def _sqlite_regexp(pattern: str | None, value: object) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, value if isinstance(value, str) else str(value)) is not None


# --- the parsed tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    unit: str
    count: int

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(minutes=_SPAN_UNITS[self.unit] * self.count)


@dataclass(frozen=True)
class _Regex:
    source: str
    python: str
    postgres: str


@dataclass(frozen=True)
class _Leaf:
    path: str
    raw: Mapping[str, Any]
    field: str
    op: str
    kind: str | None = None  # None: types not known yet (evaluate without fields, describe)
    value: Any = None  # normalised for the kind: datetimes naive UTC, _Span, _Regex, tuples


@dataclass(frozen=True)
class _Group:
    op: str  # "all" | "any" | "not"
    children: tuple[_Node, ...]


_Node = _Leaf | _Group


def _parse(tree: Any, fields: Mapping[str, str] | None) -> _Node:
    parser = _Parser(fields)
    root = parser.node(tree, "", 1)
    if parser.errors:
        raise CriteriaError(parser.errors)
    return root


class _Parser:
    """Checks a tree and builds the parsed form, collecting every problem."""

    def __init__(self, fields: Mapping[str, str] | None):
        self.fields = fields
        self.errors: list[tuple[str, str]] = []
        self.count = 0

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def node(self, node: Any, path: str, depth: int) -> Any:
        self.count += 1
        if self.count == MAX_NODES + 1:
            self.error("", f"the criteria have more than {MAX_NODES} conditions and groups; simplify them")
        if self.count > MAX_NODES:
            return None
        if depth > MAX_DEPTH:
            self.error(path, f"groups are nested more than {MAX_DEPTH} levels deep; flatten them")
            return None
        if not isinstance(node, Mapping):
            self.error(path, "expected an object: a condition {\"field\", \"op\", \"value\"} "
                             "or a group {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}}")
            return None
        if not node:
            self.error(path, "empty object: write a condition or a group")
            return None
        groups = [key for key in _GROUP_KEYS if key in node]
        if groups:
            return self.group(node, path, depth, groups)
        return self.leaf(node, path)

    def group(self, node: Mapping, path: str, depth: int, groups: list[str]) -> _Group | None:
        op = groups[0]
        for key in node:
            if key != op:
                self.error(_join(path, str(key)), f"unexpected key {key!r} next to {op!r}: a group has exactly "
                                                  "one key, 'all', 'any' or 'not'")
        here = _join(path, op)
        if op == "not":
            child = self.node(node[op], here, depth + 1)
            return _Group("not", (child,))
        children = node[op]
        if not isinstance(children, list):
            self.error(here, f"'{op}' takes a list of conditions and groups")
            return None
        if not children:
            self.error(here, f"'{op}' needs at least one condition or group")
            return None
        return _Group(op, tuple(self.node(child, f"{here}[{i}]", depth + 1) for i, child in enumerate(children)))

    def leaf(self, node: Mapping, path: str) -> _Leaf | None:
        for key in node:
            if key not in _LEAF_KEYS:
                self.error(_join(path, str(key)), f"unknown key {key!r}: a condition has 'field', 'op' and "
                                                  "'value'; a group has one of 'all', 'any', 'not'")
        before = len(self.errors)
        field, data_type = self.field(node, path)
        family, kind = _type_of(data_type) if data_type is not None else (None, None)
        op = node.get("op")
        if "op" not in node:
            self.error(_join(path, "op"), f"missing 'op'; operators are: {', '.join(OPERATORS)}")
            op = None
        elif not isinstance(op, str) or op not in OPERATORS:
            self.error(_join(path, "op"), f"unknown operator {op!r}; operators are: {', '.join(OPERATORS)}")
            op = None
        elif family is not None and op not in OPERATORS_BY_FAMILY[family]:
            self.error(_join(path, "op"), f"operator {op!r} does not apply to {family} field {field!r} "
                                          f"({data_type!r}); use one of: {', '.join(OPERATORS_BY_FAMILY[family])}")
            kind = None  # the value cannot be judged against this field's type
        value = None
        if op is not None:
            vpath = _join(path, "value")
            if op in _NO_VALUE:
                if "value" in node:
                    self.error(vpath, f"operator {op!r} takes no value; remove 'value'")
            elif "value" not in node:
                self.error(vpath, f"operator {op!r} needs a value")
            else:
                # Without fields (describe, evaluate's first pass) only the shape of the value is
                # checked here; evaluate checks it against the inferred type later.
                value = _ValueChecker(self, kind, field).check(op, node["value"], vpath)
        if len(self.errors) > before or not isinstance(field, str) or op is None:
            return None
        return _Leaf(path, node, field, op, kind if self.fields is not None else None, value)

    def field(self, node: Mapping, path: str) -> tuple[Any, str | None]:
        fpath = _join(path, "field")
        if "field" not in node:
            self.error(fpath, "missing 'field': name one of the dataset's fields")
            return None, None
        field = node["field"]
        if not isinstance(field, str) or not field:
            self.error(fpath, "'field' must be a non-empty string naming one of the dataset's fields")
            return None, None
        if self.fields is None:
            return field, None
        if field not in self.fields:
            self.error(fpath, _unknown_field_message(field, self.fields))
            return field, None
        return field, self.fields[field]


def _unknown_field_message(field: str, fields: Mapping[str, str]) -> str:
    names = sorted(fields)
    close = difflib.get_close_matches(field, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if not names:
        return f"unknown field {field!r}: the dataset has no registered fields"
    shown = ", ".join(names[:40]) + (f", … and {len(names) - 40} more" if len(names) > 40 else "")
    return f"unknown field {field!r}{hint}; the dataset's fields are: {shown}"


class _ValueChecker:
    """Checks and normalises the value of one condition (``kind`` None: shape only)."""

    def __init__(self, parser: _Parser, kind: str | None, field: Any):
        self.parser, self.kind, self.field = parser, kind, field

    def error(self, path: str, message: str) -> None:
        self.parser.error(path, message)

    def check(self, op: str, value: Any, path: str) -> Any:
        if op in _LISTS:
            return self.list(value, path)
        if op == "between":
            return self.between(value, path)
        if op in _RELATIVE:
            return self.span(value, path)
        if op == "matches":
            return self.regex(value, path)
        if op == "like":
            return self.like(value, path)
        return self.scalar(value, path)

    def scalar(self, value: Any, path: str) -> Any:
        if value is None:
            self.error(path, "must not be null: use 'is_null' or 'is_not_null' to test for an empty value")
            return None
        if not isinstance(value, str | bool | int | float | Decimal):
            self.error(path, f"must be a single string, number or true/false, not {type(value).__name__}")
            return None
        kind = self.kind
        if kind is None:
            return value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                self.error(path, f"number field {self.field!r} takes a number, not {value!r}")
                return None
            if not math.isfinite(value):
                self.error(path, "must be a finite number")
                return None
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                self.error(path, f"boolean field {self.field!r} takes true or false, not {value!r}")
                return None
            return value
        if kind == "text":
            if not isinstance(value, str):
                self.error(path, f"text field {self.field!r} takes a string, not {value!r}")
                return None
            if "\x00" in value:
                self.error(path, "must not contain the NUL character")
                return None
            return value
        return self.datetime(value, path)

    def datetime(self, value: Any, path: str) -> dt.datetime | dt.date | None:
        if self.kind == "date":
            try:
                if not isinstance(value, str) or len(value) != 10:
                    raise ValueError
                return dt.date.fromisoformat(value)
            except ValueError:
                self.error(path, f"date field {self.field!r} takes an ISO 8601 date such as '2025-01-31', "
                                 f"not {value!r}")
                return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return _naive_utc(dt.datetime.fromisoformat(value))
        except ValueError:
            self.error(path, f"date-time field {self.field!r} takes an ISO 8601 date-time such as "
                             f"'2025-01-31T09:30:00Z' (UTC when no offset is given), not {value!r}")
            return None

    def list(self, value: Any, path: str) -> tuple | None:
        if not isinstance(value, list | tuple) or not value:
            self.error(path, "must be a non-empty list of values")
            return None
        if len(value) > MAX_LIST_ITEMS:
            self.error(path, f"has {len(value)} values; at most {MAX_LIST_ITEMS} are allowed")
            return None
        before = len(self.parser.errors)
        items = []
        for i, item in enumerate(value):
            if len(self.parser.errors) - before >= 10:
                self.error(path, "… further values not checked")
                break
            items.append(self.scalar(item, f"{path}[{i}]"))
        return tuple(items)

    def between(self, value: Any, path: str) -> tuple | None:
        if not isinstance(value, list | tuple) or len(value) != 2:
            self.error(path, "must be a list of two values: [low, high]")
            return None
        before = len(self.parser.errors)
        low, high = self.scalar(value[0], f"{path}[0]"), self.scalar(value[1], f"{path}[1]")
        if len(self.parser.errors) == before and self.kind is not None and low > high:
            self.error(path, f"the low end {value[0]!r} is greater than the high end {value[1]!r}")
            return None
        return low, high

    def span(self, value: Any, path: str) -> _Span | None:
        units = ", ".join(f'{{"{unit}": N}}' for unit in _SPAN_UNITS)
        if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in _SPAN_UNITS:
            self.error(path, f"must be one of {units} with N a positive integer")
            return None
        (unit, count), = value.items()
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            self.error(_join(path, unit), f"must be a positive integer, not {count!r}")
            return None
        span = _Span(unit, count)
        if count * _SPAN_UNITS[unit] > MAX_SPAN_DAYS * _SPAN_UNITS["days"]:
            self.error(_join(path, unit), f"must span at most {MAX_SPAN_DAYS} days")
            return None
        if self.kind == "date" and unit != "days":
            self.error(path, f"date field {self.field!r} counts in days: write {{\"days\": N}}")
            return None
        return span

    def regex(self, value: Any, path: str) -> _Regex | None:
        if not isinstance(value, str):
            self.error(path, "must be a regular expression string")
            return None
        if len(value) > MAX_PATTERN_LENGTH:
            self.error(path, f"is {len(value)} characters long; at most {MAX_PATTERN_LENGTH} are allowed")
            return None
        try:
            with warnings.catch_warnings():
                # "Possible nested set" and the like: _translate_regex refuses those constructs.
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(value)
        except re.error as exc:
            self.error(path, f"is not a valid regular expression: {exc}")
            return None
        try:
            python, postgres = _translate_regex(value)
        except ValueError as exc:
            self.error(path, f"{exc} (the pattern must mean the same to PostgreSQL and Python)")
            return None
        return _Regex(value, python, postgres)

    def like(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.error(path, "must be a LIKE pattern string (% any text, _ one character, \\ escapes)")
            return None
        if len(value) > MAX_PATTERN_LENGTH:
            self.error(path, f"is {len(value)} characters long; at most {MAX_PATTERN_LENGTH} are allowed")
            return None
        if "\x00" in value:
            self.error(path, "must not contain the NUL character")
            return None
        if _like_ends_with_escape(value):
            self.error(path, "ends with an escaping backslash; write \\\\ for a literal backslash")
            return None
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_of(data_type: str) -> tuple[Family, str]:
    name = re.sub(r"\([^)]*\)", " ", str(data_type).lower())
    name = " ".join(word for word in name.split() if word not in ("unsigned", "signed"))
    return TYPE_FAMILIES.get(name, ("text", "text"))


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def utc_now(now: dt.datetime | None) -> dt.datetime:
    """``now`` (a timezone-aware datetime) in UTC, or the current time."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC)


def _cutoff(kind: str, span: _Span, now: dt.datetime) -> dt.datetime | dt.date:
    moment = _naive_utc(now) - span.delta
    return moment.date() if kind == "date" else moment


# --- regular expressions -------------------------------------------------------------------

_GROUP_OPENERS = ("(?:", "(?=", "(?!", "(?<=", "(?<!")
_BOUND = re.compile(r"\{(\d{1,3})(?:,(\d{1,3})?)?\}")
_PG_DUP_MAX = 255


def _translate_regex(pattern: str) -> tuple[str, str]:
    """The pattern for Python's re and for PostgreSQL's ~, meaning the same to both.

    Python gets DOTALL and ``\\Z`` for ``$`` (PostgreSQL's defaults); PostgreSQL gets
    ``\\y``/``\\Y`` for ``\\b``/``\\B`` and ``\\u00hh`` for ``\\xhh``. Constructs read
    differently by the two engines raise ValueError.
    """
    py: list[str] = []
    pg: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_body_start = 0
    after_quantifier = False

    def emit(python: str, postgres: str | None = None) -> None:
        py.append(python)
        pg.append(python if postgres is None else postgres)

    can_repeat = False  # whether the last element is an atom a {m,n} may follow

    while i < n:
        c = pattern[i]
        quantifier = False
        atom = True
        if c == "\\":
            can_repeat = not in_class and pattern[i + 1] not in "bBAZ"  # assertions cannot repeat
            i = _translate_escape(pattern, i, in_class, emit)
            after_quantifier = False
            continue
        if in_class:
            if c == "]" and i > class_body_start:
                in_class = False
            elif c == "[" and pattern[i + 1:i + 2] in (":", "=", "."):
                raise ValueError(f"POSIX bracket classes like '[{pattern[i + 1]}' are not supported; "
                                 "use \\d, \\s, \\w or explicit ranges")
            elif c == "[":
                raise ValueError("write \\[ for a literal '[' inside [...]")
            elif pattern[i:i + 2] in ("--", "&&", "~~", "||"):
                raise ValueError(f"{pattern[i:i + 2]!r} inside [...] is ambiguous; escape one of the characters")
            emit(c)
        elif c == "[":
            in_class = True
            class_body_start = i + 1
            if pattern[i + 1:i + 2] == "^":
                class_body_start += 1
            emit(c + pattern[i + 1:class_body_start])
            i = class_body_start
            after_quantifier = can_repeat = False
            continue
        elif c == "(" and pattern[i + 1:i + 2] == "?":
            opener = next((o for o in _GROUP_OPENERS if pattern.startswith(o, i)), None)
            if opener is None:
                raise ValueError("only the groups (...), (?:...), (?=...), (?!...), (?<=...) and (?<!...) are "
                                 "supported: no inline flags or named groups")
            emit(opener)
            i += len(opener)
            after_quantifier = can_repeat = False
            continue
        elif c == "$":
            emit("\\Z", "$")
            atom = False
        elif c in "*+?":
            if after_quantifier and c == "+":
                raise ValueError("possessive quantifiers (*+, ++, ?+, {m,n}+) are not supported")
            quantifier = not (after_quantifier and c == "?")  # a trailing ? makes it lazy
            atom = False
            emit(c)
        elif c == "{":
            bound = _BOUND.match(pattern, i)
            if bound is None or not can_repeat:
                raise ValueError("'{' must start a repetition {m}, {m,} or {m,n}; write \\{ for a literal brace")
            if any(int(part) > _PG_DUP_MAX for part in bound.groups() if part):
                raise ValueError(f"repetition counts go up to {_PG_DUP_MAX}")
            emit(bound.group())
            i = bound.end()
            after_quantifier, can_repeat = True, False
            continue
        elif c == "}":
            raise ValueError("write \\} for a literal closing brace")
        else:
            emit(c)
            atom = c not in "(|^"
        after_quantifier = quantifier
        can_repeat = atom and not in_class
        i += 1
    return "(?s)" + "".join(py), "".join(pg)


def _translate_escape(pattern: str, i: int, in_class: bool, emit: Callable[..., None]) -> int:
    """Translate the escape at ``pattern[i]`` (a backslash); return the index after it."""
    d = pattern[i + 1]  # re.compile has refused a trailing backslash
    if d in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[d]
        digits = pattern[i + 2:i + 2 + width]
        emit(f"\\{d}{digits}", f"\\u00{digits}" if d == "x" else None)
        return i + 2 + width
    same = "dswbntrfv" if in_class else "dDsSwWAZntrfv"
    if d in same:
        emit("\\" + d)
    elif d in "bB":  # outside a class: word boundaries
        emit("\\" + d, "\\y" if d == "b" else "\\Y")
    elif d.isdigit():
        raise ValueError("back-references and octal escapes are not supported")
    elif d.isascii() and not d.isalnum():
        emit("\\" + d)
    elif d.isascii():
        where = " inside [...]" if in_class else ""
        raise ValueError(f"the escape \\{d}{where} is not supported")
    else:
        raise ValueError(f"write {d!r} without a backslash")
    return i + 2


# --- LIKE patterns ---------------------------------------------------------------------------


def _like_ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _like_tokens(pattern: str) -> list[tuple[str, str]]:
    """("any" | "one" | "char", character) for each element of a LIKE pattern (\\ escapes)."""
    tokens = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            tokens.append(("char", next(chars)))
        elif c == "%":
            tokens.append(("any", c))
        elif c == "_":
            tokens.append(("one", c))
        else:
            tokens.append(("char", c))
    return tokens


def _like_to_glob(pattern: str) -> str:
    """SQLite GLOB is LIKE's case-sensitive sibling: * for %, ? for _, [x] for a literal *, ? or [."""
    out = []
    for kind, c in _like_tokens(pattern):
        if kind == "any":
            out.append("*")
        elif kind == "one":
            out.append("?")
        else:
            out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern:
    parts = {"any": lambda c: ".*", "one": lambda c: ".", "char": re.escape}
    return re.compile("".join(parts[kind](c) for kind, c in _like_tokens(pattern)), re.DOTALL)


# --- SQL -------------------------------------------------------------------------------------

_COMPARISON_SQL = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _quote_identifier(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"not a usable column name: {name!r}")
    # Double quotes are doubled (SQL), and % is doubled because the text goes through
    # %s-style parameter substitution.
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


class _SqlCompiler:
    def __init__(self, vendor: str, columns: dict[str, str], now: dt.datetime):
        self.vendor, self.columns, self.now = vendor, columns, now
        self.params: list = []

    def node(self, node: _Node) -> str:
        if isinstance(node, _Leaf):
            return self.leaf(node)
        if node.op == "not":
            return f"(NOT {self.node(node.children[0])})"
        joiner = " AND " if node.op == "all" else " OR "
        return "(" + joiner.join(self.node(child) for child in node.children) + ")"

    def placeholder(self, kind: str, value: Any) -> str:
        self.params.append(self.param(kind, value))
        return "%s"

    def param(self, kind: str, value: Any) -> Any:
        sqlite = self.vendor == "sqlite"
        if kind == "boolean":
            return int(value) if sqlite else value
        if kind == "number":
            # The plain sqlite3 module cannot bind Decimal; SQLite compares a text parameter
            # with a numeric column as a number (type affinity).
            return str(value) if sqlite and isinstance(value, Decimal) else value
        if kind == "date":
            return value.isoformat() if sqlite else value
        if kind in ("timestamp", "timestamptz"):
            if sqlite:
                return value.isoformat(sep=" ")  # Django's format: fraction only when non-zero
            return value.replace(tzinfo=dt.UTC) if kind == "timestamptz" else value
        return value

    def leaf(self, leaf: _Leaf) -> str:
        column = _quote_identifier(self.columns.get(leaf.field, leaf.field))
        op, kind, value = leaf.op, leaf.kind, leaf.value
        if op == "is_null":
            return f"({column} IS NULL)"
        if op == "is_not_null":
            return f"({column} IS NOT NULL)"
        if op in _COMPARISON_SQL:
            test = f"{column} {_COMPARISON_SQL[op]} {self.placeholder(kind, value)}"
        elif op in _LISTS:
            marks = ", ".join(self.placeholder(kind, item) for item in value)
            test = f"{column} {'IN' if op == 'in' else 'NOT IN'} ({marks})"
        elif op == "between":
            test = f"{column} BETWEEN {self.placeholder(kind, value[0])} AND {self.placeholder(kind, value[1])}"
        elif op in _RELATIVE:
            cutoff = _cutoff(kind, value, self.now)
            test = f"{column} {'>=' if op == 'within_last' else '<'} {self.placeholder(kind, cutoff)}"
        elif op == "matches":
            if self.vendor == "postgresql":
                test = f"CAST({column} AS TEXT) ~ {self.placeholder('text', value.postgres)}"
            else:
                test = f"{column} REGEXP {self.placeholder('text', value.python)}"
        else:  # like
            if self.vendor == "postgresql":
                test = f"CAST({column} AS TEXT) LIKE {self.placeholder('text', value)}"
            else:
                test = f"{column} GLOB {self.placeholder('text', _like_to_glob(value))}"
        # The NULL rule: FALSE AND NULL is FALSE, so the condition is never NULL.
        return f"({column} IS NOT NULL AND {test})"


# --- evaluation ------------------------------------------------------------------------------

_INCOMPARABLE = object()


class _Evaluator:
    def __init__(self, record: Mapping[str, object], now: dt.datetime, typed: bool):
        self.record, self.now, self.typed = record, now, typed

    def node(self, node: _Node) -> bool:
        if isinstance(node, _Leaf):
            return self.leaf(node)
        if node.op == "not":
            return not self.node(node.children[0])
        if node.op == "all":
            return all(self.node(child) for child in node.children)
        return any(self.node(child) for child in node.children)

    def leaf(self, leaf: _Leaf) -> bool:
        try:
            raw = self.record[leaf.field]
        except KeyError:
            raise KeyError(f"the record has no field {leaf.field!r}") from None
        if leaf.op == "is_null":
            return raw is None
        if leaf.op == "is_not_null":
            return raw is not None
        if raw is None:
            return False
        if not self.typed:
            leaf = self.resolve(leaf, raw)
        actual = _coerce(leaf.kind, raw)
        if actual is _INCOMPARABLE:
            return False
        return _test(leaf, actual, self.now)

    def resolve(self, leaf: _Leaf, raw: object) -> _Leaf:
        data_type = _infer_data_type(leaf.op, leaf.raw.get("value"), raw)
        try:
            parsed = _parse(leaf.raw, {leaf.field: data_type})
        except CriteriaError as exc:
            message = f"(as {data_type}, inferred from the record's value {raw!r})"
            raise CriteriaError([(_join(leaf.path, path) if path else leaf.path, f"{text} {message}")
                                 for path, text in exc.errors]) from None
        assert isinstance(parsed, _Leaf)
        return parsed


def _infer_data_type(op: str, value: Any, actual: object) -> str:
    sample = value[0] if isinstance(value, list | tuple) and value else value
    if isinstance(actual, bool) or isinstance(sample, bool):  # SQLite returns booleans as 0/1
        return "boolean"
    if isinstance(actual, int | float | Decimal):
        return "numeric"
    if isinstance(actual, dt.datetime):
        return "timestamptz" if actual.tzinfo else "timestamp"
    if isinstance(actual, dt.date):
        return "date"
    if op in _RELATIVE:
        return "timestamp"
    if isinstance(sample, int | float | Decimal):
        return "numeric"
    if op in (*_ORDERING, "between") and isinstance(sample, str):
        return "timestamp"
    return "text"


def _coerce(kind: str, raw: object) -> Any:
    """A record's value as the SQL would compare it, or _INCOMPARABLE."""
    try:
        if kind == "number":
            if isinstance(raw, int | float | Decimal):
                return int(raw) if isinstance(raw, bool) else raw
            return Decimal(str(raw))
        if kind == "boolean":
            return bool(raw) if isinstance(raw, bool | int) else _INCOMPARABLE
        if kind in ("timestamp", "timestamptz", "date"):
            if isinstance(raw, str):
                raw = dt.datetime.fromisoformat(raw)
            if isinstance(raw, dt.datetime):
                return raw.date() if kind == "date" else _naive_utc(raw)
            if isinstance(raw, dt.date):
                return raw if kind == "date" else dt.datetime.combine(raw, dt.time())
            return _INCOMPARABLE
        return raw if isinstance(raw, str) else str(raw)
    except (ValueError, ArithmeticError):
        return _INCOMPARABLE


def _same_number_type(a: Any, b: Any) -> tuple[Any, Any]:
    # Decimal and float do not compare as the databases do (PostgreSQL reads 0.1 as the
    # numeric 0.1); give the float its shortest decimal form.
    if isinstance(a, Decimal) and isinstance(b, float):
        return a, Decimal(repr(b))
    if isinstance(a, float) and isinstance(b, Decimal):
        return Decimal(repr(a)), b
    return a, b


def _compare(op: str, actual: Any, value: Any) -> bool:
    actual, value = _same_number_type(actual, value)
    if op == "eq":
        return actual == value
    if op == "ne":
        return actual != value
    if op == "lt":
        return actual < value
    if op == "lte":
        return actual <= value
    if op == "gt":
        return actual > value
    return actual >= value


def _test(leaf: _Leaf, actual: Any, now: dt.datetime) -> bool:
    op, value = leaf.op, leaf.value
    if op in _COMPARISON_SQL:
        return _compare(op, actual, value)
    if op == "in":
        return any(_compare("eq", actual, item) for item in value)
    if op == "not_in":
        return all(_compare("ne", actual, item) for item in value)
    if op == "between":
        return _compare("gte", actual, value[0]) and _compare("lte", actual, value[1])
    if op in _RELATIVE:
        cutoff = _cutoff(leaf.kind, value, now)
        return actual >= cutoff if op == "within_last" else actual < cutoff
    if op == "matches":
        return re.search(value.python, actual) is not None
    return _like_regex(value).fullmatch(actual) is not None


# --- description -----------------------------------------------------------------------------

_PHRASES = {
    "eq": "is", "ne": "is not", "lt": "is less than", "lte": "is at most", "gt": "is greater than",
    "gte": "is at least", "in": "is one of", "not_in": "is none of", "matches": "matches the pattern",
    "like": "is like", "between": "is between",
}
_TIME_PHRASES = {"lt": "is before", "lte": "is at or before", "gt": "is after", "gte": "is at or after"}


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _describe(node: _Node, parent: str | None) -> str:
    if isinstance(node, _Group):
        if node.op == "not":
            return f"not ({_describe(node.children[0], None)})"
        text = f" {'and' if node.op == 'all' else 'or'} ".join(_describe(child, node.op) for child in node.children)
        return f"({text})" if parent is not None and parent != node.op and len(node.children) > 1 else text
    field, op, value = node.field, node.op, node.raw.get("value")
    if op == "is_null":
        return f"{field} is empty"
    if op == "is_not_null":
        return f"{field} is not empty"
    if op in _RELATIVE:
        (unit, count), = value.items()
        unit = unit if count != 1 else unit[:-1]
        return f"{field} is within the last {count} {unit}" if op == "within_last" else \
            f"{field} is older than {count} {unit}"
    if op in _LISTS:
        return f"{field} {_PHRASES[op]} {', '.join(_literal(item) for item in value)}"
    if op == "between":
        return f"{field} is between {_literal(value[0])} and {_literal(value[1])}"
    phrase = _TIME_PHRASES[op] if op in _TIME_PHRASES and isinstance(value, str) else _PHRASES[op]
    return f"{field} {phrase} {_literal(value)}"
