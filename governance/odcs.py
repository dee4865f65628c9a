"""Open Data Contract Standard (ODCS v3.1) import and export, as pure functions.

A contract version is persisted as three JSON values; this module converts between them and an ODCS document:

    document = load_document(text)           # YAML or JSON text -> dict (dates stay strings)
    issues = validate(document)              # JSON Schema issues, [] when valid
    parts = split(document)                  # ContractParts(meta, terms, residual)
    document == join(parts)                  # exact, whatever the document contains
    new_document = from_terms(meta, terms)   # a contract born in Accord, ODCS v3.1.0

Nothing from Django is imported here.

Schema files
------------
`validate` checks a document against the standard's JSON Schema of its version, read from Accord's own installed
files, never from outside the product:

- v3.1.0: ``schema.json`` of the ``open-data-contract-standard`` package (pinned at 3.1.2 in requirements.txt; each
  release of that package ships the schema of its own ODCS minor version, so it must stay a 3.1.x release);
- v3.0.2: ``governance/odcs_schemas/odcs-json-schema-v3.0.2.json``, vendored because no 3.1.x release of that package
  ships it (its README says where it comes from).

Loading, split, join and from_terms do not need the schemas.

Validation is linear in the document: the standard's schema, applied as published, re-validates nested properties
for each branch of each ancestor (exponential in their depth), so `validate` applies it one level of properties at a
time (`_Levels`), with the same answers.

Loading and limits
------------------
YAML is read with YAML 1.2 scalars: ``NO``, ``off``, ``y`` stay strings (YAML 1.1 reads them as booleans), ``12:30``
stays a string (1.1: the number 750), ``012`` is twelve; `load_document(text, notes=[...])` lists the values YAML 1.1
tools read otherwise. Before anything is validated, `load_document` refuses, with
an OdcsError naming the limit: a text over MAX_DOCUMENT_BYTES (8 MiB), mappings and lists nested more than MAX_DEPTH
(64) levels (checked while the YAML is composed, so a deep text cannot exhaust the stack), more than a million values,
integers of more than MAX_INTEGER_DIGITS (100) digits, numbers beyond a float (1e400, .inf, .nan), NUL characters and
lone surrogates ("\\ud800"), and values JSON has no place for (!!binary, !!set, !!timestamp...).

meta
----
The plain top-level fields present in the document, values verbatim: ``id``, ``name``, ``version``, ``status``,
``domain``, ``dataProduct``, ``tenant`` and ``description`` (the ODCS description object: purpose, limitations, usage,
authoritativeDefinitions, customProperties). A key is in `meta` exactly when it is in the document.

terms
-----
Accord's structured terms. `split` always returns every key below; `join` and `from_terms` accept missing keys (they
take the defaults shown) and raise OdcsError for anything else that is malformed (see `check_terms`)::

    {
      "schema": [                                   # ODCS schema[] objects, in order
        {"name": str,                               # schema[].name (None only if an imported document lacked it)
         "physical_name": str | None,               # schema[].physicalName
         "physical_type": str | None,               # schema[].physicalType ("table", "view", "topic"...)
         "description": str | None,                 # schema[].description
         "fields": [                                # schema[].properties[] (top level only; nested ones stay residual)
           {"name": str,                            # properties[].name
            "physical_name": str | None,            # properties[].physicalName
            "type": str | None,                     # properties[].physicalType, e.g. "varchar(18)"
            "logical_type": str | None,             # properties[].logicalType: string, date, timestamp, time, number,
                                                    #   integer, object, array, boolean
            "required": bool,                       # properties[].required      (absent = False)
            "unique": bool,                         # properties[].unique        (absent = False)
            "primary_key": bool,                    # properties[].primaryKey    (absent = False)
            "classification": str | None,           # properties[].classification
            "description": str | None}]}],          # properties[].description
      "quality": [                                  # the quality rules Accord can run, in document order
        {"object": str,                             # name of the schema object the rule sits on
         "field": str | None,                       # name of the property, None for an object-level rule
         "rule": "not_null" | "unique" | "accepted_values" | "pattern" | "range" | "row_count" | "freshness"
                 | "custom_sql",
         "params": {...},                           # see below
         "severity": str | None,                    # ODCS severity ("error", "warning", "info"...); None = not stated
         "description": str | None}],
      "sla": {"freshness_hours": number | None,     # slaProperties latency (or freshness), converted to hours
              "availability_percent": number | None,  # slaProperties availability (numeric generalAvailability too)
              "response_time_hours": number | None},  # slaProperties responseTime, converted to hours
      "support_channel": str | None,                # support[].channel of the first support channel
      "schedule": str | None,                       # cron of the contract's checks (see "schedule" below)
      "notice_period_days": int | None,             # customProperties accord.noticePeriodDays
      "state_definitions": [str],                   # customProperties accord.stateDefinitions: opaque references to
                                                    #   Accord state definitions the contract relies on
    }

Rule params. Every rule measures one number and compares it. ``operator`` is one of ``=``, ``!=``, ``>``, ``>=``,
``<``, ``<=``, ``between``, ``not_between`` (ODCS mustBe, mustNotBe, mustBeGreaterThan, mustBeGreaterOrEqualTo,
mustBeLessThan, mustBeLessOrEqualTo, mustBeBetween, mustNotBeBetween); ``value`` is a number, or ``[low, high]`` for
the two range operators; ``unit`` is the ODCS unit of the measured number ("rows", "percent"...):

    rule             params                                 measured number        ODCS quality entry
    not_null         [operator, value] [unit]               null values            metric nullValues
                                                                                   (3.0: rule nullCheck)
    unique           [operator, value] [unit]               duplicate values       metric duplicateValues
                                                                                   (3.0: rule duplicateCount)
    accepted_values  values: [..], [operator, value] [unit] values not in `values` metric invalidValues +
                                                                                   arguments.validValues
                                                                                   (3.0: rule validValues + validValues)
    pattern          pattern: str, [operator, value] [unit] values not matching    metric invalidValues +
                                                                                   arguments.pattern
    row_count        operator, value, [unit]                rows                   metric rowCount
    custom_sql       query: str, operator, value, [unit]    the query's result     type sql + query
    range            min: number, max: number (one or both, inclusive), [unit]     type custom, engine accord,
                                                                                   implementation {rule: range, ..}
    freshness        max_age_hours: number, [unit]          age of newest `field`  type custom, engine accord,
                                                                                   implementation {rule: freshness, ..}

For the first four, no operator means "= 0" (no violation allowed), which is exported as ``mustBe: 0``; their
values, like row_count's, are numbers (custom_sql may compare ``=``/``!=`` with any single value). not_null, unique,
accepted_values, pattern, range and freshness need a `field`; row_count is object-level (`field` null); custom_sql
may be either. ODCS has no
range or freshness check, so Accord writes them as custom checks for the engine "accord", which other tools ignore
and Accord reads back. A quality entry is mapped only when all its comparison keys are understood (exactly one
operator, known arguments, string severity/description/unit); anything else (text, other custom engines,
missingValues, multi-column duplicates, rules on nested properties...) stays in the residual, untouched.

SLA hours: latency / responseTime units d, h, m (minutes), s, ms, w, y (and day(s), hour(s), min, minute(s), sec,
second(s), week(s), yr, year(s)) are converted; an entry with another or no unit, a non-numeric value, or one of
2**53 hours or more (1e308 days), is not mapped. Only the first entry of each kind is mapped; ODCS
``generalAvailability`` is normally a date (GA day), which stays in the residual: only a numeric value is read as a
percentage.

schedule: taken from the custom property ``accord.schedule`` when present; otherwise, when the object- and
property-level quality entries that carry a cron ``schedule`` all carry the same one, that cron (ODCS keeps schedules
per check). Editing it rewrites those quality schedules; when no quality entry carries it (any more), `join` writes
``accord.schedule`` instead.

Accord-only terms (notice_period_days, state_definitions, a schedule ODCS has no place for) travel in the document's
top-level ``customProperties`` under ``accord.noticePeriodDays``, ``accord.stateDefinitions`` and
``accord.schedule``, so an exported Accord contract re-imports identically. Other ``accord.*`` names are left alone.

residual
--------
Everything `terms` and `meta` do not hold, verbatim, plus the positions needed to put it back::

    {"format": 1,
     "keys": [...],                  # the document's top-level key order
     "document": {...},              # unmapped top-level keys (apiVersion, kind, servers, team, roles, price, tags...)
     "schema": [ObjectRecord],       # one per schema object, in order     } each present only when the document
     "slaProperties": [ItemRecord],  # one per SLA entry, in order         } had that key as a list; otherwise the
     "support": [ItemRecord],        # one per support channel             } key is kept verbatim in "document"
     "customProperties": [ItemRecord],
     "schedule": {"from_quality": cron},   # only when terms.schedule was read from quality entries
     "terms_digest": str}            # sha256 of `terms` as split produced them (see "edits" below)

    ObjectRecord  = {"name", "keys": [original key order], "rest": {unmapped keys},
                     "properties": [FieldRecord], "quality": [QualityRecord]}   # the last two when lists
    FieldRecord   = {"name", "keys", "rest", "quality": [QualityRecord],
                     "logical_type": str}   # the imported logicalType, kept when options of that type are in rest
    QualityRecord = {"rule": <rule>, "keys", "rest"}   # mapped to a terms rule
                  | {"node": {...}}                     # not mapped, verbatim
    ItemRecord    = {"term": <terms key>, "keys", "rest", ["source_value"]} | {"node": ...}

``keys`` records which keys a node had and in which order, so a default value (``required: false``) is written back
only where the document wrote it, and keys come back in the author's order. ``source_value`` keeps an SLA value as
written (4 d) so that an unchanged value is not rewritten through its conversion to hours.

Edits. `join` walks `terms`, not the residual: terms order is document order. Quality rules are written at their
object or field, in terms order there; `split` lists them in document order, so the relative order of rules that sit
at different places is not kept. A schema object is matched to its
record by name (the n-th object of a name to the n-th record of that name), a field by name within its object, a
quality rule by (object, field, rule) in order of occurrence at that place. Matched nodes get their unmapped keys back;
new nodes are appended (fields and rules at the end of their list, with only the keys terms know); nodes whose terms
are gone are dropped, as are lists that become empty; unmapped quality entries stay where they were. Renaming an
object or a field is therefore a removal plus an addition: its unmapped keys (tags, businessName...) are not carried
over. Changing a field's logical type drops the options of the old type (logicalTypeOptions, items, properties).
When the terms differ from those `split` produced (``terms_digest``), the export is an Accord edit, written in ODCS
v3.1.0: a document that declared v3.0.x is re-declared v3.1.0, and its mapped 3.0-style quality rules
(``rule: nullCheck``...) are rewritten as 3.1 metrics. An unedited contract comes back exactly as it was imported.

An empty residual (``{}``) means a contract created in Accord: `join` then behaves as `from_terms`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "API_VERSION",
    "META_KEYS",
    "RULES",
    "SCHEMA_VERSIONS",
    "ContractParts",
    "OdcsError",
    "OdcsIssue",
    "check_terms",
    "empty_terms",
    "format_path",
    "from_terms",
    "join",
    "load_document",
    "narrowed",
    "schema_version_for",
    "split",
    "validate",
]

API_VERSION = "v3.1.0"
SCHEMA_VERSIONS = ("3.2.0", "3.1.0", "3.0.2")
DEFAULT_SCHEMA_VERSION = "3.2.0"
# The installed package whose schema.json is the v3.2.0 schema, and the release line that ships it.
SCHEMA_PACKAGE = "open_data_contract_standard"
SCHEMA_DISTRIBUTION = "open-data-contract-standard"
SCHEMA_PACKAGE_LINE = "3.2."
SCHEMA_PACKAGE_VERSION = "3.2.0"
# The older versions' schemas ship with Accord (odcs_schemas/README.md says where each comes from).
VENDORED_SCHEMAS = {version: Path(__file__).resolve().parent / "odcs_schemas" / f"odcs-json-schema-v{version}.json"
                    for version in ("3.1.0", "3.0.2")}

META_KEYS = ("id", "name", "version", "status", "domain", "dataProduct", "tenant", "description")
RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "row_count", "freshness", "custom_sql")
ACCORD_PREFIX = "accord."
ACCORD_ENGINE = "accord"
RESIDUAL_FORMAT = 1

# Top-level key order of documents Accord writes (and of keys added to an imported document).
_TOP_ORDER = (
    "apiVersion", "kind", "id", "name", "version", "status", "domain", "dataProduct", "tenant", "description",
    "schema", "support", "slaProperties", "customProperties",
)

# Limits checked before a document is validated, so that no document, however written, can exhaust the memory, the
# stack or the time of the process reading it (docs/contracts.md, "Limits").
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024  # the text, UTF-8 encoded
MAX_DEPTH = 64  # mappings and lists inside one another, the document itself counted: about 30 levels of properties
MAX_INTEGER_DIGITS = 100  # no ODCS value needs more; Python refuses to read more than 4,300
_MAX_NODES = 1_000_000  # YAML aliases can make a small text expand enormously


# --------------------------------------------------------------------------------------------------------------------
# Errors and results


class OdcsError(ValueError):
    """A document or terms that cannot be handled; the message says what and where (line/column when known)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None and column is not None else ""
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class OdcsIssue:
    """One JSON Schema violation: `path` is readable ("schema[0].properties[2].logicalType"; "$" is the document)."""

    path: str
    message: str
    validator: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class ContractParts:
    meta: dict = field(default_factory=dict)
    terms: dict = field(default_factory=dict)
    residual: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------------------
