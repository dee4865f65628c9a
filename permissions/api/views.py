"""The trust layer's API: tokens, deny rules and exceptions, explain, the audit log."""

from __future__ import annotations

import csv
import datetime
import io
import json

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from permissions import audit, checkpoints
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
from permissions.audit_redaction import AuditRedactor
from permissions.council import is_council
from permissions.filtersets import RestrictedFilterSet
from permissions.models import AccessRule, AccessRuleException, ApiToken, AuditAction, AuditEventWindow, AuditRecord
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


class _DateOrDateTime(forms.Field):
    """An ISO 8601 date-time (``2026-12-07T08:00:00Z``, an offset or none: UTC) or a date
    (``2026-12-07``: its midnight, UTC)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            if len(text) == 10:
                moment = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time(),
                                                   tzinfo=datetime.UTC)
            else:
                moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
                moment = moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment
            return moment.astimezone(datetime.UTC)
        except (ValueError, OverflowError):
            raise forms.ValidationError(
                f"“{value}” is not a date (YYYY-MM-DD) or an ISO 8601 date and time (YYYY-MM-DDTHH:MM:SS±HH:MM)."
            ) from None


@extend_schema_field(OpenApiTypes.DATETIME)
class DateOrDateTimeFilter(filters.Filter):
    field_class = _DateOrDateTime


class AuditFilterSet(RestrictedFilterSet):  # strict input (permissions.filtersets)
    actor = filters.CharFilter(field_name="actor_name")
    actor_id = filters.NumberFilter()
    action = filters.MultipleChoiceFilter(choices=AuditAction.choices)
    object_type = filters.CharFilter()
    object_id = filters.CharFilter()
    request_id = filters.CharFilter()
    client_request_id = filters.CharFilter()
    since = DateOrDateTimeFilter(field_name="timestamp", lookup_expr="gte",
                                 help_text="Records at or after this date (midnight UTC) or date and time.")
    until = DateOrDateTimeFilter(field_name="timestamp", lookup_expr="lt",
                                 help_text="Records before this date (midnight UTC) or date and time.")
    seq_from = filters.NumberFilter(field_name="seq", lookup_expr="gte", help_text="Records from this seq on.")
    seq_to = filters.NumberFilter(field_name="seq", lookup_expr="lte", help_text="Records up to this seq.")

    class Meta:
        model = AuditRecord
        fields: list[str] = []


class CheckpointPermission(BasePermission):
    """Auditors (whoever may read the audit log) may have the head signed and published now."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(
            "permissions.view_auditrecord"))


#: The export's formats: JSON Lines (one record per line), CSV, and a JSON array (streamed too).
EXPORT_FORMATS = {"jsonl": ("application/jsonl", "jsonl"), "csv": ("text/csv", "csv"),
                  "json": ("application/json", "json")}


