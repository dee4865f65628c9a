from __future__ import annotations

from harvest import filtersets
from harvest.api import serializers as hs
from harvest.models import FieldRelationship, HarvestRun, HarvestSettings, SchemaChange
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet


class HarvestSettingsViewSet(AccordModelViewSet):
    """What to harvest from a System and when; changed by whoever may change the System."""

    queryset = HarvestSettings.objects.select_related("system")
    serializer_class = hs.HarvestSettingsSerializer
    filterset_class = filtersets.HarvestSettingsFilterSet
    ordering_fields = ["created_at", "updated_at", "id"]
    ordering = ["id"]


class HarvestRunViewSet(AccordReadOnlyModelViewSet):
    """Harvest runs with their counts, warnings and errors (read-only: written by the harvest)."""

    queryset = HarvestRun.objects.select_related("system", "requested_by")
    serializer_class = hs.HarvestRunSerializer
    filterset_class = filtersets.HarvestRunFilterSet
    ordering_fields = ["scheduled_for", "id"]
    ordering = ["-scheduled_for", "-id"]


class SchemaChangeViewSet(AccordReadOnlyModelViewSet):
    """The drift harvests found, per dataset, classified against the contracts covering it."""

    queryset = SchemaChange.objects.select_related("dataset", "field")
    serializer_class = hs.SchemaChangeSerializer
    filterset_class = filtersets.SchemaChangeFilterSet
    ordering_fields = ["detected_at", "id"]
    ordering = ["-detected_at", "-id"]


class FieldRelationshipViewSet(AccordReadOnlyModelViewSet):
    """Foreign keys in the sources, field to field (relationships, not lineage)."""

    queryset = FieldRelationship.objects.select_related("system", "from_field", "to_field")
    serializer_class = hs.FieldRelationshipSerializer
    filterset_class = filtersets.FieldRelationshipFilterSet
    ordering_fields = ["constraint_name", "position", "id"]
    ordering = ["id"]