# Loading


def _too_deep() -> str:
    return f"the document is nested more than {MAX_DEPTH} levels deep (mappings and lists inside one another)"


def _marked(message: str, node_or_event) -> OdcsError:
    mark = node_or_event.start_mark
    return OdcsError(message, line=mark.line + 1, column=mark.column + 1)


def _integer(text: str) -> int:
    """A decimal, 0o octal or 0x hexadecimal integer of at most MAX_INTEGER_DIGITS digits (ValueError otherwise)."""
    sign, digits = ("-", text[1:]) if text[:1] == "-" else ("", text.removeprefix("+"))
    base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
    if base != 10:
        digits = digits[2:]
    if len(digits) > MAX_INTEGER_DIGITS:
        raise OdcsError(f"an integer of {len(digits):,} digits is too long (the limit is {MAX_INTEGER_DIGITS} digits)")
    return int(sign + digits, base)


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise OdcsError(f"{text} is too large a number (beyond {sys.float_info.max:.1e})")
    return number


@dataclass(frozen=True)
class _LongInteger:
    """An integer of a JSON text beyond MAX_INTEGER_DIGITS, reported with its path by `_check_json_values`."""

    digits: int


def _json_integer(text: str) -> int | _LongInteger:
    digits = len(text.lstrip("-"))
    return _LongInteger(digits) if digits > MAX_INTEGER_DIGITS else int(text)


# YAML 1.2 (core schema) plain scalars, instead of PyYAML's YAML 1.1 ones: NO, off, y stay strings (1.1 read them as
# false), 12:30 stays a string (1.1 read it as the base-60 number 750), 012 is twelve (1.1: octal ten). No timestamps:
# dates stay strings, as in JSON.
_YAML_12_SCALARS = (
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"<<", "<"),
)


def _yaml_12_resolvers() -> dict:
    resolvers: dict = {}
    for tag, pattern, first in _YAML_12_SCALARS:
        for char in first:
            resolvers.setdefault(char, []).append((tag, re.compile(f"^(?:{pattern})$")))
    return resolvers


# First characters of the plain scalars YAML 1.1 may read otherwise than 1.2: yes/no/on/off/y/n (booleans), 012 and
# 1_000 and 12:30 (numbers), 0o17 (a string in 1.1).
_YAML_11_SUSPECTS = frozenset("yYnNoO+-0123456789.")
_MAX_YAML_11_NOTES = 20


try:  # libyaml's parser when it is installed; the composing stays in Python, where its depth is checked
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _Parser


class _Loader(yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.BaseResolver):
    """Safe YAML 1.2 that stays within JSON: string keys only, no duplicate keys, no values JSON has no place for
    (timestamps, binary, sets), at most MAX_DEPTH levels (checked while composing, so a deep text cannot exhaust
    the stack), integers of at most MAX_INTEGER_DIGITS digits."""

    yaml_implicit_resolvers = _yaml_12_resolvers()

    def __init__(self, stream):
        _Parser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.BaseResolver.__init__(self)
        self._depth = 0
        self.yaml_11_notes: list[str] = []

    def compose_scalar_node(self, anchor):
        event = self.peek_event()
        node = super().compose_scalar_node(anchor)
        if event.implicit[0] and event.value[:1] in _YAML_11_SUSPECTS:
            self._note_yaml_11(node)
        return node

    def _note_yaml_11(self, node) -> None:
        """Say where YAML 1.1 tools (PyYAML's defaults, many others) read a plain scalar otherwise than this loader."""
        value = node.value
        tag_11 = next((tag for tag, regexp in yaml.resolver.Resolver.yaml_implicit_resolvers.get(value[:1], ())
                       if regexp.match(value)), "tag:yaml.org,2002:str")
        octal_11 = tag_11 == node.tag == "tag:yaml.org,2002:int" and re.fullmatch(r"[-+]?0[0-7_]+", value)
        if (tag_11 == node.tag and not octal_11) or tag_11 == "tag:yaml.org,2002:timestamp":
            return  # the same, or a date, which Accord always kept as text
        if len(self.yaml_11_notes) < _MAX_YAML_11_NOTES:
            read_11 = yaml.load(value, Loader=yaml.SafeLoader)  # noqa: S506 - the safe loader, one plain scalar
            mark = node.start_mark
            self.yaml_11_notes.append(
                f"line {mark.line + 1}, column {mark.column + 1}: {value} is read as {self.construct_object(node)!r} "
                f"(YAML 1.2, as JSON has it); YAML 1.1 tools read it as {read_11!r}: write it unambiguously (quoted "
                "if it is text).")
        elif len(self.yaml_11_notes) == _MAX_YAML_11_NOTES:
            self.yaml_11_notes.append("More values are read differently by YAML 1.1 tools; only the first are listed.")

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _marked(_too_deep(), self.peek_event())

    def compose_sequence_node(self, anchor):
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor):
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges; explicit keys may override merged ones
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _marked(f"mapping keys must be strings, found {key!r} (quote it)", key_node)
            if key in seen:
                raise _marked(f"duplicate key {key!r}", key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        try:
            return _integer(text)
        except OdcsError as exc:
            raise _marked(exc.message, node) from None
        except ValueError:
            raise _marked(f"{text!r} is not an integer", node) from None

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node)
        try:
            special = text.lstrip("+-").lower() in (".inf", ".nan")  # YAML's spelling of what float() reads
            return float(text.replace(".", "", 1)) if special else _finite(text)
        except OdcsError as exc:
            raise _marked(exc.message, node) from None
        except ValueError:
            raise _marked(f"{text!r} is not a number", node) from None

    def construct_yaml_bool(self, node):
        text = self.construct_scalar(node)
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise _marked(f"{text!r} is not true or false", node)
        return text.lower() == "true"

    def construct_without_json_equivalent(self, node):
        raise _marked(f"a value tagged {node.tag} has no JSON equivalent", node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader.construct_without_json_equivalent)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise OdcsError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise OdcsError(f"{name} is not a JSON number")


