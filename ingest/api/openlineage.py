"""OpenLineage's API: namespaces mapped to Systems, the unknown ones events named, and
``POST lineage/openlineage/`` taking events."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from catalog.api.serializers import system_ref
from ingest import filtersets, openlineage
from ingest.models import LineageNamespace, UnknownNamespace
from permissions.api.parsers import JSONParser
from permissions.api.routers import AccordRouter
from permissions.api.serializers import AccordModelSerializer
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet, RestrictedAPIView
from permissions.edit import can_change


class LineageNamespaceSerializer(AccordModelSerializer):
    system = system_ref()

    class Meta:
        model = LineageNamespace
        fields = ["id", "namespace", "system", "created_at", "updated_at"]


class UnknownNamespaceSerializer(AccordModelSerializer):
    class Meta:
        model = UnknownNamespace
        fields = ["id", "namespace", "first_seen_at", "last_seen_at", "events", "example_names"]
        read_only_fields = fields


class LineageNamespaceViewSet(AccordModelViewSet):
    """OpenLineage dataset namespaces and the System each names; changed by whoever may change the System."""

    queryset = LineageNamespace.objects.select_related("system")
    serializer_class = LineageNamespaceSerializer
    filterset_class = filtersets.LineageNamespaceFilterSet
    ordering_fields = ["namespace", "created_at", "updated_at", "id"]
    ordering = ["namespace", "id"]


class UnknownNamespaceViewSet(AccordReadOnlyModelViewSet):
    """Namespaces OpenLineage events named that no System has yet (written by the ingestion)."""

    queryset = UnknownNamespace.objects.unmapped()
    serializer_class = UnknownNamespaceSerializer
    filterset_class = filtersets.UnknownNamespaceFilterSet
    ordering_fields = ["namespace", "last_seen_at", "events", "id"]
    ordering = ["-last_seen_at", "namespace", "id"]


class OpenLineageCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class OpenLineageKindsSerializer(serializers.Serializer):
    datasets = OpenLineageCountsSerializer()
    fields = OpenLineageCountsSerializer()
    lineage = OpenLineageCountsSerializer()


class OpenLineageReportSerializer(serializers.Serializer):
    events = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="How many events of each kind (COMPLETE, START…, DatasetEvent, JobEvent).")
    counts = OpenLineageKindsSerializer()
    unknown_namespaces = serializers.ListField(
        child=serializers.CharField(),
        help_text="Namespaces no System you can see has: map them (lineage-namespaces/).")
    warnings = serializers.ListField(child=serializers.CharField())


class OpenLineageView(RestrictedAPIView):
    """``POST lineage/openlineage/``: one OpenLineage event, or a list of them, written now."""

    parser_classes = [JSONParser]

    @extend_schema(summary="Send OpenLineage events",
                   request={"application/json": {"type": "object", "description": "An OpenLineage RunEvent, "
                                                 "DatasetEvent or JobEvent (spec 2-0-2), or a list of them."}},
                   responses={200: OpenLineageReportSerializer,
                              400: OpenApiResponse(description="Not OpenLineage events: each path and what is wrong"),
                              403: OpenApiResponse(description="A System named may not be changed by the sender")})
    def post(self, request):
        try:
            events = openlineage.parse_events(request.data)
        except openlineage.EventError as exc:
            raise ValidationError({path: [message] for path, message in exc.errors.items()}) from None
        systems, unknown = openlineage.systems_for(openlineage.namespaces_of(events), request.user)
        refused = sorted({system.name for system in systems.values() if not can_change(request.user, system)})
        if refused:
            raise PermissionDenied(f"You may not write lineage into {', '.join(refused)}: only whoever may change "
                                   "a system (its department's lead, the council) may send its OpenLineage events.")
        report = openlineage.ingest_events(events, systems=systems, unknown=unknown, requested_by=request.user)
        return Response(report)


router = AccordRouter()
router.register("lineage-namespaces", LineageNamespaceViewSet)
router.register("unknown-namespaces", UnknownNamespaceViewSet)

urlpatterns = [path("lineage/openlineage/", OpenLineageView.as_view(), name="lineage-openlineage"), *router.urls]
