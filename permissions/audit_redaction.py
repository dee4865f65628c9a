"""Audit records as one reader may see them (the audit list, detail and export).

A record about an object the reader may not see keeps its place in the chain (seq, time,
action, actor, the type of object, its hashes) but names nothing of the object: no id, no
text, no before/after values and no details; its text is "1 object you cannot see", and a
hidden parent loses its id too. In a record about a visible object, a reference to a hidden
object among the before/after values (a foreign key, a many-to-many list) is replaced by the
placeholder ``{"hidden": n}`` (docs/permissions.md, "What a partly restricted reader sees"),
and the ids of a restricted read or of counted repeats are those the reader sees, with
``"hidden": n`` for the rest.

Hidden is decided with ``visible_to(reader)`` in one query per model for a whole page (or
export chunk). An object that no longer exists cannot be tested: its records are shown as
they were written (a deleted object's records are the account of it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps import apps
from django.db.models import Model

from permissions.models import AuditAction

HIDDEN_TEXT = "1 object you cannot see"
PLACEHOLDER_KEY = "hidden"
_ID_LISTS = (AuditAction.READ_RESTRICTED,)


def _model(label: str) -> type[Model] | None:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return None
    return model if hasattr(model._default_manager, "visible_to") else None


def _relations(model: type[Model]) -> dict[str, type[Model]]:
    found = {}
    for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        related = field.related_model if field.is_relation else None
        if related is not None and hasattr(related._default_manager, "visible_to"):
            found[field.name] = related
    return found


def _ids(value: Any) -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return [value]
    if isinstance(value, list):
        return [found for item in value for found in _ids(item)]
    return []


class AuditRedactor:
    """Redacts rows (dicts of a record's fields) for one reader; ``prepare`` a page of rows first."""

    def __init__(self, user):
        self.user = user
        self.skip = bool(getattr(user, "is_superuser", False))
        self._hidden: dict[type[Model], set[str]] = {}

    def prepare(self, rows: list[dict[str, Any]]) -> None:
        if self.skip:
            return
        wanted: dict[type[Model], set[str]] = defaultdict(set)
        for row in rows:
            model = _model(row.get("object_type") or "")
            if model is not None:
                wanted[model].update(_ids(row.get("object_id")))
                details = row.get("details") or {}
                if isinstance(details, dict):
                    wanted[model].update(_ids(details.get("ids")))
                    wanted[model].update(_ids(list((details.get("repeats_by_object") or {}).keys())))
                for name, related in _relations(model).items():
                    change = (row.get("changes") or {}).get(name)
                    if isinstance(change, dict):
                        wanted[related].update(_ids(change.get("before")) + _ids(change.get("after")))
            parent = _model(row.get("parent_type") or "")
            if parent is not None:
                wanted[parent].update(_ids(row.get("parent_id")))
        for model, ids in wanted.items():
            ids -= self._hidden.get(model, set())
            if not ids:
                continue
            pks = [int(i) for i in ids]
            existing = {str(pk) for pk in model._base_manager.filter(pk__in=pks).values_list("pk", flat=True)}
            visible = {str(pk) for pk in model._default_manager.visible_to(self.user)
                       .filter(pk__in=pks).values_list("pk", flat=True)}
            self._hidden.setdefault(model, set()).update(existing - visible)

    def hides(self, label: str, pk: Any) -> bool:
        """Whether the object ``label``:``pk`` (prepared) is one the reader may not see."""
        return not self.skip and self._is_hidden(label, pk)

    def _is_hidden(self, label: str, pk: Any) -> bool:
        model = _model(label or "")
        return model is not None and str(pk) in self._hidden.get(model, set())

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.skip:
            return row
        if row.get("parent_id") and self._is_hidden(row.get("parent_type"), row["parent_id"]):
            row["parent_id"] = ""
            return self._hide_object(row)
        if row.get("object_id") and self._is_hidden(row.get("object_type"), row["object_id"]):
            return self._hide_object(row)
        model = _model(row.get("object_type") or "")
        if model is None:
            return row
        details = row.get("details")
        if isinstance(details, dict):
            row["details"] = self._details(model, details)
            if row["details"].get(PLACEHOLDER_KEY) and not row["details"].get("ids", True):
                return self._hide_object(row)
        changes = row.get("changes")
        if isinstance(changes, dict):
            relations = _relations(model)
            row["changes"] = {name: self._change(relations[name], change) if name in relations else change
                              for name, change in changes.items()}
        return row

    def _hide_object(self, row: dict[str, Any]) -> dict[str, Any]:
        row.update(object_id="", object_repr=HIDDEN_TEXT, changes={}, details={}, reason="")
        return row

    def _details(self, model: type[Model], details: dict[str, Any]) -> dict[str, Any]:
        hidden = self._hidden.get(model, set())
        details = dict(details)
        if isinstance(details.get("ids"), list):
            kept = [i for i in details["ids"] if str(i) not in hidden]
            if len(kept) != len(details["ids"]):
                details[PLACEHOLDER_KEY] = len(details["ids"]) - len(kept)
                details["ids"] = kept
        by_object = details.get("repeats_by_object")
        if isinstance(by_object, dict):
            kept_repeats = {k: v for k, v in by_object.items() if k not in hidden}
            if len(kept_repeats) != len(by_object):
                details["repeats_by_object"] = kept_repeats
                details["repeats"] = sum(v for v in kept_repeats.values() if isinstance(v, int))
                details[PLACEHOLDER_KEY] = len(by_object) - len(kept_repeats)
                if not kept_repeats:
                    details["ids"] = []
        return details

    def _change(self, related: type[Model], change: Any) -> Any:
        if not isinstance(change, dict):
            return change
        hidden = self._hidden.get(related, set())
        return {side: self._value(value, hidden) for side, value in change.items()}

    @staticmethod
    def _value(value: Any, hidden: set[str]) -> Any:
        if isinstance(value, list):
            kept = [item for item in value if str(item) not in hidden]
            return kept if len(kept) == len(value) else [*kept, {PLACEHOLDER_KEY: len(value) - len(kept)}]
        if value is not None and not isinstance(value, (dict, bool)) and str(value) in hidden:
            return {PLACEHOLDER_KEY: 1}
        return value