def _check_size(size: int) -> None:
    if size > MAX_DOCUMENT_BYTES:
        raise OdcsError(f"the document is {size:,} bytes long; the limit is {MAX_DOCUMENT_BYTES:,} bytes")


def load_document(text: str | bytes, *, notes: list[str] | None = None) -> dict:
    """Parse an ODCS document written in YAML (1.2) or JSON. Dates and timestamps stay strings, as in JSON.

    Documents beyond the limits (MAX_DOCUMENT_BYTES, MAX_DEPTH, MAX_INTEGER_DIGITS) and values JSON or a database
    cannot hold (non-finite numbers, lone surrogates, NUL characters) raise OdcsError saying which limit or value.
    `notes`, when given, receives a line for each plain YAML value that YAML 1.1 tools read otherwise (``NO``,
    ``12:30``, ``012``...), so that a user can quote it.
    """
    if isinstance(text, bytes):
        _check_size(len(text))
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OdcsError(f"the document is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    elif len(text) * 4 > MAX_DOCUMENT_BYTES:  # a character is at most 4 bytes of UTF-8: only long texts are measured
        _check_size(len(text.encode("utf-8", "surrogatepass")))
    if found := _UNSTORABLE.search(text):
        line = text.count("\n", 0, found.start()) + 1
        raise OdcsError(f"the text contains {_unstorable(found.group())}", line=line,
                        column=found.start() - text.rfind("\n", 0, found.start()))
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise OdcsError("the document is empty")
    json_error: json.JSONDecodeError | None = None
    if text.lstrip()[:1] in "{[":
        try:
            document = json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_reject_constant,
                                  parse_int=_json_integer, parse_float=_finite)
        except json.JSONDecodeError as exc:
            json_error = exc  # may still be YAML flow style; report the JSON error if YAML fails too
        except RecursionError:
            raise OdcsError(_too_deep()) from None  # the parser's own limit (about 1,000) is far above MAX_DEPTH
        else:
            return _checked_document(document)
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        if json_error is not None:
            raise OdcsError(f"invalid JSON: {json_error.msg}", line=json_error.lineno, column=json_error.colno) from exc
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        if mark is None:
            raise OdcsError(f"invalid YAML: {problem}") from exc
        raise OdcsError(f"invalid YAML: {problem}", line=mark.line + 1, column=mark.column + 1) from exc
    except yaml.YAMLError as exc:
        raise OdcsError(f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    document = _checked_document(document)
    if notes is not None:
        notes.extend(loader.yaml_11_notes)
    return document


def _checked_document(document: Any) -> dict:
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        raise OdcsError(f"an ODCS document is a mapping of keys (apiVersion, kind, id...), this one is {kind}")
    _check_json_values(document)
    return document


# Characters no stored text may hold: NUL (PostgreSQL text and jsonb refuse it) and lone UTF-16 surrogates (JSON's
# "\ud800" escapes; they are not Unicode characters and cannot be encoded as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else f"a lone surrogate (\\u{ord(char):04x}), which is not a character"
    return f"{what}; text must be valid Unicode"


def _check_json_values(document: dict) -> None:
    count = 0
    stack: list[tuple[Any, tuple]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise OdcsError(f"the document has more than {_MAX_NODES} values (YAML aliases expanding?)")
        if isinstance(value, dict | list) and len(path) >= MAX_DEPTH:
            raise OdcsError(f"{format_path(path)}: {_too_deep()}")
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := _unstorable(key):
                    raise OdcsError(f"{format_path(path)}: a key contains {problem}")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, str):
            if problem := _unstorable(value):
                raise OdcsError(f"{format_path(path)}: the text contains {problem}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise OdcsError(f"{format_path(path)}: {value} is not a JSON number")
        elif isinstance(value, _LongInteger):
            raise OdcsError(f"{format_path(path)}: an integer of {value.digits:,} digits is too long (the limit is "
                            f"{MAX_INTEGER_DIGITS} digits)")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise OdcsError(f"{format_path(path)}: a {type(value).__name__} value has no JSON equivalent")


# --------------------------------------------------------------------------------------------------------------------
# Validation


def format_path(path: Iterable) -> str:
    """("schema", 0, "properties", 2, "logicalType") -> "schema[0].properties[2].logicalType"; () -> "$"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "$"


def schema_version_for(document: dict) -> str:
    """The schema to check a document against: 3.0.2 for apiVersion v3.0.x, 3.1.0 for v3.1.x, otherwise 3.2.0."""
    api_version = document.get("apiVersion") if isinstance(document, dict) else None
    if isinstance(api_version, str) and re.fullmatch(r"v?3\.0(\.\d+)?", api_version):
        return "3.0.2"
    if isinstance(api_version, str) and re.fullmatch(r"v?3\.1(\.\d+)?", api_version):
        return "3.1.0"
    return DEFAULT_SCHEMA_VERSION


def _normal_version(version: str) -> str:
    text = version.strip().lstrip("vV")
    for known in SCHEMA_VERSIONS:
        minor = known[:3]  # "3.1"
        if text in (known, minor, minor + ".x") or (text.startswith(minor + ".") and text[4:].isdigit()):
            return known
    raise OdcsError(f"unknown ODCS schema version {version!r}; known: {', '.join(SCHEMA_VERSIONS)}")


def _schema_text(version: str) -> str:
    """The JSON Schema of `version` (one of SCHEMA_VERSIONS), from Accord's installed files."""
    if version in VENDORED_SCHEMAS:
        return VENDORED_SCHEMAS[version].read_text(encoding="utf-8")
    try:
        installed = metadata.version(SCHEMA_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise OdcsError(f"the ODCS JSON Schema v{version} comes from the {SCHEMA_DISTRIBUTION} package, which is not "
                        "installed; install requirements.txt") from None
    if not installed.startswith(SCHEMA_PACKAGE_LINE):
        raise OdcsError(f"{SCHEMA_DISTRIBUTION} {installed} is installed, but its schema is not ODCS v{version}; "
                        f"install the version pinned in requirements.txt ({SCHEMA_PACKAGE_LINE}x)")
    return resources.files(SCHEMA_PACKAGE).joinpath("schema.json").read_text(encoding="utf-8")


def _validator_for(schema: dict, version: str):
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise OdcsError(f"the ODCS JSON Schema v{version} cannot be used: {exc}") from exc
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _whole_schema_validator(version: str):
    """The standard's schema as published, applied to a whole document at once. Its time grows exponentially with
    the nesting of properties (see `_Levels`), so `validate` does not use it; tests compare the two."""
    try:
        schema = json.loads(_schema_text(version))
    except (OSError, ValueError) as exc:
        raise OdcsError(f"the ODCS JSON Schema v{version} cannot be used: {exc}") from exc
    return _validator_for(schema, version)


# The definitions of the standard's schema that nest inside one another: a property's `properties` (when its
# logicalType is object) and `items` (array), an array item's `properties`.
_NESTED_DEFINITIONS = ("SchemaProperty", "SchemaItemProperty")
_NESTING_OWNERS = {"SchemaObject": ("SchemaObject",), "SchemaBaseProperty": _NESTED_DEFINITIONS,
                   "SchemaItemProperty": ("SchemaItemProperty",)}


@dataclass(frozen=True)
class _Cut:
    """One place where the schema refers to a nested property: `key` of a property whose definition is one of
    `applies_to`, when `condition` (an `if` of the schema) holds; a list of nested ones when `many`."""

    applies_to: tuple[str, ...]
    condition: Any
    key: str
    many: bool
    definition: str


class _Levels:
    """The ODCS schema cut at its recursion, so that a document is validated one level of properties at a time.

    With `unevaluatedProperties: false` on each property and `if`/`then` branches per logicalType, the published
    schema makes jsonschema validate a nested property again for every branch of every ancestor that has to find
    out which keys it evaluated: three times more work per level (a 600-byte document seven levels deep took 3 s).
    Here each reference to a property (from a schema object or a property) is replaced by `{"type": "object"}`; the
    document is validated with that schema, then every property is validated on its own against its definition, cut
    the same way, wherever the full schema would have applied it. Each node is validated once: time linear in the
    document, and a part of it can be validated alone.
    """

    def __init__(self, version: str):
        try:
            schema = json.loads(_schema_text(version))
        except (OSError, ValueError) as exc:
            raise OdcsError(f"the ODCS JSON Schema v{version} cannot be used: {exc}") from exc
        definitions = schema.get("$defs", {})
        self.cuts: list[_Cut] = []
        for owner, applies_to in _NESTING_OWNERS.items():
            if owner in definitions:
                definitions[owner] = self._cut(definitions[owner], applies_to, None)
        self.document = _validator_for(schema, version)
        self.definitions = {
            name: _validator_for({"$schema": schema.get("$schema"), "$defs": definitions, "$ref": f"#/$defs/{name}"},
                                 version)
            for name in _NESTED_DEFINITIONS if name in definitions}

    def _cut(self, node: Any, applies_to: tuple[str, ...], condition: Any) -> Any:
        if isinstance(node, list):
            return [self._cut(item, applies_to, condition) for item in node]
        if not isinstance(node, dict):
            return node
        result = {}
        for key, value in node.items():
            if key == "then" and "if" in node:
                result[key] = self._cut(value, applies_to, node["if"])
            elif key == "properties" and isinstance(value, dict):
                result[key] = {name: self._cut_reference(name, sub, applies_to, condition)
                               for name, sub in value.items()}
            else:
                result[key] = self._cut(value, applies_to, condition)
        return result

    def _cut_reference(self, name: str, node: Any, applies_to: tuple[str, ...], condition: Any) -> Any:
        for many, holder in ((False, node), (True, node.get("items") if isinstance(node, dict) else None)):
            reference = holder.get("$ref", "") if isinstance(holder, dict) else ""
            definition = reference.removeprefix("#/$defs/")
            if definition in _NESTED_DEFINITIONS:
                self.cuts.append(_Cut(applies_to, condition, name, many, definition))
                cut = {key: value for key, value in holder.items() if key != "$ref"} | {"type": "object"}
                return {**node, "items": cut} if many else cut
        return self._cut(node, applies_to, condition)

    def errors(self, document: dict, within: set[tuple] | None = None) -> Iterator[tuple[tuple, Any]]:
        """(path prefix, jsonschema error) for the document and each of its properties, however nested.

        With `within` (paths), only the properties at a path that begins one of them are validated, and the document
        itself: a document's issues all lie where its full validation (`_fast_validator`) found them, or above.
        """
        yield from (((), error) for error in self.document.iter_errors(document))
        objects = document.get("schema")
        pending: list[tuple[Any, tuple, str]] = [
            (item, ("schema", index), "SchemaObject") for index, item in enumerate(objects)
        ] if isinstance(objects, list) else []
        prefixes = None if within is None else {path[:length] for path in within for length in range(len(path) + 1)}
        while pending:
            node, path, definition = pending.pop()
            if not isinstance(node, dict) or (prefixes is not None and path not in prefixes):
                continue  # a type error is reported where the node sits; the rest has nothing to report
            if definition != "SchemaObject":  # schema objects are validated with the document
                yield from ((path, error) for error in self.definitions[definition].iter_errors(node))
            pending.extend(reversed(list(self._nested(node, path, definition))))

    def _nested(self, node: dict, path: tuple, definition: str) -> Iterator[tuple[Any, tuple, str]]:
        seen: set[str] = set()
        for cut in self.cuts:
            if definition not in cut.applies_to or cut.key in seen or cut.key not in node:
                continue
            if cut.condition is not None and not self.document.evolve(schema=cut.condition).is_valid(node):
                continue
            seen.add(cut.key)
            value = node[cut.key]
            if cut.many and isinstance(value, list):
                yield from ((item, (*path, cut.key, index), cut.definition) for index, item in enumerate(value))
            elif not cut.many:
                yield value, (*path, cut.key), cut.definition


@lru_cache(maxsize=len(SCHEMA_VERSIONS))
def _schema_validator(version: str) -> _Levels:
    return _Levels(version)


def validate(document: dict, version: str | None = None) -> list[OdcsIssue]:
    """Check `document` against the ODCS JSON Schema; [] when valid.

    `version` ("3.1.0", "v3.0.2", "3.1"...) defaults to the one the document declares (`schema_version_for`).
    Issues are sorted by path; the consequential "unevaluated property" noise of a failing sub-schema is dropped.
    Time is linear in the document, however deeply its properties nest: jsonschema-rs finds whether and where the
    document is invalid (`_fast_validator`), jsonschema describes the issues of those parts, one level of properties
    at a time (`_Levels`). jsonschema has the last word: where it finds nothing in the whole document, it is valid.
    """
    version = _normal_version(version) if version else schema_version_for(document)
    levels = _schema_validator(version)
    found = {tuple(error.instance_path) for error in _fast_validator(version).iter_errors(document)}
    if not found:
        return []
    return _issues(levels.errors(document, within=found)) or _issues(levels.errors(document))


@lru_cache(maxsize=len(SCHEMA_VERSIONS))
def _fast_validator(version: str):
    """The same schema compiled by jsonschema-rs, which finds a document valid or where it is not in milliseconds
    (jsonschema took 18 s for 10,000 properties); the messages still come from jsonschema, for the parts it found
    invalid. Formats are checked as jsonschema checks them (it checks "date"; "date-time" and "uri" only with
    optional packages that Accord does not install)."""
    import jsonschema_rs

    schema = json.loads(_schema_text(version))
    checked = set(_schema_validator(version).document.FORMAT_CHECKER.checkers)
    used = set(re.findall(r'"format":\s*"([^"]+)"', json.dumps(schema)))
    unchecked = {name: (lambda value: True) for name in used - checked}
    return jsonschema_rs.validator_for(schema, validate_formats=True, formats=unchecked, offline=True)


def _issues(errors: Iterable[tuple[tuple, Any]]) -> list[OdcsIssue]:
    issues: list[OdcsIssue] = []
    failing: set[str] = set()
    deferred = []
    for prefix, error in errors:
        if error.validator == "unevaluatedProperties":
            deferred.append((prefix, error))
            continue
        issues.append(_issue(error, prefix))
        failing.add(format_path([*prefix, *error.absolute_path]))
    for prefix, error in deferred:
        if format_path([*prefix, *error.absolute_path]) not in failing:  # otherwise a consequence of that failure
            issues.append(_issue(error, prefix))
    unique = {(issue.path, issue.message): issue for issue in issues}
    return sorted(unique.values(), key=lambda issue: (_path_sort_key(issue.path), issue.message))


def _path_sort_key(path: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\[\]]+", path) if part]


def _issue(error, prefix: tuple = ()) -> OdcsIssue:
    path = [*prefix, *error.absolute_path]
    validator = str(error.validator)
    instance = error.instance
    if validator == "required":
        missing = [key for key in error.validator_value if isinstance(instance, dict) and key not in instance]
        named = [key for key in missing if repr(key) in error.message] or missing[:1]
        if named:
            return OdcsIssue(format_path([*path, named[0]]), f"required property {named[0]!r} is missing", validator)
    if validator in ("additionalProperties", "unevaluatedProperties"):
        extra = re.findall(r"'([^']*)'", error.message.split("(", 1)[-1])
        if len(extra) == 1:
            return OdcsIssue(format_path([*path, extra[0]]), f"property {extra[0]!r} is not allowed here", validator)
        if extra:
            return OdcsIssue(format_path(path), f"properties {', '.join(extra)} are not allowed here", validator)
    if validator in ("oneOf", "anyOf"):
        alternatives = [sub for sub in error.validator_value if isinstance(sub, dict)]
        required = [key for sub in alternatives for key in sub.get("required", ())]
        if not error.context:  # valid under more than one alternative
            present = [key for key in required if isinstance(instance, dict) and key in instance]
            if len(present) > 1:
                return OdcsIssue(format_path(path), f"use only one of {', '.join(present)}", validator)
            return OdcsIssue(format_path(path), "matches more than one allowed form", validator)
        real = [sub for sub in error.context if sub.validator != "required" or len(sub.absolute_path) > len(path)]
        if not real and required:
            return OdcsIssue(format_path(path), f"needs one of {', '.join(required)}", validator)
        from jsonschema.exceptions import best_match

        best = best_match(real or error.context)
        if best is not None:
            return _issue(best, prefix)
    if validator == "type" and isinstance(instance, dict | list):
        expected = error.validator_value
        expected = expected if isinstance(expected, str) else " or ".join(expected)
        found = "an object" if isinstance(instance, dict) else "an array"
        return OdcsIssue(format_path(path), f"expected {expected}, found {found}", validator)
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return OdcsIssue(format_path(path), message, validator)


# --------------------------------------------------------------------------------------------------------------------
# Terms: defaults and checks


_OPERATORS = {
    "mustBe": "=",
    "mustNotBe": "!=",
    "mustBeGreaterThan": ">",
    "mustBeGreaterOrEqualTo": ">=",
    "mustBeLessThan": "<",
    "mustBeLessOrEqualTo": "<=",
    "mustBeBetween": "between",
    "mustNotBeBetween": "not_between",
}
_OPERATOR_KEYS = {operator: key for key, operator in _OPERATORS.items()}
_VIOLATION_RULES = ("not_null", "unique", "accepted_values", "pattern")
_METRICS = {"not_null": "nullValues", "unique": "duplicateValues", "accepted_values": "invalidValues",
            "pattern": "invalidValues", "row_count": "rowCount"}
_LEGACY_RULES = {"nullCheck": "not_null", "duplicateCount": "unique", "validValues": "accepted_values",
                 "rowCount": "row_count"}
_LEGACY_NAMES = {rule: name for name, rule in _LEGACY_RULES.items()}
_RULE_PARAMS = {
    "not_null": set(),
    "unique": set(),
    "accepted_values": {"values"},
    "pattern": {"pattern"},
    "row_count": set(),
    "custom_sql": {"query"},
    "range": {"min", "max"},
    "freshness": {"max_age_hours"},
}
_IMPLEMENTATION_ORDER = ("min", "max", "max_age_hours")
_LOGICAL_TYPE_DETAILS = ("logicalTypeOptions", "items", "properties")
_FIELD_RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "freshness")
_COMPARED_RULES = ("not_null", "unique", "accepted_values", "pattern", "row_count", "custom_sql")

_OBJECT_SPEC = (("name", "name", str, None), ("physical_name", "physicalName", str, None),
                ("physical_type", "physicalType", str, None), ("description", "description", str, None))
_FIELD_SPEC = (("name", "name", str, None), ("physical_name", "physicalName", str, None),
               ("logical_type", "logicalType", str, None), ("type", "physicalType", str, None),
               ("description", "description", str, None), ("primary_key", "primaryKey", bool, False),
               ("required", "required", bool, False), ("unique", "unique", bool, False),
               ("classification", "classification", str, None))
_SLA_TERMS = ("freshness_hours", "availability_percent", "response_time_hours")
_SLA_EXPORT = {"freshness_hours": ("latency", "h"), "availability_percent": ("availability", "percent"),
               "response_time_hours": ("responseTime", "h")}
_ACCORD_PROPERTIES = {"notice_period_days": "accord.noticePeriodDays", "schedule": "accord.schedule",
                      "state_definitions": "accord.stateDefinitions"}
_HOURS = {
    "ms": 1 / 3_600_000, "s": 1 / 3600, "sec": 1 / 3600, "second": 1 / 3600, "seconds": 1 / 3600,
    "m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
    "h": 1, "hr": 1, "hrs": 1, "hour": 1, "hours": 1,
    "d": 24, "day": 24, "days": 24, "w": 168, "week": 168, "weeks": 168,
    "y": 8760, "yr": 8760, "year": 8760, "years": 8760,
}


def empty_terms() -> dict:
    return {"schema": [], "quality": [], "sla": dict.fromkeys(_SLA_TERMS), "support_channel": None, "schedule": None,
            "notice_period_days": None, "state_definitions": []}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_bounds(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(_is_number, value)) and value[0] < value[1]


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def check_terms(terms: Any) -> list[str]:
    """Structural problems of `terms` (types, unknown keys, rules pointing nowhere); [] when join can export them."""
    try:
        _normalized_terms(terms)
    except OdcsError as exc:
        return exc.message.split("\n")[1:] or [exc.message]
    return []


def _normalized_terms(terms: Any) -> dict:
    problems: list[str] = []
    if not isinstance(terms, dict):
        raise OdcsError(f"invalid terms:\nterms must be a mapping, got {type(terms).__name__}")
    result = empty_terms()
    problems += [f"unknown terms key {key!r}" for key in terms if key not in result]

    objects = terms.get("schema", [])
    fields_of: dict[str, set] = {}
    if not isinstance(objects, list):
        problems.append("schema must be a list")
        objects = []
    for index, obj in enumerate(objects):
        where = f"schema[{index}]"
        if not isinstance(obj, dict):
            problems.append(f"{where} must be a mapping")
            continue
        entry = _normalized_entry(obj, _OBJECT_SPEC, where, problems, extra=("fields",))
        fields = obj.get("fields", [])
        if not isinstance(fields, list):
            problems.append(f"{where}.fields must be a list")
            fields = []
        entry["fields"] = []
        for position, item in enumerate(fields):
            if not isinstance(item, dict):
                problems.append(f"{where}.fields[{position}] must be a mapping")
                continue
            entry["fields"].append(_normalized_entry(item, _FIELD_SPEC, f"{where}.fields[{position}]", problems))
        result["schema"].append(entry)
        if isinstance(entry["name"], str):
            fields_of.setdefault(entry["name"], set()).update(
                item["name"] for item in entry["fields"] if isinstance(item["name"], str)
            )

    rules = terms.get("quality", [])
    if not isinstance(rules, list):
        problems.append("quality must be a list")
        rules = []
    for index, rule in enumerate(rules):
        normal = _normalized_rule(rule, f"quality[{index}]", fields_of, problems)
        if normal is not None:
            result["quality"].append(normal)

    sla = terms.get("sla", {})
    if sla is None:
        sla = {}
    if not isinstance(sla, dict):
        problems.append("sla must be a mapping")
        sla = {}
    for key, value in sla.items():
        if key not in _SLA_TERMS:
            problems.append(f"unknown sla key {key!r}")
        elif value is not None and (not _is_number(value) or value < 0):
            problems.append(f"sla.{key} must be a non-negative number or null")
        elif key == "availability_percent" and value is not None and value > 100:
            problems.append("sla.availability_percent must be at most 100")
        else:
            result["sla"][key] = value

    for key in ("support_channel", "schedule"):
        value = terms.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{key} must be a non-empty string or null")
        else:
            result[key] = value
    notice = terms.get("notice_period_days")
    if notice is not None and (not isinstance(notice, int) or isinstance(notice, bool) or notice < 0):
        problems.append("notice_period_days must be a non-negative integer or null")
    else:
        result["notice_period_days"] = notice
    states = terms.get("state_definitions", [])
    if states is None:
        states = []
    if not isinstance(states, list) or not all(isinstance(item, str) for item in states):
        problems.append("state_definitions must be a list of strings")
    else:
        result["state_definitions"] = list(states)

    if problems:
        raise OdcsError("invalid terms:\n" + "\n".join(problems))
    return copy.deepcopy(result)


def _normalized_entry(item: dict, spec, where: str, problems: list[str], extra: tuple = ()) -> dict:
    known = {term for term, _key, _type, _default in spec} | set(extra)
    problems += [f"unknown key {key!r} in {where}" for key in item if key not in known]
    entry = {}
    for term, _key, kind, default in spec:
        value = item.get(term, default)
        if kind is bool and not isinstance(value, bool):
            problems.append(f"{where}.{term} must be true or false")
        elif kind is str and value is not None and not isinstance(value, str):
            problems.append(f"{where}.{term} must be a string or null")
        entry[term] = value
    return entry


def _normalized_rule(rule: Any, where: str, fields_of: dict[str, set], problems: list[str]) -> dict | None:
    if not isinstance(rule, dict):
        problems.append(f"{where} must be a mapping")
        return None
    keys = ("object", "field", "rule", "params", "severity", "description")
    problems += [f"unknown key {key!r} in {where}" for key in rule if key not in keys]
    normal = {key: rule.get(key) for key in keys}
    if normal["params"] is None:
        normal["params"] = {}
    count = len(problems)
    if normal["object"] not in fields_of:
        problems.append(f"{where}.object {normal['object']!r} is not a schema object of these terms")
    elif normal["field"] is not None and normal["field"] not in fields_of[normal["object"]]:
        problems.append(f"{where}.field {normal['field']!r} is not a field of {normal['object']!r}")
    for key in ("severity", "description"):
        if normal[key] is not None and not isinstance(normal[key], str):
            problems.append(f"{where}.{key} must be a string or null")
    kind, params = normal["rule"], normal["params"]
    if kind not in RULES:
        problems.append(f"{where}.rule must be one of {', '.join(RULES)}")
        return None
    if not isinstance(params, dict):
        problems.append(f"{where}.params must be a mapping")
        return None
    allowed = _RULE_PARAMS[kind] | {"unit"} | ({"operator", "value"} if kind in _COMPARED_RULES else set())
    problems += [f"{where}.params: unknown key {key!r} for {kind}" for key in params if key not in allowed]
    if "unit" in params and not isinstance(params["unit"], str):
        problems.append(f"{where}.params.unit must be a string")
    if kind in _FIELD_RULES and normal["field"] is None:
        problems.append(f"{where}: {kind} applies to a field; set field")
    if kind == "row_count" and normal["field"] is not None:
        problems.append(f"{where}: row_count applies to the object; field must be null")
    if kind in _COMPARED_RULES:
        _check_comparison(params, kind, f"{where}.params", problems)
    if kind == "accepted_values" and not (isinstance(params.get("values"), list)
                                          and all(_is_scalar(value) for value in params["values"])):
        problems.append(f"{where}.params.values must be a list of values")
    if kind == "pattern" and not isinstance(params.get("pattern"), str):
        problems.append(f"{where}.params.pattern must be a string")
    if kind == "custom_sql" and not (isinstance(params.get("query"), str) and params["query"].strip()):
        problems.append(f"{where}.params.query must be a SQL string")
    if kind == "range":
        bounds = [params[key] for key in ("min", "max") if key in params]
        if not bounds or not all(_is_number(value) for value in bounds):
            problems.append(f"{where}.params needs a numeric min, max or both")
    if kind == "freshness" and not (_is_number(params.get("max_age_hours")) and params["max_age_hours"] > 0):
        problems.append(f"{where}.params.max_age_hours must be a positive number")
    return normal if len(problems) == count else None


def _check_comparison(params: dict, kind: str, where: str, problems: list[str]) -> None:
    if "operator" not in params and "value" not in params:
        if kind in ("row_count", "custom_sql"):
            problems.append(f"{where} needs an operator and a value for {kind}")
        return
    operator, value = params.get("operator"), params.get("value")
    if operator not in _OPERATOR_KEYS:
        problems.append(f"{where}.operator must be one of {', '.join(_OPERATOR_KEYS)}")
    elif "value" not in params:
        problems.append(f"{where} has an operator without a value")
    elif operator in ("between", "not_between"):
        if not _is_bounds(value):
            problems.append(f"{where}.value must be [low, high] with low < high for {operator}")
    elif operator in ("=", "!=") and kind == "custom_sql":
        if not _is_scalar(value):
            problems.append(f"{where}.value must be a single value")
    elif not _is_number(value):
        problems.append(f"{where}.value must be a number for {operator}")


def _digest(terms: dict) -> str:
    text = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# Split


def split(document: dict) -> ContractParts:
    """Divide a (loaded, preferably validated) ODCS document into meta, Accord terms and the verbatim residual."""
    if not isinstance(document, dict):
        raise OdcsError("an ODCS document is a mapping of keys")
    meta = {key: copy.deepcopy(document[key]) for key in META_KEYS if key in document}
    terms = empty_terms()
    residual: dict[str, Any] = {"format": RESIDUAL_FORMAT, "keys": list(document), "document": {}}
    quality_items: list[dict] = []
    for key, value in document.items():
        if key in META_KEYS:
            continue
        if key == "schema" and isinstance(value, list) and all(isinstance(obj, dict) for obj in value):
            residual["schema"] = _split_schema(value, terms, quality_items)
        elif key == "slaProperties" and isinstance(value, list):
            residual["slaProperties"] = _split_sla(value, terms)
        elif key == "support" and isinstance(value, list):
            residual["support"] = _split_support(value, terms)
        elif key == "customProperties" and isinstance(value, list):
            residual["customProperties"] = _split_custom_properties(value, terms)
        else:
            residual["document"][key] = copy.deepcopy(value)
    if terms["schedule"] is None:
        cron = _common_schedule(quality_items)
        if cron is not None:
            terms["schedule"] = cron
            residual["schedule"] = {"from_quality": cron}
    residual["terms_digest"] = _digest(terms)
    return ContractParts(meta=meta, terms=terms, residual=residual)


def _split_node(node: dict, spec, structural: Iterable[str] = ()) -> tuple[dict, dict]:
    """Terms values of `spec` and the record {keys, rest}; a value of the wrong type stays in rest."""
    entry = {}
    mapped = set(structural)
    for term, key, kind, default in spec:
        value = node.get(key)
        if key in node and (isinstance(value, bool) if kind is bool else isinstance(value, kind)):
            entry[term] = value
            mapped.add(key)
        else:
            entry[term] = default
    rest = {key: copy.deepcopy(value) for key, value in node.items() if key not in mapped}
    return entry, {"keys": list(node), "rest": rest}


def _split_schema(objects: list[dict], terms: dict, quality_items: list[dict]) -> list[dict]:
    records = []
    object_names = [obj.get("name") for obj in objects]
    for obj in objects:
        properties = obj.get("properties")
        structural = []
        if isinstance(properties, list) and all(isinstance(item, dict) for item in properties):
            structural.append("properties")
        if isinstance(obj.get("quality"), list):
            structural.append("quality")
        entry, record = _split_node(obj, _OBJECT_SPEC, structural)
        record = {"name": entry["name"], **record}
        entry["fields"] = []
        name = entry["name"]
        # Rules are addressed by name: those on an ambiguous name stay verbatim.
        addressable = isinstance(name, str) and object_names.count(name) == 1
        for key in obj:
            if key == "properties" and "properties" in structural:
                record["properties"] = []
                field_names = [item.get("name") for item in properties]
                for item in properties:
                    has_quality = isinstance(item.get("quality"), list)
                    field_entry, field_record = _split_node(item, _FIELD_SPEC, ["quality"] if has_quality else [])
                    field_record = {"name": field_entry["name"], **field_record}
                    if field_entry["logical_type"] is not None and any(
                        key in field_record["rest"] for key in _LOGICAL_TYPE_DETAILS
                    ):
                        field_record["logical_type"] = field_entry["logical_type"]
                    if has_quality:
                        field_name = field_entry["name"]
                        field_addressable = (addressable and isinstance(field_name, str)
                                             and field_names.count(field_name) == 1)
                        field_record["quality"] = _split_quality(
                            item["quality"], name, field_name, field_addressable, terms, quality_items
                        )
                    entry["fields"].append(field_entry)
                    record["properties"].append(field_record)
            elif key == "quality" and "quality" in structural:
                record["quality"] = _split_quality(obj["quality"], name, None, addressable, terms, quality_items)
        terms["schema"].append(entry)
        records.append(record)
    return records


def _split_quality(items: list, obj: str | None, field_name: str | None, addressable: bool, terms: dict,
                   quality_items: list[dict]) -> list[dict]:
    records = []
    for item in items:
        if isinstance(item, dict):
            quality_items.append(item)
        match = _match_rule(item) if addressable else None
        if match is None:
            records.append({"node": copy.deepcopy(item)})
            continue
        rule, params, mapped_keys = match
        entry = {"object": obj, "field": field_name, "rule": rule, "params": params,
                 "severity": item.get("severity"), "description": item.get("description")}
        if _normalized_rule(entry, "", {obj: {field_name}}, []) is None:  # what join could not write back
            records.append({"node": copy.deepcopy(item)})
            continue
        terms["quality"].append(entry)
        records.append({"rule": rule, "keys": list(item),
                        "rest": {key: copy.deepcopy(value) for key, value in item.items() if key not in mapped_keys}})
    return records


def _match_rule(item: Any) -> tuple[str, dict, set] | None:
    """(rule, params, ODCS keys the terms rule holds) for a quality entry Accord understands, else None."""
    if not isinstance(item, dict):
        return None
    mapped = {key for key in ("severity", "description", "unit") if key in item}
    if any(not isinstance(item[key], str) for key in mapped):
        return None
    params: dict[str, Any] = {}
    operators = [key for key in _OPERATORS if key in item]
    if len(operators) > 1:
        return None
    kind_of_check = item.get("type", "library")
    if kind_of_check == "library" and ("metric" in item or "rule" in item):
        if "metric" in item and "rule" in item:
            return None
        style = "metric" if "metric" in item else "rule"
        name = item[style]
        arguments = item.get("arguments")
        mapped.add(style)
        if style == "metric":
            rule = {"nullValues": "not_null", "duplicateValues": "unique", "rowCount": "row_count"}.get(name)
            if name == "invalidValues" and isinstance(arguments, dict) and len(arguments) == 1:
                if isinstance(arguments.get("validValues"), list) and all(map(_is_scalar, arguments["validValues"])):
                    rule, params["values"] = "accepted_values", copy.deepcopy(arguments["validValues"])
                elif isinstance(arguments.get("pattern"), str):
                    rule, params["pattern"] = "pattern", arguments["pattern"]
                if rule:
                    mapped.add("arguments")
            elif "arguments" in item:
                return None
        else:
            rule = _LEGACY_RULES.get(name) if isinstance(name, str) else None
            if "arguments" in item:
                return None
            if rule == "accepted_values":
                values = item.get("validValues")
                if not (isinstance(values, list) and all(map(_is_scalar, values))):
                    return None
                params["values"] = copy.deepcopy(values)
                mapped.add("validValues")
        if rule is None:
            return None
    elif kind_of_check == "sql" and _is_text(item.get("query")) and "metric" not in item:
        rule, params["query"] = "custom_sql", item["query"]
        mapped.add("query")
    elif kind_of_check == "custom" and item.get("engine") == ACCORD_ENGINE and not operators:
        implementation = item.get("implementation")
        if not isinstance(implementation, dict):
            return None
        rule = implementation.get("rule")
        values = {key: value for key, value in implementation.items() if key != "rule"}
        if rule not in ("range", "freshness") or set(values) - _RULE_PARAMS[rule] or not values:
            return None
        if not all(_is_number(value) for value in values.values()):
            return None
        params.update(values)
        mapped |= {"engine", "implementation"}
    else:
        return None
    if operators:
        key = operators[0]
        value = item[key]
        operator = _OPERATORS[key]
        if operator in ("between", "not_between"):
            if not _is_bounds(value):
                return None
        elif operator in ("=", "!=") and rule == "custom_sql":
            if not _is_scalar(value):
                return None
        elif not _is_number(value):
            return None
        if not (rule in _VIOLATION_RULES and operator == "=" and _is_number(value) and value == 0):
            params["operator"], params["value"] = operator, copy.deepcopy(value)
        mapped.add(key)
    elif rule in ("row_count", "custom_sql"):
        return None  # a check with nothing to compare is not one Accord can run
    if "unit" in item:
        params["unit"] = item["unit"]
    return rule, params, mapped


def _common_schedule(items: list[dict]) -> str | None:
    crons = {item["schedule"] for item in items
             if "schedule" in item and item.get("scheduler", "cron") == "cron"}
    if len(crons) == 1:
        cron = crons.pop()
        if isinstance(cron, str) and cron.strip():
            return cron
    return None


def _to_hours(value: Any, unit: Any) -> float | None:
    if not _is_number(value) or not isinstance(unit, str) or unit.strip().lower() not in _HOURS:
        return None
    hours = value * _HOURS[unit.strip().lower()]
    return _tidy(hours) if _is_number(hours) and abs(hours) < 2**53 else None  # beyond: not mapped, kept as written


def _tidy(number: float) -> float | int:
    rounded = round(number, 9)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 2**53 else rounded


def _split_sla(items: list, terms: dict) -> list[dict]:
    records = []
    for item in items:
        term = None
        if isinstance(item, dict) and "value" in item:
            prop, value = item.get("property"), item["value"]
            if prop in ("latency", "freshness") and terms["sla"]["freshness_hours"] is None:
                hours = _to_hours(value, item.get("unit"))
                term = "freshness_hours" if hours is not None and hours >= 0 else None
            elif prop == "responseTime" and terms["sla"]["response_time_hours"] is None:
                hours = _to_hours(value, item.get("unit"))
                term = "response_time_hours" if hours is not None and hours >= 0 else None
            elif (prop in ("availability", "generalAvailability") and terms["sla"]["availability_percent"] is None
                  and _is_number(value) and 0 <= value <= 100 and item.get("unit", "percent") in ("percent", "%")):
                hours, term = value, "availability_percent"
        if term is None:
            records.append({"node": copy.deepcopy(item)})
            continue
        terms["sla"][term] = hours
        record = {"term": term, "keys": list(item),
                  "rest": {key: copy.deepcopy(val) for key, val in item.items() if key != "value"}}
        if term != "availability_percent":
            record["source_value"] = item["value"]
        records.append(record)
    return records


def _split_support(items: list, terms: dict) -> list[dict]:
    records = []
    for item in items:
        if (terms["support_channel"] is None and isinstance(item, dict) and isinstance(item.get("channel"), str)
                and item["channel"].strip()):
            terms["support_channel"] = item["channel"]
            records.append({"term": "support_channel", "keys": list(item),
                            "rest": {key: copy.deepcopy(val) for key, val in item.items() if key != "channel"}})
        else:
            records.append({"node": copy.deepcopy(item)})
    return records


def _split_custom_properties(items: list, terms: dict) -> list[dict]:
    records = []
    by_property = {name: term for term, name in _ACCORD_PROPERTIES.items()}
    taken: set[str] = set()
    for item in items:
        term = by_property.get(item.get("property")) if isinstance(item, dict) and "value" in item else None
        if term is not None and term not in taken and _accord_value_ok(term, item["value"]):
            taken.add(term)
            terms[term] = copy.deepcopy(item["value"])
            records.append({"term": term, "keys": list(item),
                            "rest": {key: copy.deepcopy(val) for key, val in item.items() if key != "value"}})
        else:
            records.append({"node": copy.deepcopy(item)})
    return records


def _accord_value_ok(term: str, value: Any) -> bool:
    if term == "notice_period_days":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if term == "schedule":
        return isinstance(value, str) and bool(value.strip())
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# --------------------------------------------------------------------------------------------------------------------
# Join


_ABSENT = object()


def _merge(keys: list, rest: dict, mapped: dict, order: Iterable[str] = (), renames: dict | None = None) -> dict:
    """A node in its original key order: mapped values win, _ABSENT drops, new keys follow in `order`."""
    renames = renames or {}
    out: dict = {}
    for key in keys:
        key = renames.get(key, key)
        if key in out:
            continue
        if key in mapped and mapped[key] is not _ABSENT:
            out[key] = mapped[key]
        elif key in rest:
            out[key] = copy.deepcopy(rest[key])
    for key, value in rest.items():
        if key not in out and key not in keys:
            out[key] = copy.deepcopy(value)
    for key in [*order, *mapped]:
        if key not in out and mapped.get(key, _ABSENT) is not _ABSENT:
            out[key] = mapped[key]
    return out


def _emit(record: dict | None, key: str, value: Any, default: Any) -> Any:
    """The value to write for a mapped key: only where the document had it, or where it says something."""
    if value is None:
        return _ABSENT
    had_it = record is not None and key in record["keys"] and key not in record["rest"]
    if value == default and not had_it and default is not None:
        return _ABSENT
    return copy.deepcopy(value)


def _by_identity(records: list[dict]) -> dict[tuple, dict]:
    seen: dict[Any, int] = defaultdict(int)
    result = {}
    for record in records:
        result[(record["name"], seen[record["name"]])] = record
        seen[record["name"]] += 1
    return result


def _identities(entries: list[dict]) -> Iterator[tuple[tuple, dict]]:
    seen: dict[Any, int] = defaultdict(int)
    for entry in entries:
        yield (entry["name"], seen[entry["name"]]), entry
        seen[entry["name"]] += 1


def _keep_list(items: list, record: dict | None, key: str) -> Any:
    """A rebuilt list is written when it has items, or when the document had it empty."""
    if items:
        return items
    had_empty = record is not None and key in record and record[key] == [] and key in record["keys"]
    return [] if had_empty else _ABSENT


@dataclass
class _JoinState:
    terms: dict
    upgrade: bool  # an edited v3.0.x contract is written as ODCS v3.1.0
    quality_items: list = field(default_factory=list)


def join(parts: ContractParts) -> dict:
    """Rebuild the ODCS document from meta, terms and residual (`split`'s inverse; see the module docstring)."""
    meta, residual = parts.meta or {}, parts.residual or {}
    if not isinstance(meta, dict) or any(key not in META_KEYS for key in meta):
        raise OdcsError(f"meta must be a mapping with keys among {', '.join(META_KEYS)}")
    if not isinstance(residual, dict):
        raise OdcsError("residual must be a mapping (as returned by split)")
    if residual and residual.get("format") != RESIDUAL_FORMAT:
        raise OdcsError(f"unknown residual format {residual.get('format')!r}; expected {RESIDUAL_FORMAT}")
    terms = _normalized_terms(parts.terms if parts.terms is not None else {})
    fresh = not residual
    keys = list(residual.get("keys", []))
    rest = copy.deepcopy(residual.get("document", {}))
    if fresh:
        rest = {"apiVersion": API_VERSION, "kind": "DataContract"}
    edited = not fresh and residual.get("terms_digest") != _digest(terms)
    api_version = rest.get("apiVersion")
    upgrade = edited and isinstance(api_version, str) and re.fullmatch(r"v3\.0(\.\d+)?", api_version) is not None
    if upgrade:
        rest["apiVersion"] = API_VERSION
    state = _JoinState(terms=terms, upgrade=upgrade)

    mapped: dict[str, Any] = {key: copy.deepcopy(meta[key]) if key in meta else _ABSENT for key in META_KEYS}
    mapped["schema"] = _join_section(
        residual, rest, "schema", bool(terms["schema"]), lambda records: _join_schema(records, state)
    )
    schedule_in_quality = _apply_schedule(residual, state)
    sla_wanted = any(value is not None for value in terms["sla"].values())
    mapped["slaProperties"] = _join_section(
        residual, rest, "slaProperties", sla_wanted, lambda records: _join_sla(records, terms["sla"])
    )
    mapped["support"] = _join_section(residual, rest, "support", terms["support_channel"] is not None,
                                      lambda records: _join_support(records, terms["support_channel"]))
    accord_values = {"notice_period_days": terms["notice_period_days"],
                     "schedule": None if schedule_in_quality else terms["schedule"],
                     "state_definitions": terms["state_definitions"]}
    wanted = any(value not in (None, []) for value in accord_values.values())
    mapped["customProperties"] = _join_section(
        residual, rest, "customProperties", wanted,
        lambda records: _join_custom_properties(records, accord_values),
    )
    return _merge(keys, rest, mapped, order=_TOP_ORDER)


def _join_section(residual: dict, rest: dict, key: str, wanted: bool, build) -> Any:
    if key in rest:  # kept verbatim because it was not a list Accord could map
        if wanted:
            raise OdcsError(f"the imported document's {key!r} is not a list, so Accord cannot write its terms there; "
                            "fix the document and import it again")
        return _ABSENT
    records = residual.get(key)
    items = build(records or [])
    if items:
        return items
    return [] if records == [] and key in residual.get("keys", []) else _ABSENT


def _join_schema(records: list[dict], state: _JoinState) -> list[dict]:
    by_identity = _by_identity(records)
    rules_at: dict[tuple, list[dict]] = defaultdict(list)
    for rule in state.terms["quality"]:
        rules_at[(rule["object"], rule["field"])].append(rule)
    placed: set[tuple] = set()
    objects = []
    for identity, entry in _identities(state.terms["schema"]):
        record = by_identity.get(identity)
        mapped = {key: _emit(record, key, entry[term_key], default) for term_key, key, _kind, default in _OBJECT_SPEC}
        first = (entry["name"], None) not in placed
        placed.add((entry["name"], None))
        rest = record["rest"] if record else {}

        fields = []
        field_records = _by_identity(record.get("properties", [])) if record else {}
        if record and "properties" in rest and entry["fields"]:
            raise OdcsError(f"schema object {entry['name']!r} has properties Accord could not read; fix the document "
                            "and import it again before editing its fields")
        for field_identity, field_entry in _identities(entry["fields"]):
            field_record = field_records.get(field_identity)
            key = (entry["name"], field_entry["name"])
            addressable = first and field_entry["name"] is not None and key not in placed
            rules = rules_at.get(key, []) if addressable else []
            placed.add(key)
            fields.append(_join_field(field_entry, field_record, rules, state))
        if "properties" not in rest:
            mapped["properties"] = _keep_list(fields, record, "properties")

        object_rules = rules_at.get((entry["name"], None), []) if first else []
        if record and "quality" in rest:
            if object_rules:
                raise OdcsError(f"schema object {entry['name']!r} has a quality list Accord could not read")
        else:
            quality = _join_quality(record.get("quality", []) if record else [], object_rules, state)
            mapped["quality"] = _keep_list(quality, record, "quality")
        order = ("name", "physicalName", "physicalType", "description", "properties", "quality")
        objects.append(_merge(record["keys"] if record else [], rest, mapped, order=order))
    return objects


def _join_field(entry: dict, record: dict | None, rules: list[dict], state: _JoinState) -> dict:
    mapped = {key: _emit(record, key, entry[term_key], default) for term_key, key, _kind, default in _FIELD_SPEC}
    rest = dict(record["rest"]) if record else {}
    if record and "logical_type" in record:
        if entry["logical_type"] != record["logical_type"]:
            # Options, items and nested properties belong to the old logical type.
            rest.pop("logicalTypeOptions", None)
            if entry["logical_type"] != "array":
                rest.pop("items", None)
            if entry["logical_type"] != "object":
                rest.pop("properties", None)
    if record and "quality" in rest:
        if rules:
            raise OdcsError(f"field {entry['name']!r} has a quality list Accord could not read")
    else:
        quality = _join_quality(record.get("quality", []) if record else [], rules, state)
        mapped["quality"] = _keep_list(quality, record, "quality")
    order = [key for _term, key, _kind, _default in _FIELD_SPEC] + ["quality"]
    return _merge(record["keys"] if record else [], rest, mapped, order=order)


def _join_quality(records: list[dict], rules: list[dict], state: _JoinState) -> list:
    queues: dict[str, list[dict]] = defaultdict(list)
    for rule in rules:
        queues[rule["rule"]].append(rule)
    used: set[int] = set()
    items = []
    for record in records:
        if "node" in record:
            item = copy.deepcopy(record["node"])
        else:
            queue = queues.get(record["rule"])
            if not queue:
                continue  # the rule was removed in Accord
            rule = queue.pop(0)
            used.add(id(rule))
            item = _emit_rule(rule, record, state)
        items.append(item)
        if isinstance(item, dict):
            state.quality_items.append(item)
    for rule in rules:
        if id(rule) not in used:
            item = _emit_rule(rule, None, state)
            items.append(item)
            state.quality_items.append(item)
    return items


def _emit_rule(rule: dict, record: dict | None, state: _JoinState) -> dict:
    kind, params = rule["rule"], rule["params"]
    keys = record["keys"] if record else []
    rest = record["rest"] if record else {}
    was_legacy = record is not None and "rule" in keys and "rule" not in rest  # ODCS 3.0 "rule: nullCheck"
    legacy = was_legacy and not state.upgrade
    mapped: dict[str, Any] = {}
    renames: dict[str, str] = {}
    if record is None:
        mapped["type"] = {"custom_sql": "sql", "range": "custom", "freshness": "custom"}.get(kind, "library")
    if kind in _METRICS:
        if legacy:
            mapped["rule"] = _LEGACY_NAMES[kind]
        else:
            mapped["metric"] = _METRICS[kind]
            if was_legacy:
                mapped["rule"], renames["rule"] = _ABSENT, "metric"
        if kind == "accepted_values":
            if legacy:
                mapped["validValues"] = copy.deepcopy(params["values"])
            else:
                mapped["arguments"] = {"validValues": copy.deepcopy(params["values"])}
                if was_legacy:
                    mapped["validValues"], renames["validValues"] = _ABSENT, "arguments"
        elif kind == "pattern":
            mapped["arguments"] = {"pattern": params["pattern"]}
    elif kind == "custom_sql":
        mapped["query"] = params["query"]
    else:
        implementation = {key: params[key] for key in _IMPLEMENTATION_ORDER if key in params}
        mapped["engine"], mapped["implementation"] = ACCORD_ENGINE, {"rule": kind, **implementation}

    old_operator = next((key for key in keys if key in _OPERATORS and key not in rest), None)
    if "operator" in params:
        operator_key = _OPERATOR_KEYS[params["operator"]]
        mapped[operator_key] = copy.deepcopy(params["value"])
    elif kind in _VIOLATION_RULES and (record is None or old_operator is not None or was_legacy and state.upgrade):
        operator_key = "mustBe"  # "no violation"; ODCS 3.1 needs the comparison written out
        mapped[operator_key] = 0
    else:
        operator_key = None
    if old_operator is not None and old_operator != operator_key:
        mapped[old_operator] = _ABSENT
        if operator_key is not None:
            renames[old_operator] = operator_key
    mapped["unit"] = params.get("unit", _ABSENT)
    mapped["severity"] = _emit(record, "severity", rule["severity"], None)
    mapped["description"] = _emit(record, "description", rule["description"], None)
    order = ("type", "metric", "rule", "query", "engine", "implementation", "arguments", "validValues",
             *_OPERATORS, "unit", "description", "severity")
    return _merge(keys, rest, mapped, order=order, renames=renames)


def _apply_schedule(residual: dict, state: _JoinState) -> bool:
    """Keep quality schedules in step with terms.schedule; True when the quality entries still carry it."""
    source = residual.get("schedule") or {}
    old, new = source.get("from_quality"), state.terms["schedule"]
    if old is None:
        return False
    carriers = [item for item in state.quality_items
                if item.get("schedule") == old and item.get("scheduler", "cron") == "cron"]
    if new != old:
        for item in carriers:
            if new is None:
                del item["schedule"]
            else:
                item["schedule"] = new
    return new is not None and bool(carriers)


def _join_sla(records: list[dict], sla: dict) -> list:
    used: set[str] = set()
    items = []
    for record in records:
        if "node" in record:
            items.append(copy.deepcopy(record["node"]))
            continue
        term = record["term"]
        value = sla.get(term)
        if value is None or term in used:
            continue
        used.add(term)
        mapped: dict[str, Any] = {"value": value}
        if term != "availability_percent":
            unit = record["rest"].get("unit")
            if _to_hours(record.get("source_value"), unit) == _tidy(value):
                mapped["value"] = copy.deepcopy(record["source_value"])
            else:
                in_unit = _tidy(value / _HOURS[unit.strip().lower()])
                if abs(in_unit * _HOURS[unit.strip().lower()] - value) <= 1e-9 * max(1, abs(value)):
                    mapped["value"] = in_unit
                else:
                    mapped["value"], mapped["unit"] = _tidy(value), "h"
        items.append(_merge(record["keys"], record["rest"], mapped))
    for term in _SLA_TERMS:
        if term not in used and sla.get(term) is not None:
            prop, unit = _SLA_EXPORT[term]
            items.append({"property": prop, "value": sla[term], "unit": unit})
    return items


def _join_support(records: list[dict], channel: str | None) -> list:
    items = []
    used = False
    for record in records:
        if "node" in record:
            items.append(copy.deepcopy(record["node"]))
        elif channel is not None and not used:
            used = True
            items.append(_merge(record["keys"], record["rest"], {"channel": channel}))
    if not used and channel is not None:
        item = {"channel": channel}
        if re.fullmatch(r"https?://\S+|mailto:\S+", channel):
            item["url"] = channel
        elif re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", channel):
            item.update(url=f"mailto:{channel}", tool="email")
        items.append(item)
    return items


def _join_custom_properties(records: list[dict], values: dict) -> list:
    items = []
    used: set[str] = set()
    for record in records:
        if "node" in record:
            items.append(copy.deepcopy(record["node"]))
            continue
        term = record["term"]
        if term in used or values.get(term) is None:
            continue
        used.add(term)
        items.append(_merge(record["keys"], record["rest"], {"value": copy.deepcopy(values[term])}))
    for term, name in _ACCORD_PROPERTIES.items():
        if term not in used and values.get(term) not in (None, []):
            items.append({"property": name, "value": copy.deepcopy(values[term])})
    return items


# --------------------------------------------------------------------------------------------------------------------
# A contract born in Accord


def narrowed(parts: ContractParts, terms: dict) -> ContractParts:
    """The same contract with ``terms`` in place of its own, where ``terms`` leaves parts of them out
    (what a reader may see of it): an unedited imported contract stays unedited, so it is written in
    the version it declared. `join` drops the records of the objects and fields left out, with what
    they held; the residual's other content (servers, team, tags...) is the document's own and stays.
    """
    residual = dict(parts.residual or {})
    if residual and residual.get("terms_digest") == _digest(_normalized_terms(parts.terms or {})):
        residual["terms_digest"] = _digest(_normalized_terms(terms))
    return ContractParts(meta=parts.meta, terms=terms, residual=residual)


def from_terms(meta: dict, terms: dict) -> dict:
    """A new ODCS v3.1.0 document for a contract created in Accord (no residual to preserve)."""
    missing = [key for key in ("id", "version", "status") if not (meta or {}).get(key)]
    if missing:
        raise OdcsError(f"an ODCS contract needs {', '.join(missing)} (required by the standard)")
    return join(ContractParts(meta=meta, terms=terms, residual={}))
