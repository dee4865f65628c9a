"""The trust layer's API: tokens, deny rules and exceptions, explain, the audit log."""

from __future__ import annotations

import csv
import io

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from permissions import audit
from permissions.access import explain, targetable_models
from permissions.api.access import ModelPermissionRequired
from permissions.api.pagination import AuditCursorPagination
from permissions.api.serializers import AuditRecordSerializer
from permissions.api.trust_serializers import (
    AccessRuleExceptionSerializer,
    AccessRuleSerializer,
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
)
from permissions.api.viewsets import (
    AccordModelViewSet,
    AccordReadOnlyModelViewSet,
    RestrictedAPIView,
    RestrictedViewSetMixin,
)
from permissions.council import is_council
from permissions.filtersets import RestrictedFilterSet
from permissions.models import AccessRule, AccessRuleException, ApiToken, AuditAction, AuditRecord
from permissions.services import create_token, revoke_token
from permissions.visibility import can_read_catalog

User = get_user_model()


class ApiTokenViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your API tokens (superusers: everyone's; ``ApiToken.private_to``). Create one to get
    its value once; DELETE revokes it (the record stays for the audit trail)."""

    queryset = ApiToken.objects.select_related("user")
    serializer_class = ApiTokenSerializer
    filterset_fields = ["name"]
    ordering_fields = ["created_at", "expires_at", "last_used_at", "id"]
    ordering = ["-id"]

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        payload = ApiTokenCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        token, raw = create_token(user=request.user, actor=request.user, **payload.validated_data)
        body = ApiTokenCreatedSerializer(token).data
        body["token"] = raw
        # The one answer that holds the token: no cache (a proxy's, the browser's) may keep it.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def perform_destroy(self, instance):
        revoke_token(instance, actor=self.request.user)


class RuleFilterSet(RestrictedFilterSet):
    subject_kind = filters.CharFilter()
    target_kind = filters.CharFilter()
    active = filters.BooleanFilter(method="filter_active")

    class Meta:
        model = AccessRule
        fields = ["subject_user", "subject_group", "subject_department", "target_tag"]

    def filter_active(self, queryset, name, value):
        active = queryset.active()
        return active if value else queryset.exclude(pk__in=active.values("pk"))


class AccessRuleViewSet(AccordModelViewSet):
    """Deny rules. Reading and writing need the model permissions (the council)."""

    queryset = AccessRule.objects.select_related(
        "subject_department", "subject_group", "subject_user", "target_type", "target_tag", "created_by"
    ).prefetch_related("exceptions__subject_department", "exceptions__subject_group", "exceptions__subject_user",
                       "exceptions__created_by", "exceptions__rule")
    serializer_class = AccessRuleSerializer
    permission_classes = [ModelPermissionRequired]
    filterset_class = RuleFilterSet
    ordering_fields = ["created_at", "expires_at", "id"]
    ordering = ["-id"]

    def perform_create(self, serializer):
        with transaction.atomic(), audit.batch():
            serializer.save(created_by=self.request.user)


class AccessRuleExceptionViewSet(AccordModelViewSet):
    queryset = AccessRuleException.objects.select_related(
        "rule", "subject_department", "subject_group", "subject_user", "created_by"
    )
    serializer_class = AccessRuleExceptionSerializer
    permission_classes = [ModelPermissionRequired]
    filterset_fields = ["rule", "subject_kind"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-id"]

    def perform_create(self, serializer):
        with transaction.atomic(), audit.batch():
            serializer.save(created_by=self.request.user)


class ExplainView(RestrictedAPIView):
    """Can a user see an object, and which rules and exceptions decide it?

    Anyone may ask about themselves; the council and superusers about anyone.
    An object the asker cannot see themselves answers 404, like a missing one.
    """

    query_params_accepted = ("object", "user")

    @extend_schema(
        parameters=[
            OpenApiParameter("object", str, required=True, description="type:id, e.g. catalog.dataset:42"),
            OpenApiParameter("user", str, description="id or username (default: yourself)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        if not can_read_catalog(request.user):
            raise PermissionDenied()
        subject = self._subject(request)
        obj = self._object(request)
        result = explain(subject, obj)
        if not (is_council(request.user) or request.user.has_perm("permissions.view_accessrule")):
            # Rules about other people are not the asker's to read.
            result.pop("not_applicable", None)
        return Response(result)

    def _subject(self, request):
        wanted = request.query_params.get("user")
        if not wanted:
            return request.user
        lookup = {"pk": int(wanted)} if wanted.isdigit() else {"username": wanted}
        subject = User.objects.filter(**lookup).first()
        if subject is not None and subject.pk == request.user.pk:
            return request.user
        if not is_council(request.user):
            raise PermissionDenied("Only the council and superusers may ask about other people.")
        if subject is None:
            raise ValidationError({"user": [f"No user {wanted!r}."]})
        return subject

    def _object(self, request):
        raw = request.query_params.get("object", "")
        label, _, pk = raw.rpartition(":")
        models = {m._meta.label_lower: m for m in targetable_models() + _containable_models()}
        if label not in models or not pk.isdigit():
            raise ValidationError({"object": [f"Give type:id with a type among {', '.join(sorted(models))}."]})
        obj = self.visible(models[label]).filter(pk=int(pk)).first()
        if obj is None:
            raise NotFound()
        return obj


def _containable_models():
    from django.apps import apps

    return [m for m in apps.get_models() if hasattr(m, "access") and not m.access.targetable]


class AuditFilterSet(RestrictedFilterSet):  # strict input (permissions.filtersets)
    actor = filters.CharFilter(field_name="actor_name")
    actor_id = filters.NumberFilter()
    action = filters.MultipleChoiceFilter(choices=AuditAction.choices)
    object_type = filters.CharFilter()
    object_id = filters.CharFilter()
    request_id = filters.CharFilter()
    client_request_id = filters.CharFilter()
    since = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AuditRecord
        fields: list[str] = []


class AuditRecordViewSet(AccordReadOnlyModelViewSet):
    """The audit log (needs ``permissions.view_auditrecord``). Newest first.

    ``export/?as=csv`` or ``?as=json`` returns the filtered records.
    """

    queryset = AuditRecord.objects.all()
    serializer_class = AuditRecordSerializer
    permission_classes = [ModelPermissionRequired]
    filterset_class = AuditFilterSet
    pagination_class = AuditCursorPagination
    ordering_fields = ["seq"]
    lookup_field = "seq"

    @extend_schema(summary="The chain head: sequence number and hash of the newest record", filters=False,
                   responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def head(self, request):
        return Response(audit.chain_head())

    @extend_schema(summary="Verify the whole hash chain", filters=False, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def verify(self, request):
        result = audit.verify_chain()
        return Response(result.__dict__)

    @extend_schema(
        summary="Export the filtered records as CSV or JSON",
        parameters=[OpenApiParameter("as", str, enum=["csv", "json"], description="Default csv.")],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], pagination_class=None, query_params_accepted=("as",))
    def export(self, request):
        kind = request.query_params.get("as", "csv")
        if kind not in ("csv", "json"):
            raise ValidationError({"as": ["Choose csv or json."]})
        records = self.filter_queryset(self.get_queryset()).order_by("seq")
        if kind == "json":
            return HttpResponse(
                _json_lines(records), content_type="application/json",
                headers={"Content-Disposition": 'attachment; filename="accord-audit.json"'},
            )
        return StreamingHttpResponse(
            _csv_rows(records), content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="accord-audit.csv"'},
        )


_EXPORT_FIELDS = list(AuditRecordSerializer().fields)


def _csv_rows(records):
    import json

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_EXPORT_FIELDS)
    for record in records.iterator(chunk_size=2000):
        row = AuditRecordSerializer(record).data
        writer.writerow([json.dumps(row[f]) if isinstance(row[f], (dict, list)) else row[f] for f in _EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)


def _json_lines(records) -> str:
    import json

    return json.dumps([AuditRecordSerializer(r).data for r in records.iterator(chunk_size=2000)], default=str)


class _NoBody(serializers.Serializer):
    pass
