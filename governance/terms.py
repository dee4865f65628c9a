"""Contract terms: their structure, validation, and how two versions compare.

``terms`` is a JSON object (the same shape governance.odcs produces):

    {"schema": [{"name", "physical_name", "physical_type", "description",
                 "fields": [{"name", "physical_name", "type", "logical_type", "required", "unique",
                             "primary_key", "classification", "description"}]}],
     "quality": [{"object", "field", "rule", "params", "severity", "description"}],
     "sla": {"freshness_hours", "availability_percent", "response_time_hours"},
     "support_channel", "schedule", "notice_period_days"}

Every key is optional. ``classify(old, new)`` says whether a new version is
breaking, additive or cosmetic for the consumers, with the reasons, and
``required_bump`` which semantic-version bump that calls for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from governance.choices import ChangeClass

QUALITY_RULES = ("not_null", "unique", "accepted_values", "pattern", "range", "row_count", "freshness",
                 "custom_sql")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
#: The five fields of a cron schedule, in order: (name in messages, celery's crontab keyword).
CRON_FIELDS = (("minute", "minute"), ("hour", "hour"), ("day of month", "day_of_month"),
               ("month", "month_of_year"), ("day of week", "day_of_week"))


class TermsError(ValueError):
    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))

    def as_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for path, message in self.errors:
            out.setdefault(path or "terms", []).append(message)
        return out


def content_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def parse_semver(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version or "")
    if not match:
        raise TermsError([("version", f"{version!r} is not a semantic version such as 1.4.0.")])
    return int(match[1]), int(match[2]), int(match[3])


# --- validation ----------------------------------------------------------------------------------


def validate(terms: dict) -> None:
    errors: list[tuple[str, str]] = []
    if not isinstance(terms, dict):
        raise TermsError([("terms", "Terms must be an object.")])
    object_names: dict[str, set[str]] = {}
    for i, obj in enumerate(terms.get("schema", []) or []):
        path = f"schema[{i}]"
        if not isinstance(obj, dict) or not obj.get("name"):
            errors.append((path, "Each schema object needs a name."))
            continue
        if obj["name"] in object_names:
            errors.append((f"{path}.name", f"{obj['name']!r} appears twice."))
        names: set[str] = set()
        for j, fld in enumerate(obj.get("fields", []) or []):
            fpath = f"{path}.fields[{j}]"
            if not isinstance(fld, dict) or not fld.get("name"):
                errors.append((fpath, "Each field needs a name."))
                continue
            if fld["name"] in names:
                errors.append((f"{fpath}.name", f"{fld['name']!r} appears twice in {obj['name']}."))
            names.add(fld["name"])
            for flag in ("required", "unique", "primary_key"):
                if flag in fld and fld[flag] is not None and not isinstance(fld[flag], bool):
                    errors.append((f"{fpath}.{flag}", "Must be true or false."))
        object_names[obj["name"]] = names
    for i, rule in enumerate(terms.get("quality", []) or []):
        path = f"quality[{i}]"
        if not isinstance(rule, dict):
            errors.append((path, "Each quality rule must be an object."))
            continue
        if rule.get("rule") not in QUALITY_RULES:
            errors.append((f"{path}.rule", f"Choose one of: {', '.join(QUALITY_RULES)}."))
        obj = rule.get("object")
        if obj is not None and object_names and obj not in object_names:
            errors.append((f"{path}.object", f"No schema object {obj!r}."))
        if rule.get("field") and obj in object_names and rule["field"] not in object_names[obj]:
            errors.append((f"{path}.field", f"{obj} has no field {rule['field']!r}."))
        params = rule.get("params") or {}
        if rule.get("rule") == "accepted_values" and not params.get("values"):
            errors.append((f"{path}.params.values", "List the accepted values."))
        if rule.get("rule") == "pattern":
            try:
                re.compile(params.get("pattern") or "")
            except re.error as exc:
                errors.append((f"{path}.params.pattern", f"Not a valid regular expression: {exc}."))
        if rule.get("rule") == "custom_sql":
            sql = (params.get("query") or "").strip()
            if not re.match(r"(?is)^\s*select\b", sql) or ";" in sql.rstrip(";"):
                errors.append((f"{path}.params.query", "A custom check is one SELECT statement."))
    sla = terms.get("sla") or {}
    for key in ("freshness_hours", "availability_percent", "response_time_hours"):
        value = sla.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            errors.append((f"sla.{key}", "Must be a non-negative number."))
    if sla.get("availability_percent") is not None and isinstance(sla["availability_percent"], (int, float)) \
            and sla["availability_percent"] > 100:
        errors.append(("sla.availability_percent", "At most 100."))
    notice = terms.get("notice_period_days")
    if notice is not None and (not isinstance(notice, int) or isinstance(notice, bool) or notice < 0):
        errors.append(("notice_period_days", "Give the notice period as a whole number of days (0 or more)."))
    schedule = terms.get("schedule")
    if schedule:
        errors.extend(("schedule", message) for message in cron_problems(schedule))
    if not errors:
        # The parameter shapes of each rule are ODCS's (governance.odcs), so a contract
        # written in Accord always exports, and an imported one always validates here.
        from governance import odcs

        errors.extend(_odcs_problem(problem) for problem in odcs.check_terms(terms))
    if errors:
        raise TermsError(errors)


def cron_problems(expression: Any) -> list[str]:
    """Why ``expression`` is not a schedule beat can run, one message per wrong field (empty when it is).

    Each field goes through django-celery-beat's validator for it (the one its admin uses for a crontab), then the
    whole expression through celery's ``crontab`` (what beat runs), which also refuses a day that never comes
    (the 30th of February) and a day of week 7."""
    from celery.schedules import crontab
    from django.core.exceptions import ValidationError
    from django_celery_beat import validators

    example = "Give a five-field cron expression (minute hour day-of-month month day-of-week), e.g. '0 6 * * *'."
    if not isinstance(expression, str):
        return [f"A schedule is text. {example}"]
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        return [f"{expression!r} has {len(parts)} field{'s' if len(parts) != 1 else ''}, not 5. {example}"]
    problems = []
    for position, ((label, keyword), part) in enumerate(zip(CRON_FIELDS, parts, strict=True), start=1):
        try:
            getattr(validators, f"{keyword}_validator")(part)
            crontab(**{keyword: part})
        except ValidationError as exc:
            problems.append(f"{label} (field {position}): {part!r} is not valid: {'; '.join(exc.messages)}.")
        except ValueError as exc:
            problems.append(f"{label} (field {position}): {part!r} is not valid: {exc}")
    if not problems:
        try:
            parse_cron(expression)
        except ValueError as exc:
            problems.append(f"{expression!r}: {exc}")
    return problems


def parse_cron(expression: str):
    """Celery's ``crontab`` for a five-field expression (minute hour day-of-month month day-of-week)."""
    from celery.schedules import crontab

    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                   day_of_week=day_of_week)


