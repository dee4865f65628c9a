"""The data rules a contract version's terms imply, and the terms Accord cannot check.

A pure module (no Django): ``derive(terms, residual)`` reads a version's ``terms`` and the ``residual`` of its ODCS
import (``governance.odcs``: the keys terms do not hold, such as ``logicalTypeOptions`` or an SLA's ``element``) and
returns the rules they imply and the terms it cannot turn into a check. Rules are computed at check time, never
stored; the same terms always give the same rules, in the same order, each with a stable key naming the term it
comes from::

    schema.<object>.<field>.required                      not_null
    schema.<object>.<field>.unique                        unique
    schema.<object>.<field>.primaryKey.not_null           not_null       (each column of the key)
    schema.<object>.<field>.primaryKey.unique             unique         (a single-column key)
    schema.<object>.<field>.enum                          accepted_values
    schema.<object>.<field>.logicalTypeOptions.pattern    pattern
    schema.<object>.<field>.logicalTypeOptions.minimum    range (min, inclusive)   exclusiveMinimum: exclusive
    schema.<object>.<field>.logicalTypeOptions.maximum    range (max, inclusive)   exclusiveMaximum: exclusive
    schema.<object>.<field>.logicalTypeOptions.minLength  length (min)
    schema.<object>.<field>.logicalTypeOptions.maxLength  length (max)
    sla.<property>.<object>.<field>                       freshness (an SLA latency/freshness with an element)

ODCS v3.0 wrote ``exclusiveMinimum``/``exclusiveMaximum`` as booleans that make ``minimum``/``maximum`` strict; v3.1
writes them as bounds of their own. Both are read. Options are those of the field's current logical type: a field
whose logical type was edited in Accord after its import keeps none (``governance.odcs`` drops them on export too).

Everything else a contract states as a promise about the data and Accord cannot check is an ``UncheckedTerm``: other
logicalTypeOptions (format, multipleOf, timezone...), nested properties, a composite primary key's uniqueness, quality
entries Accord does not run (text, other engines, missingValues, duplicates over several columns...), SLA properties
other than a latency with an element. Descriptions, classifications and other metadata are not promises about the
data and are not listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DerivedRule", "UncheckedTerm", "derive", "import_warnings", "visible_unchecked"]

# logicalTypeOptions keys that become a rule (the others are listed as unchecked).
_RANGE_OPTIONS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
_LENGTH_OPTIONS = ("minLength", "maxLength")
_FRESHNESS_PROPERTIES = ("latency", "freshness")


@dataclass(frozen=True)
class DerivedRule:
    """A rule implied by a term: ``rule`` and ``params`` as ``governance.checks.data.Rule`` takes them."""

    key: str
    object: str
    field: str
    rule: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    term: str = ""


@dataclass(frozen=True)
class UncheckedTerm:
    """A term Accord does not check, where it is (``path``), and why."""

    path: str
    term: str
    reason: str
    object: str | None = None
    field: str | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "term": self.term, "reason": self.reason}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _records(residual: Mapping | None) -> tuple[dict[str, dict], list]:
    """(object records by name, SLA item records) of an imported version's residual."""
    residual = residual if isinstance(residual, Mapping) else {}
    objects: dict[str, dict] = {}
    for record in residual.get("schema") or []:
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            objects.setdefault(record["name"], record)  # a repeated name: its first record (terms refuse repeats)
    sla = residual.get("slaProperties")
    return objects, sla if isinstance(sla, list) else []


def _field_record(object_record: dict | None, name: str) -> dict | None:
    for record in (object_record or {}).get("properties") or []:
        if isinstance(record, dict) and record.get("name") == name:
            return record
    return None


def derive(terms: Mapping, residual: Mapping | None = None) -> tuple[list[DerivedRule], list[UncheckedTerm]]:
    """The rules ``terms`` imply (in schema order, then the SLA's) and the terms that cannot be checked."""
    rules: list[DerivedRule] = []
    unchecked: list[UncheckedTerm] = []
    terms = terms if isinstance(terms, Mapping) else {}
    object_records, sla_records = _records(residual)
    objects = [obj for obj in terms.get("schema") or [] if isinstance(obj, dict) and obj.get("name")]
    for obj in objects:
        name = obj["name"]
        record = object_records.get(name)
        fields = [spec for spec in obj.get("fields") or [] if isinstance(spec, dict) and spec.get("name")]
        key_columns = [spec["name"] for spec in fields if spec.get("primary_key")]
        for spec in fields:
            _field_rules(name, spec, _field_record(record, spec["name"]), len(key_columns) > 1, rules, unchecked)
        if len(key_columns) > 1:
            unchecked.append(UncheckedTerm(
                f"schema.{name}.primaryKey", "primaryKey",
                f"a primary key of {len(key_columns)} columns: each column is checked not null, but the uniqueness "
                "of their combination is not checked", name))
        for index, item in enumerate((record or {}).get("quality") or []):
            if isinstance(item, dict) and "node" in item:
                unchecked.append(UncheckedTerm(f"schema.{name}.quality[{index}]", "quality",
                                               _quality_reason(item["node"]), name))
    _sla(terms, objects, sla_records, rules, unchecked)
    return rules, unchecked