class AuditRecordViewSet(AccordReadOnlyModelViewSet):
    """The audit log (needs ``permissions.view_auditrecord``). Newest first.

    Records about objects the reader may not see name nothing of them
    (``permissions.audit_redaction``). ``export/?as=jsonl|csv|json`` streams the filtered records.
    """

    queryset = AuditRecord.objects.all()
    serializer_class = AuditRecordSerializer
    permission_classes = [ModelPermissionRequired]
    filterset_class = AuditFilterSet
    pagination_class = AuditCursorPagination
    ordering_fields = ["seq"]
    lookup_field = "seq"

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        rows = response.data.get("results", []) if isinstance(response.data, dict) else response.data
        _redact(request.user, rows)
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        _redact(request.user, [response.data])
        return response

    @extend_schema(summary="The chain head: sequence number and hash of the newest record", filters=False,
                   responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def head(self, request):
        return Response(audit.chain_head())

    @extend_schema(
        summary="Verify the hash chain from the last verified checkpoint (full=true: from the genesis) and "
                "against every stored signed checkpoint",
        filters=False, parameters=[OpenApiParameter("full", bool, description="Walk the whole chain.")],
        responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None,
            query_params_accepted=("full",))
    def verify(self, request):
        full = request.query_params.get("full", "false").lower()
        if full not in ("true", "false"):
            raise ValidationError({"full": ["Give true or false."]})
        result = checkpoints.verify(full=full == "true")
        return Response(result.__dict__)

    @extend_schema(summary="Sign and publish a checkpoint of the chain head now (auditors: those who may read "
                           "the log)",
                   filters=False, request=None, responses={201: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None,
            permission_classes=[CheckpointPermission])
    def checkpoint(self, request):
        try:
            made = checkpoints.make_checkpoint(actor=request.user)
        except checkpoints.CheckpointError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(made.published, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Denials and restricted reads counted in the open windows (after each one's first "
                           "record, whose seq is first_seq)", filters=False, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def repeats(self, request):
        rows = list(AuditEventWindow.objects.order_by("first_seq", "object_id").values(
            "action", "actor_id", "actor_name", "object_type", "object_id", "first_seq", "count", "window_start",
            "last_at")[:1000])
        for row in rows:
            if row["object_id"].startswith("path:"):
                row["path"], row["object_id"] = row["object_id"][5:], ""
        redactor = AuditRedactor(request.user)
        redactor.prepare(rows)
        shown = [row for row in rows if not redactor.hides(row["object_type"], row["object_id"])]
        return Response({"window_seconds": int((audit.repeat_window() or datetime.timedelta()).total_seconds()),
                         "results": shown})

    @extend_schema(
        summary="Export the filtered records, oldest first, streamed: JSON Lines, CSV or a JSON array",
        parameters=[OpenApiParameter("as", str, enum=[*EXPORT_FORMATS], description="Default jsonl.")],
        responses={(200, "application/jsonl"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/json"): AuditRecordSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, query_params_accepted=("as",))
    def export(self, request):
        kind = request.query_params.get("as", "jsonl")
        if kind not in EXPORT_FORMATS:
            raise ValidationError({"as": [f"Choose one of {', '.join(EXPORT_FORMATS)}."]})
        records = self.filter_queryset(self.get_queryset()).order_by("seq")
        content_type, extension = EXPORT_FORMATS[kind]
        rows = _export_rows(records, request.user)
        body = {"jsonl": _jsonl, "csv": _csv, "json": _json_array}[kind](rows)
        return StreamingHttpResponse(
            body, content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="accord-audit.{extension}"'})


_EXPORT_FIELDS = list(AuditRecordSerializer().fields)
_EXPORT_CHUNK = 1000


def _redact(user, rows) -> None:
    redactor = AuditRedactor(user)
    if redactor.skip:
        return
    rows = [row for row in rows if isinstance(row, dict)]
    redactor.prepare(rows)
    for row in rows:
        redactor.row(row)


def _export_rows(records, user):
    """The records as dicts of the export's fields, read over a server-side cursor in chunks and
    redacted for ``user`` one chunk at a time: memory stays bounded by the chunk."""
    redactor = AuditRedactor(user)
    chunk: list[dict] = []
    for row in records.values(*_EXPORT_FIELDS).iterator(chunk_size=_EXPORT_CHUNK):
        row["timestamp"] = row["timestamp"].astimezone(datetime.UTC).isoformat()
        chunk.append(row)
        if len(chunk) == _EXPORT_CHUNK:
            yield from _redacted(redactor, chunk)
            chunk = []
    yield from _redacted(redactor, chunk)


def _redacted(redactor: AuditRedactor, chunk: list[dict]):
    redactor.prepare(chunk)
    for row in chunk:
        yield redactor.row(row)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _jsonl(rows):
    for row in rows:
        yield _dumps(row) + "\n"


def _json_array(rows):
    first = True
    for row in rows:
        yield ("[" if first else ",\n") + _dumps(row)
        first = False
    yield "[]\n" if first else "]\n"


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_EXPORT_FIELDS)
    for index, row in enumerate(rows, 1):
        writer.writerow([_dumps(row[f]) if isinstance(row[f], (dict, list)) else row[f] for f in _EXPORT_FIELDS])
        if index % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
    yield buffer.getvalue()


class _NoBody(serializers.Serializer):
    pass
