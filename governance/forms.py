"""Forms that carry a governance service's refusals as form errors (the admin's change pages)."""

from __future__ import annotations

import json
import re

from django import forms

from governance.services import contracts as contract_services
from permissions.errors import Refused


def contract_form_for(base: type[forms.ModelForm], user) -> type[forms.ModelForm]:
    """``base`` (the admin's contract form) refusing, next to the field, a change of the parties or datasets
    of a contract whose version is proposed or active (``contract_services.check_contract_change``)."""

    class ContractForm(base):
        def clean(self):
            cleaned = super().clean()
            if self.instance.pk is None:
                return cleaned
            try:
                contract_services.check_contract_change(self.instance, seen_by=user, **{
                    name: cleaned[name] for name in ("producer", "consumers", "datasets") if name in cleaned})
            except Refused as exc:
                for name, messages in exc.errors.items():
                    if name in self.fields:
                        self.add_error(name, messages)
                    else:
                        self.add_error(None, messages)
            return cleaned

    return ContractForm


# --- state criteria, rule by rule ----------------------------------------------------------------------

OPERATOR_LABELS = {
    "eq": "is", "ne": "is not", "lt": "is less than", "lte": "is at most", "gt": "is more than",
    "gte": "is at least", "in": "is one of", "not_in": "is none of", "is_null": "is empty",
    "is_not_null": "is not empty", "matches": "matches the pattern", "like": "is like",
    "between": "is between", "within_last": "is within the last", "older_than": "is older than",
}
SPAN = re.compile(r"^\s*(\d+)\s*(day|hour|minute)s?\s*$", re.I)
RULE_PATH = re.compile(r"^(?:criteria\.)?(all|any)\[(\d+)\](?:\.(field|op|value))?")
EXTRA_RULES = 3  # empty rows offered below the rules, to add some


def is_flat(tree) -> bool:
    """Whether the form can edit ``tree``: none, or one group of every/any rule without nested groups."""
    if not tree:
        return True
    if not isinstance(tree, dict) or len(tree) != 1 or next(iter(tree)) not in ("all", "any"):
        return False
    rules = next(iter(tree.values()))
    return isinstance(rules, list) and all(isinstance(r, dict) and isinstance(r.get("field"), str) for r in rules)


def _scalar_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def value_text(rule: dict) -> str:
    """A rule's value as typed in the form ("mql, sql"; "7 days"; "10, 20")."""
    value = rule.get("value")
    if isinstance(value, dict) and len(value) == 1:
        unit, count = next(iter(value.items()))
        return f"{count} {unit}"
    if isinstance(value, list):
        return ", ".join(_scalar_text(item) for item in value)
    return _scalar_text(value)


def _scalar(text: str, family: str):
    text = text.strip()
    if family == "number":
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text  # the criteria language says why it is not a number
    if family == "boolean" and text.lower() in ("true", "yes", "false", "no"):
        return text.lower() in ("true", "yes")
    return text


def parse_value(op: str, text: str, family: str):
    """What a typed value means for ``op`` on a field of ``family``; None: the rule takes no value."""
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("in", "not_in", "between"):
        return [_scalar(item, family) for item in text.split(",") if item.strip()]
    if op in ("within_last", "older_than"):
        match = SPAN.match(text)
        return {f"{match[2].lower()}s": int(match[1])} if match else text
    return _scalar(text, family)


