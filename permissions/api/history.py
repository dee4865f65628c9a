"""An object's audit history: its own records and those of its visible children, with the
values they name shown through the reader's visibility.

A record keeps what was written (``changes``: before and after, relations as ids), and the
chain's hashes cover it, so it is never rewritten; what a reader gets is rendered for them:

* a relation to an object they may not see reads as if the object were not there: a foreign
  key as null, a many-to-many list without its id;
* values whose content names catalog objects (a contract's terms, a state's criteria, a run's
  counts) go through the renderer registered for them (``renders_audit_values``);
* a change that no longer changes anything once rendered is left out.

Everything a page needs is read with one statement per related model and per renderer, so a
page of history costs the same number of statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, Model, Q
from django.db.models.functions import Cast

from permissions.models import AuditRecord

#: (model label, field name) → renderer. A renderer takes the page's values of that field as
#: ``(record, value)`` pairs (``record`` the serialized record: object_id, parent_id…), the
#: reader, and a dict shared by the renderers of one page (for what they read once per page),
#: and returns the values as the reader may see them, in the same order.
Renderer = Callable[[list[tuple[dict, Any]], Any, dict], list[Any]]
_RENDERERS: dict[tuple[str, str], Renderer] = {}


def renders_audit_values(label: str, field_name: str) -> Callable[[Renderer], Renderer]:
    """Register how the values of ``label``'s ``field_name`` in audit records are shown to a reader."""

    def register(renderer: Renderer) -> Renderer:
        _RENDERERS[label, field_name] = renderer
        return renderer

    return register


def _child_models(model: type[Model]) -> list[tuple[type[Model], str]]:
    children = []
    for candidate in apps.get_models():
        parent = getattr(candidate, "audit_parent", None)
        if parent and candidate._meta.get_field(parent).related_model is model:
            children.append((candidate, parent))
    return children


def history_queryset(obj: Model, user):
    label = obj._meta.label_lower
    condition = Q(object_type=label, object_id=str(obj.pk))
    for child, parent_field in _child_models(type(obj)):
        children = child._default_manager.visible_to(user).filter(**{parent_field: obj})
        visible_ids = children.annotate(key=Cast("pk", CharField())).values("key")
        child_records = Q(parent_type=label, parent_id=str(obj.pk), object_type=child._meta.label_lower)
        if user.is_superuser:
            condition |= child_records  # including children deleted since
        else:
            condition |= child_records & Q(object_id__in=visible_ids)
    return AuditRecord.objects.filter(condition)


def _model(label: str) -> type[Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _restricted_relation(model: type[Model] | None, name: str) -> tuple[type[Model], bool] | None:
    """(related model, many) when ``name`` is a relation of ``model`` to rows visibility restricts."""
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not field.is_relation or field.related_model is None:
        return None
    manager = field.related_model._default_manager
    if not hasattr(manager, "visible_to") or getattr(field.related_model, "private_to", None):
        return None
    return field.related_model, bool(field.many_to_many)


def _ids(value, many: bool) -> list:
    if many:
        return [item for item in value if isinstance(item, int)] if isinstance(value, list) else []
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def visible_changes(records: list[dict], user) -> list[dict]:
    """Serialized audit records with their ``changes`` as ``user`` may see them (see the module)."""
    if user is None or user.is_superuser or not records:
        return records
    relations: dict[type[Model], set] = {}
    rendered: dict[tuple[str, str], list[tuple[dict, Any]]] = {}
    for record in records:
        model = _model(record["object_type"])
        for name, change in (record.get("changes") or {}).items():
            if not isinstance(change, dict):
                continue
            key = (record["object_type"], name)
            if key in _RENDERERS:
                for side in ("before", "after"):
                    rendered.setdefault(key, []).append((record, change.get(side)))
                continue
            relation = _restricted_relation(model, name)
            if relation is not None:
                related, many = relation
                for side in ("before", "after"):
                    relations.setdefault(related, set()).update(_ids(change.get(side), many))
    visible = {related: set(related._default_manager.visible_to(user).filter(pk__in=ids)
                            .values_list("pk", flat=True)) if ids else set()
               for related, ids in relations.items()}
    shared: dict = {}
    values = {key: iter(_RENDERERS[key](items, user, shared)) for key, items in rendered.items()}

    shown = []
    for record in records:
        model = _model(record["object_type"])
        changes = {}
        for name, change in (record.get("changes") or {}).items():
            if not isinstance(change, dict):
                changes[name] = change
                continue
            key = (record["object_type"], name)
            relation = None if key in values else _restricted_relation(model, name)
            if key in values:
                change = {"before": next(values[key]), "after": next(values[key])}
            elif relation is not None:
                related, many = relation
                seen = visible[related]
                change = {side: _visible_value(change.get(side), many, seen) for side in ("before", "after")}
            if change.get("before") != change.get("after"):
                changes[name] = change
        shown.append({**record, "changes": changes})
    return shown


def _visible_value(value, many: bool, seen: set):
    if many:
        return [item for item in value if not isinstance(item, int) or item in seen] \
            if isinstance(value, list) else value
    if isinstance(value, int) and not isinstance(value, bool) and value not in seen:
        return None
    return value


def history_response(view, obj):
    from permissions.api.pagination import AuditCursorPagination
    from permissions.api.serializers import AuditRecordSerializer

    paginator = AuditCursorPagination()
    user = view.request.user
    page = paginator.paginate_queryset(history_queryset(obj, user), view.request, view=view)
    return paginator.get_paginated_response(visible_changes(AuditRecordSerializer(page, many=True).data, user))
