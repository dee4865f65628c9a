"""An object's audit history: its own records and those of its visible children."""

from __future__ import annotations

from django.apps import apps
from django.db.models import CharField, Model, Q
from django.db.models.functions import Cast

from permissions.models import AuditRecord


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


def history_response(view, obj):
    from permissions.api.pagination import AuditCursorPagination
    from permissions.api.serializers import AuditRecordSerializer

    paginator = AuditCursorPagination()
    page = paginator.paginate_queryset(history_queryset(obj, view.request.user), view.request, view=view)
    return paginator.get_paginated_response(AuditRecordSerializer(page, many=True).data)