def _field_rules(obj: str, spec: dict, record: dict | None, composite_key: bool, rules: list[DerivedRule],
                 unchecked: list[UncheckedTerm]) -> None:
    name = spec["name"]
    base = f"schema.{obj}.{name}"

    def add(suffix: str, rule: str, params: dict | None = None, term: str | None = None) -> None:
        rules.append(DerivedRule(f"{base}.{suffix}", obj, name, rule, params or {}, term or suffix))

    def skip(suffix: str, reason: str) -> None:
        unchecked.append(UncheckedTerm(f"{base}.{suffix}", suffix, reason, obj, name))

    if spec.get("required"):
        add("required", "not_null")
    if spec.get("unique"):
        add("unique", "unique")
    if spec.get("primary_key"):
        add("primaryKey.not_null", "not_null", term="primaryKey")
        if not composite_key:
            add("primaryKey.unique", "unique", term="primaryKey")
    rest = (record or {}).get("rest") if isinstance((record or {}).get("rest"), dict) else {}
    values = spec.get("enum")
    if values is None:
        values = rest.get("enum")
    if values is not None:
        if isinstance(values, list) and values:
            add("enum", "accepted_values", {"values": list(values)})
        else:
            skip("enum", "enum is not a non-empty list of values")
    options = rest.get("logicalTypeOptions")
    if options is not None and record is not None and record.get("logical_type") == spec.get("logical_type"):
        _option_rules(options, add, skip)
    for nested in ("items", "properties"):
        if nested in rest:
            skip(nested, f"nested {nested} are not checked (only top-level columns are)")
    for index, item in enumerate((record or {}).get("quality") or []):
        if isinstance(item, dict) and "node" in item:
            skip(f"quality[{index}]", _quality_reason(item["node"]))


def _option_rules(options: Any, add, skip) -> None:
    if not isinstance(options, dict):
        skip("logicalTypeOptions", "logicalTypeOptions is not a mapping")
        return
    where = "logicalTypeOptions."
    # ODCS v3.0: exclusiveMinimum/exclusiveMaximum are booleans that make minimum/maximum strict.
    strict = {bound: options.get(flag) is True for bound, flag in (("minimum", "exclusiveMinimum"),
                                                                   ("maximum", "exclusiveMaximum"))}
    for key, value in options.items():
        if key == "pattern":
            if isinstance(value, str) and value:
                add(where + key, "pattern", {"pattern": value})
            else:
                skip(where + key, "the pattern is not a non-empty string")
        elif key in _RANGE_OPTIONS:
            if isinstance(value, bool):
                if not (value and options.get("minimum" if key == "exclusiveMinimum" else "maximum") is not None):
                    skip(where + key, f"{key}: {str(value).lower()} without the bound it qualifies checks nothing")
                continue  # a v3.0 flag: applied with its bound
            if not (_number(value) or isinstance(value, str)):
                skip(where + key, f"{key} is neither a number nor a date-time")
                continue
            lower = key in ("minimum", "exclusiveMinimum")
            exclusive = key.startswith("exclusive") or strict.get(key, False)
            params = {"min" if lower else "max": value}
            if exclusive:
                params["min_exclusive" if lower else "max_exclusive"] = True
            add(where + key, "range", params)
        elif key in _LENGTH_OPTIONS:
            if _number(value) and value >= 0 and float(value).is_integer():
                add(where + key, "length", {"min_length" if key == "minLength" else "max_length": int(value)})
            else:
                skip(where + key, f"{key} is not a whole number of characters")
        else:
            skip(where + key, f"logicalTypeOptions.{key} is not checked against the data")


def _quality_reason(node: Any) -> str:
    if not isinstance(node, dict):
        return "this quality entry is not a mapping"
    kind = node.get("type", "library")
    metric = node.get("metric", node.get("rule"))
    if kind == "text":
        return "a text rule states a quality in words: nothing to run"
    if kind == "custom":
        engine = node.get("engine")
        return f"a custom check for engine {engine!r}: Accord runs only its own" if isinstance(engine, str) \
            else "a custom check without an engine Accord runs"
    if kind == "sql":
        return "an SQL check without a query or a comparison Accord can run"
    if metric == "duplicateValues" and isinstance(node.get("arguments"), dict) \
            and "properties" in node["arguments"]:
        return "duplicates over a combination of columns are not checked"
    if isinstance(metric, str):
        return f"the library check {metric!r} with these arguments or comparison is not one Accord runs"
    return "this quality entry is not one Accord can run"


