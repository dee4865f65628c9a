"""OpenLineage's API: namespaces mapped to Systems, the unknown ones events named, and
``POST lineage/openlineage/`` taking events."""

from __future__ import annotations

from catalog.api.serializers import system_ref
from ingest import filtersets
from ingest.models import LineageNamespace, UnknownNamespace
from permissions.api.routers import AccordRouter
from permissions.api.serializers import AccordModelSerializer
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet


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

    queryset = UnknownNamespace.objects.all()
    serializer_class = UnknownNamespaceSerializer
    filterset_class = filtersets.UnknownNamespaceFilterSet
    ordering_fields = ["namespace", "last_seen_at", "events", "id"]
    ordering = ["-last_seen_at", "namespace", "id"]


router = AccordRouter()
router.register("lineage-namespaces", LineageNamespaceViewSet)
router.register("unknown-namespaces", UnknownNamespaceViewSet)

urlpatterns = [*router.urls]