def criteria_form_for(base: type[forms.ModelForm], *, definition, user, criteria) -> type[forms.ModelForm]:
    """``base`` (the admin's draft form, without the JSON field) editing ``criteria`` rule by rule: a field
    picked among the workflow dataset's fields ``user`` may see (states.dataset_fields), an operator and a
    value; errors are shown next to their rule and what was typed is kept. "Edit as JSON" takes the
    criteria as typed instead (any tree, nested groups too)."""
    from governance import criteria as language
    from governance.services import states as state_services
    from permissions.errors import Invalid

    fields = state_services.dataset_fields(definition, actor=user)
    field_choices = [("", "— field —"),
                     *((name, f"{name} ({data_type})") for name, data_type in sorted(fields.items()))]
    op_choices = [("", "— operator —"), *((op, OPERATOR_LABELS.get(op, op)) for op in language.OPERATORS)]
    rules = next(iter(criteria.values())) if criteria else []
    match = next(iter(criteria)) if criteria else "all"

    class CriteriaForm(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            count = len(rules) + EXTRA_RULES
            if self.data:
                typed = [int(m[1]) for key in self.data if (m := re.match(r"^rule-(\d+)-", key))]
                count = max(count, max(typed, default=-1) + 1)
            self.fields["match"] = forms.ChoiceField(
                label="A record is in this state when", initial=match,
                choices=[("all", "every rule holds"), ("any", "at least one rule holds")])
            for i in range(count):
                rule = rules[i] if i < len(rules) else {}
                self.fields[f"rule-{i}-field"] = forms.ChoiceField(
                    choices=field_choices, required=False, initial=rule.get("field", ""), label="Field")
                self.fields[f"rule-{i}-op"] = forms.ChoiceField(
                    choices=op_choices, required=False, initial=rule.get("op", ""), label="Operator")
                self.fields[f"rule-{i}-value"] = forms.CharField(
                    required=False, initial=value_text(rule) if rule else "", label="Value",
                    widget=forms.TextInput(attrs={"size": 30, "placeholder": "value; lists: a, b; spans: 7 days"}))
            self.fields["edit_as_json"] = forms.BooleanField(
                required=False, label="Edit as JSON instead (advanced)")
            self.fields["criteria_json"] = forms.CharField(
                required=False, label="Criteria as JSON", initial=json.dumps(criteria or {}, indent=2),
                widget=forms.Textarea(attrs={"rows": 6, "cols": 70}))
            self.rule_count = count

        def rule_rows(self) -> list[dict]:
            rows = []
            for i in range(self.rule_count):
                bound = [self[f"rule-{i}-{part}"] for part in ("field", "op", "value")]
                rows.append({"index": i, "field": bound[0], "op": bound[1], "value": bound[2],
                             "errors": [e for b in bound for e in b.errors]})
            return rows

        def clean(self):
            cleaned = super().clean()
            if cleaned.get("edit_as_json"):
                try:
                    tree = json.loads(cleaned.get("criteria_json") or "{}")
                except ValueError as exc:
                    self.add_error("criteria_json", f"This is not JSON: {exc}.")
                    return cleaned
                positions: list[int] = []
            else:
                tree, positions = self._tree(cleaned)
                if tree is None:
                    return cleaned
            try:
                state_services.validate_criteria(definition, tree, actor=user)
            except Invalid as exc:
                for path, messages in exc.errors.items():
                    found = RULE_PATH.match(path)
                    if found and not cleaned.get("edit_as_json") and int(found[2]) < len(positions):
                        row = positions[int(found[2])]
                        self.add_error(f"rule-{row}-{found[3] or 'field'}", messages)
                    else:
                        self.add_error("criteria_json" if cleaned.get("edit_as_json") else None,
                                       [f"{path}: {m}" for m in messages])
                return cleaned
            self.instance.criteria = tree
            return cleaned

        def _tree(self, cleaned):
            leaves, positions, complete = [], [], True
            for i in range(self.rule_count):
                name, op = cleaned.get(f"rule-{i}-field"), cleaned.get(f"rule-{i}-op")
                text = cleaned.get(f"rule-{i}-value") or ""
                if not (name or op or text.strip()):
                    continue
                if not name:
                    self.add_error(f"rule-{i}-field", "Choose the field this rule tests.")
                    complete = False
                if not op:
                    self.add_error(f"rule-{i}-op", "Choose an operator.")
                    complete = False
                if not (name and op):
                    continue
                rule = {"field": name, "op": op}
                value = parse_value(op, text, language.field_family(fields.get(name, "text")))
                if value is not None:
                    rule["value"] = value
                leaves.append(rule)
                positions.append(i)
            if not complete:
                return None, positions
            return ({cleaned.get("match") or "all": leaves} if leaves else {}), positions

    return CriteriaForm