def _odcs_problem(problem: str) -> tuple[str, str]:
    path, _, message = problem.partition(": ")
    if not message:
        path, _, message = problem.partition(" ")
    return path, message


# --- comparison ----------------------------------------------------------------------------------


@dataclass
class Classification:
    change_class: str
    changes: list[dict] = field(default_factory=list)

    def add(self, kind: str, what: str) -> None:
        self.changes.append({"class": kind, "change": what})


_RANK = {ChangeClass.COSMETIC: 0, ChangeClass.ADDITIVE: 1, ChangeClass.BREAKING: 2}
_TYPE_SIZE = re.compile(r"^\s*([a-z ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?\s*$", re.I)
_WIDER_INTEGERS = {"smallint": 0, "int2": 0, "integer": 1, "int": 1, "int4": 1, "bigint": 2, "int8": 2}


def _type_change(old: str, new: str) -> str:
    """breaking unless ``new`` only widens ``old`` (longer varchar, bigger integer)."""
    if (old or "").strip().lower() == (new or "").strip().lower():
        return ChangeClass.COSMETIC
    a, b = _TYPE_SIZE.match(old or ""), _TYPE_SIZE.match(new or "")
    if a and b:
        base_a, base_b = a[1].lower(), b[1].lower()
        if base_a == base_b and a[2] and b[2] and int(b[2]) >= int(a[2]) and int(b[3] or 0) >= int(a[3] or 0):
            return ChangeClass.ADDITIVE
        if base_a in _WIDER_INTEGERS and base_b in _WIDER_INTEGERS and _WIDER_INTEGERS[base_b] > _WIDER_INTEGERS[
                base_a]:
            return ChangeClass.ADDITIVE
    return ChangeClass.BREAKING


def _fields(terms: dict) -> dict[tuple[str, str], dict]:
    return {(obj["name"], fld["name"]): fld for obj in terms.get("schema", []) or []
            for fld in obj.get("fields", []) or []}


def _rules(terms: dict) -> dict[tuple, dict]:
    return {(r.get("object"), r.get("field"), r.get("rule")): r for r in terms.get("quality", []) or []}


