"""``GET /api/v1/datasets/{id}/lineage-graph/`` and ``/api/v1/fields/{id}/lineage-graph/``: the
lineage map's data (catalog.lineage_map), as the caller may see it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from catalog import lineage_map
from catalog.models import Field
from permissions.filtersets import refuse_unknown_params


class LineageGraphQuerySerializer(serializers.Serializer):
    depth = serializers.IntegerField(min_value=1, max_value=lineage_map.MAX_DEPTH, default=lineage_map.DEFAULT_DEPTH)
    fields = serializers.BooleanField(default=False)


def _brief(name: str, many: bool = False, **extra) -> serializers.Serializer:
    return inline_serializer(name, {"id": serializers.IntegerField(), "name": serializers.CharField(), **extra},
                             many=many)


_FIELD = _brief("LineageGraphField")

GRAPH_SCHEMA = inline_serializer("LineageGraph", {
    "root": inline_serializer("LineageGraphRoot", {
        "type": serializers.ChoiceField(choices=["dataset", "field"]),
        "id": serializers.IntegerField(),
        "dataset": serializers.IntegerField(help_text="The root's dataset."),
        "name": serializers.CharField(required=False, help_text="The field's name (a field's map)."),
    }),
    "depth": serializers.IntegerField(),
    "fields": serializers.BooleanField(help_text="Whether field_edges holds the field mappings."),
    "truncated": serializers.BooleanField(
        help_text="The walk stopped before the depth asked for: the map reached ACCORD_LINEAGE_MAP_MAX_NODES "
                  "datasets (1000 by default)."),
    "systems": _brief("LineageGraphSystem", many=True, kind=serializers.CharField()),
    "departments": _brief("LineageGraphDepartment", many=True),
    "nodes": _brief(
        "LineageGraphNode", many=True, qualified_name=serializers.CharField(), kind=serializers.CharField(),
        lifecycle=serializers.CharField(), system=serializers.IntegerField(),
        department=serializers.IntegerField(allow_null=True),
        level=serializers.IntegerField(help_text="0: the root; -n: n steps upstream; +n: n steps downstream."),
    ),
    "edges": inline_serializer("LineageGraphEdge", {
        "source": serializers.IntegerField(),
        "target": serializers.IntegerField(),
        "contracts": inline_serializer("LineageGraphContractMark", {
            "id": serializers.IntegerField(),
            "name": serializers.CharField(),
            "status": serializers.CharField(help_text="The contract's current version's status (active, proposed, "
                                                      "draft…) or 'none' when it has no version yet."),
            "compliance": serializers.CharField(help_text="unknown, compliant, failing or error."),
        }, many=True, help_text="The contracts covering this edge: the source is among a contract's datasets "
                                "and the target's owner department among its consumers."),
    }, many=True),
    "field_edges": inline_serializer("LineageGraphFieldEdge", {
        "id": serializers.IntegerField(),
        "source": serializers.IntegerField(),
        "target": serializers.IntegerField(),
        "source_field": _FIELD,
        "target_field": _FIELD,
        "transformation": serializers.CharField(),
    }, many=True),
})


class LineageGraphMixin:
    """The ``lineage-graph`` action of the dataset and field viewsets."""

    @extend_schema(
        summary="The lineage map: upstream and downstream to a depth, as you may see it",
        description="Datasets the caller may not see are absent, with everything reached only through them. "
                    "From a field, only field mappings are followed.",
        parameters=[
            OpenApiParameter("depth", int, description=f"Steps each way (1-{lineage_map.MAX_DEPTH}, default "
                                                       f"{lineage_map.DEFAULT_DEPTH})."),
            OpenApiParameter("fields", bool, description="Also the field-to-field mappings between the map's "
                                                         "datasets (always on for a field's map)."),
        ],
        responses=GRAPH_SCHEMA,
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="lineage-graph", filterset_class=None, pagination_class=None)
    def lineage_graph(self, request, pk=None):
        obj = self.get_object()  # a hidden object is a 404, like a missing one
        refuse_unknown_params(request, {*LineageGraphQuerySerializer().fields, api_settings.URL_FORMAT_OVERRIDE})
        params = LineageGraphQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        field = obj if isinstance(obj, Field) else None
        dataset = obj.dataset if field else obj
        return Response(lineage_map.lineage_graph(
            request.user, dataset=dataset, field=field, depth=params.validated_data["depth"],
            fields=params.validated_data["fields"]))
