from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from catalog.models import System
from harvest import filtersets, services
from harvest.api import serializers as hs
from harvest.models import FieldRelationship, HarvestRun, HarvestSettings, HarvestTrigger, SchemaChange
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet, RestrictedAPIView
from permissions.edit import can_change


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


class SystemHarvestView(RestrictedAPIView):
    """``POST systems/{id}/harvest/``: harvest the System now, on the worker."""

    @extend_schema(summary="Harvest this system now", request=None, responses={202: hs.HarvestRunSerializer})
    def post(self, request, pk: int):
        from django.db import transaction

        from harvest.tasks import harvest_system

        system = get_object_or_404(self.visible(System), pk=pk)
        if not can_change(request.user, system):
            raise PermissionDenied("Only whoever may change the system (its department's lead, the council) "
                                   "may harvest it.")
        if not system.connection_engine:
            raise ValidationError({"connection_engine": [
                "This system has no connection to harvest: set its connection_engine and connection_env."]})
        run, _ = services.get_or_create_run(system, trigger=HarvestTrigger.API, requested_by=request.user)
        at = run.scheduled_for.isoformat()
        transaction.on_commit(lambda: harvest_system.delay(system.pk, scheduled_for=at))
        return Response(hs.HarvestRunSerializer(run, context={"request": request, "view": self}).data,
                        status=status.HTTP_202_ACCEPTED)