def _sla(terms: Mapping, objects: list[dict], records: list, rules: list[DerivedRule],
         unchecked: list[UncheckedTerm]) -> None:
    sla = terms.get("sla") if isinstance(terms.get("sla"), Mapping) else {}
    freshness = sla.get("freshness_hours")
    found_element = False
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        if "node" in record:
            node = record["node"]
            prop = node.get("property") if isinstance(node, dict) else None
            label = prop if isinstance(prop, str) else "an SLA entry"
            reason = (f"the SLA property {prop!r} is not measured from the data" if isinstance(prop, str)
                      and prop not in _FRESHNESS_PROPERTIES else
                      f"{label}: its value or unit cannot be read as a duration (or an earlier entry is used)")
            unchecked.append(UncheckedTerm(f"slaProperties[{index}]", f"slaProperties.{label}", reason))
            continue
        rest = record.get("rest") if isinstance(record.get("rest"), dict) else {}
        prop = rest.get("property") if isinstance(rest.get("property"), str) else record.get("term", "")
        if record.get("term") != "freshness_hours":
            unchecked.append(UncheckedTerm(f"slaProperties[{index}]", f"slaProperties.{prop}",
                                           f"the SLA property {prop!r} is not measured from the data"))
            continue
        if freshness is None:
            continue  # removed from the terms since the import
        element = rest.get("element")
        targets = _elements(element, objects)
        if not targets:
            why = "names no element (object.column) to measure" if not element else \
                "names an element that is not a field of the contract's schema"
            unchecked.append(UncheckedTerm(f"slaProperties[{index}]", f"slaProperties.{prop}",
                                           f"the {prop} SLA {why}"))
            continue
        found_element = True
        for obj, column in targets:
            rules.append(DerivedRule(f"sla.{prop}.{obj}.{column}", obj, column, "freshness",
                                     {"max_age_hours": freshness}, f"slaProperties.{prop}"))
    if freshness is not None and not found_element and not any(
            isinstance(r, dict) and r.get("term") == "freshness_hours" for r in records):
        unchecked.append(UncheckedTerm("sla.freshness_hours", "slaProperties.latency",
                                       "the freshness SLA names no element (object.column) to measure"))
    for key, prop in (("availability_percent", "availability"), ("response_time_hours", "responseTime")):
        if sla.get(key) is not None and not any(isinstance(r, dict) and r.get("term") == key for r in records):
            unchecked.append(UncheckedTerm(f"sla.{key}", f"slaProperties.{prop}",
                                           f"the SLA property {prop!r} is not measured from the data"))


def _elements(element: Any, objects: list[dict]) -> list[tuple[str, str]]:
    """(object, field) pairs an SLA ``element`` names ("table.column", or "column" in a one-object contract)."""
    if not isinstance(element, str) or not element.strip():
        return []
    found = []
    for part in element.split(","):
        part = part.strip()
        table, _, column = part.rpartition(".")
        candidates = [obj for obj in objects if not table or table in (obj.get("name"), obj.get("physical_name"))]
        if not table and len(objects) != 1:
            return []
        match = None
        for obj in candidates:
            for spec in obj.get("fields") or []:
                if isinstance(spec, dict) and column in (spec.get("name"), spec.get("physical_name")):
                    match = (obj["name"], spec["name"])
                    break
            if match:
                break
        if match is None:
            return []
        found.append(match)
    return found


def import_warnings(terms: Mapping, residual: Mapping | None) -> list[str]:
    """The import's warnings about the terms it stored but Accord will not check."""
    return [f"Not checked: {item.path} ({item.reason})." for item in derive(terms, residual)[1]]


def visible_unchecked(items: Iterable[UncheckedTerm], visible_terms: Any) -> list[dict]:
    """The unchecked terms a reader may see: those of objects and fields in their (redacted) terms."""
    shown: dict[str, set[str]] = {}
    for obj in (visible_terms or {}).get("schema") or [] if isinstance(visible_terms, Mapping) else []:
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            shown[obj["name"]] = {spec["name"] for spec in obj.get("fields") or []
                                  if isinstance(spec, dict) and isinstance(spec.get("name"), str)}
    return [item.as_dict() for item in items if item.object is None
            or (item.object in shown and (item.field is None or item.field in shown[item.object]))]