def classify(old: dict, new: dict) -> Classification:
    """How ``new`` changes ``old`` for the consumers; the worst change decides."""
    result = Classification(ChangeClass.COSMETIC)
    old_objects = {o["name"] for o in old.get("schema", []) or []}
    new_objects = {o["name"] for o in new.get("schema", []) or []}
    for name in sorted(old_objects - new_objects):
        result.add(ChangeClass.BREAKING, f"schema object {name} removed")
    for name in sorted(new_objects - old_objects):
        result.add(ChangeClass.ADDITIVE, f"schema object {name} added")
    old_fields, new_fields = _fields(old), _fields(new)
    for key in sorted(set(old_fields) - set(new_fields)):
        if key[0] in new_objects:
            result.add(ChangeClass.BREAKING, f"field {key[0]}.{key[1]} removed or renamed")
    for key in sorted(set(new_fields) - set(old_fields)):
        if key[0] in old_objects:
            result.add(ChangeClass.ADDITIVE, f"field {key[0]}.{key[1]} added")
    for key in sorted(set(old_fields) & set(new_fields)):
        a, b = old_fields[key], new_fields[key]
        label = f"{key[0]}.{key[1]}"
        type_class = _type_change(a.get("type") or a.get("logical_type") or "", b.get("type") or b.get("logical_type")
                                  or "")
        if type_class != ChangeClass.COSMETIC:
            verb = "widened" if type_class == ChangeClass.ADDITIVE else "changed"
            result.add(type_class, f"type of {label} {verb}: {a.get('type')} → {b.get('type')}")
        for flag, when_added in (("required", "now required"), ("unique", "now unique"),
                                 ("primary_key", "now part of the key")):
            if not a.get(flag) and b.get(flag):
                result.add(ChangeClass.BREAKING, f"{label} {when_added}")
            elif a.get(flag) and not b.get(flag):
                # Consumers relied on it: nulls, duplicates or a different key may now arrive.
                result.add(ChangeClass.BREAKING, f"{label} no longer {flag.replace('_', ' ')}")
        if (a.get("classification") or "") != (b.get("classification") or ""):
            result.add(ChangeClass.ADDITIVE, f"classification of {label}: {a.get('classification')} → "
                                             f"{b.get('classification')}")
        if (a.get("description") or "") != (b.get("description") or ""):
            result.add(ChangeClass.COSMETIC, f"description of {label} changed")
    old_rules, new_rules = _rules(old), _rules(new)
    for key in sorted(set(old_rules) - set(new_rules), key=str):
        result.add(ChangeClass.BREAKING, f"quality rule {key[2]} on {key[0]}.{key[1] or '*'} removed")
    for key in sorted(set(new_rules) - set(old_rules), key=str):
        result.add(ChangeClass.ADDITIVE, f"quality rule {key[2]} on {key[0]}.{key[1] or '*'} added")
    for key in sorted(set(old_rules) & set(new_rules), key=str):
        a, b = old_rules[key].get("params") or {}, new_rules[key].get("params") or {}
        if a == b:
            if (old_rules[key].get("description") or "") != (new_rules[key].get("description") or ""):
                result.add(ChangeClass.COSMETIC, f"description of rule {key[2]} on {key[0]}.{key[1] or '*'}")
            continue
        if key[2] == "accepted_values":
            removed = set(map(str, a.get("values", []))) - set(map(str, b.get("values", [])))
            added = set(map(str, b.get("values", []))) - set(map(str, a.get("values", [])))
            # Consumers build on the values a contract lists (reports, mappings, states):
            # taking one away breaks them; a new value is an addition.
            if removed:
                result.add(ChangeClass.BREAKING, f"accepted values of {key[0]}.{key[1]} narrowed: "
                                                 f"{', '.join(sorted(removed))} removed")
            if added:
                result.add(ChangeClass.ADDITIVE, f"accepted values of {key[0]}.{key[1]} widened: "
                                                 f"{', '.join(sorted(added))} added")
        else:
            result.add(ChangeClass.BREAKING, f"parameters of rule {key[2]} on {key[0]}.{key[1] or '*'} changed")
    old_sla, new_sla = old.get("sla") or {}, new.get("sla") or {}
    for key, looser_when_higher in (("freshness_hours", True), ("response_time_hours", True),
                                    ("availability_percent", False)):
        a, b = old_sla.get(key), new_sla.get(key)
        if a == b:
            continue
        looser = b is None or (a is not None and ((b > a) if looser_when_higher else (b < a)))
        result.add(ChangeClass.BREAKING if looser else ChangeClass.ADDITIVE,
                   f"SLA {key.replace('_', ' ')}: {a} → {b}")
    a, b = old.get("notice_period_days"), new.get("notice_period_days")
    if a != b:
        result.add(ChangeClass.BREAKING if (b or 0) < (a or 0) else ChangeClass.ADDITIVE,
                   f"notice period: {a} → {b} days")
    for key in ("support_channel", "schedule"):
        if old.get(key) != new.get(key):
            result.add(ChangeClass.COSMETIC, f"{key.replace('_', ' ')}: {old.get(key)} → {new.get(key)}")
    if result.changes:
        result.change_class = max((c["class"] for c in result.changes), key=lambda c: _RANK[c])
    return result


def required_bump(change_class: str) -> str:
    return {ChangeClass.BREAKING: "major", ChangeClass.ADDITIVE: "minor", ChangeClass.COSMETIC: "patch"}[change_class]


def check_bump(previous: str, new: str, change_class: str) -> None:
    """Refuse a semantic version whose bump does not match the change."""
    old_v, new_v = parse_semver(previous), parse_semver(new)
    if new_v <= old_v:
        raise TermsError([("version", f"{new} must be greater than the previous version {previous}.")])
    if new_v[0] > old_v[0]:
        bump = "major"
    elif new_v[1] > old_v[1]:
        bump = "minor"
    else:
        bump = "patch"
    wanted = required_bump(change_class)
    if old_v[0] == 0 and wanted == "major" and bump == "minor":
        return  # 0.x: a minor bump may break (semver §4)
    if bump != wanted:
        raise TermsError([("version", f"This version is {change_class}, so it needs a {wanted} bump from "
                                      f"{previous}; {new} is a {bump} bump.")])
