"""The scorecard in the API: the organisation and every department, one department, a CSV export;
its daily snapshots (read-only) and the council's meeting dates."""

from __future__ import annotations

import csv
import io
import json

import django_filters
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.response import Response

from catalog.api.serializers import department_ref
from governance import scorecard
from governance.models import CouncilMeeting, ScorecardSnapshot
from permissions.api.serializers import AccordModelSerializer
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet, RestrictedAPIView
from permissions.filtersets import AccordFilterSet, RestrictedFilterSet, RestrictedIdFilter


class ScorecardCSVRenderer(renderers.BaseRenderer):
    """``?format=csv``: one row per scope and metric (``governance.scorecard.csv_rows``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict) or "departments" not in data:  # an error body: kept as it is
            return json.dumps(data).encode()
        buffer = io.StringIO()
        csv.writer(buffer).writerows(scorecard.csv_rows(data))
        return buffer.getvalue().encode()


_SCORECARD_RESPONSES = {
    (200, "application/json"): OpenApiResponse(
        OpenApiTypes.OBJECT, description="The scorecard: metrics (value, numerator, denominator, band, trend, change "
                                         "since the last council meeting) and maturity per department "
                                         "(docs/scorecard.md)."),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="?format=csv: one row per scope and metric."),
}


class ScorecardView(RestrictedAPIView):
    """The scorecard of the organisation and every department, counted over what the caller may see."""

    renderer_classes = [renderers.JSONRenderer, ScorecardCSVRenderer, renderers.BrowsableAPIRenderer]

    @extend_schema(summary="The scorecard: the organisation and every department", responses=_SCORECARD_RESPONSES)
    def get(self, request):
        return self._respond(scorecard.scorecard(request.user), "scorecard")

    def _respond(self, card, name):
        response = Response(card)
        if self.request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


class ScorecardDepartmentView(ScorecardView):
    """One department's scorecard (its maturity stage, what the next stage needs, its contracts)."""

    @extend_schema(summary="One department's scorecard", responses={
        **_SCORECARD_RESPONSES, 404: OpenApiResponse(description="No such department.")})
    def get(self, request, slug: str):
        card = scorecard.scorecard(request.user, department_slug=slug)
        if card is None:
            raise Http404
        return self._respond(card, f"scorecard-{slug}")


# --- snapshots and council meetings ----------------------------------------------------------------------------------


class ScorecardSnapshotSerializer(AccordModelSerializer):
    department = department_ref(read_only=True)

    class Meta:
        model = ScorecardSnapshot
        fields = ["id", "day", "department", "facts", "computed_at"]
        read_only_fields = fields


class ScorecardSnapshotFilterSet(RestrictedFilterSet):
    department = RestrictedIdFilter(field_name="department")
    organisation = django_filters.BooleanFilter(field_name="department", lookup_expr="isnull",
                                                help_text="true: only the organisation's snapshots.")
    since = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    until = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = ScorecardSnapshot
        fields: list[str] = []


class ScorecardSnapshotViewSet(AccordReadOnlyModelViewSet):
    """The scorecard's daily snapshots (written by the daily task). Computed over everything, they are
    listed only to callers whom no deny rule opts out of anything (docs/scorecard.md)."""

    queryset = ScorecardSnapshot.objects.select_related("department")
    serializer_class = ScorecardSnapshotSerializer
    filterset_class = ScorecardSnapshotFilterSet
    ordering_fields = ["day", "id"]
    ordering = ["-day", "id"]


class CouncilMeetingSerializer(AccordModelSerializer):
    class Meta:
        model = CouncilMeeting
        fields = ["id", "held_on", "notes", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class CouncilMeetingFilterSet(AccordFilterSet):
    since = django_filters.DateFilter(field_name="held_on", lookup_expr="gte")
    until = django_filters.DateFilter(field_name="held_on", lookup_expr="lte")

    class Meta:
        model = CouncilMeeting
        fields: list[str] = []


class CouncilMeetingViewSet(AccordModelViewSet):
    """The council's meetings: the scorecard shows each metric's change since the last one held.
    Set by the council (the model permissions), audited."""

    queryset = CouncilMeeting.objects.all()
    serializer_class = CouncilMeetingSerializer
    filterset_class = CouncilMeetingFilterSet
    ordering_fields = ["held_on", "id"]
    ordering = ["-held_on"]
