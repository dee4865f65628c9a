from __future__ import annotations

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from catalog import filtersets, search
from catalog.api import serializers as catalog_serializers
from catalog.api.lineage_map import LineageGraphMixin
from catalog.api.registration import DatasetRegistrationSerializer
from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from catalog.services import register_dataset
from permissions.api.viewsets import AccordModelViewSet, RestrictedAPIView
from permissions.edit import can_change, can_create

TIMESTAMPS = ["created_at", "updated_at", "id"]


class DepartmentViewSet(AccordModelViewSet):
    queryset = Department.objects.select_related("parent")
    serializer_class = catalog_serializers.DepartmentSerializer
    filterset_class = filtersets.DepartmentFilterSet
    ordering_fields = ["name", "slug", *TIMESTAMPS]
    ordering = ["name"]


class DepartmentMembershipViewSet(AccordModelViewSet):
    # Ordering by a related column goes through an annotation: the cursor reads the position
    # of the page's last row from an attribute of that name (``user__username`` has none).
    queryset = DepartmentMembership.objects.select_related("department", "user").annotate(
        username=F("user__username"), department_name=F("department__name"))
    serializer_class = catalog_serializers.DepartmentMembershipSerializer
    filterset_class = filtersets.DepartmentMembershipFilterSet
    ordering_fields = ["role", "username", "department_name", *TIMESTAMPS]
    ordering = ["id"]


class TagViewSet(AccordModelViewSet):
    queryset = Tag.objects.all()
    serializer_class = catalog_serializers.TagSerializer
    filterset_class = filtersets.TagFilterSet
    ordering_fields = ["name", "slug", *TIMESTAMPS]
    ordering = ["name"]


class SystemViewSet(AccordModelViewSet):
    queryset = System.objects.select_related("owner_department")
    serializer_class = catalog_serializers.SystemSerializer
    filterset_class = filtersets.SystemFilterSet
    ordering_fields = ["name", "slug", "kind", "vendor", *TIMESTAMPS]
    ordering = ["name"]


def tags_prefetch() -> Prefetch:
    # The serializer reads ``obj.tags.all()``, which this prefetch fills (one statement per page).
    return Prefetch("tags", queryset=Tag.objects.only("id", "name", "slug"))


# What the brief representations of related objects need (fewer columns, lighter objects).
BRIEF_SYSTEM = ("system__id", "system__name", "system__slug", "system__kind")
BRIEF_DEPARTMENT = ("owner_department__id", "owner_department__name", "owner_department__slug")
BRIEF_PERSON = ("id", "username", "first_name", "last_name")


def visible_fields(user):
    """The fields ``user`` may view, for reading them through their dataset, which the caller has
    read through ``visible_to`` already (a prefetch from visible datasets, or ``.filter(dataset=…)``
    with a dataset from ``get_object``): the dataset's own conditions are not repeated per field."""
    own = [f.name for f in Field._meta.concrete_fields if f.name not in ("owner", "owner_department")]
    return (
        Field.objects.visible_to(user, inside=("dataset",))
        .select_related("owner", "owner_department")
        .only(*own, *(f"owner__{name}" for name in BRIEF_PERSON), *BRIEF_DEPARTMENT)
        .prefetch_related(tags_prefetch())
    )


class DatasetViewSet(LineageGraphMixin, AccordModelViewSet):
    queryset = Dataset.objects.select_related("system", "owner_department", "steward").prefetch_related(
        tags_prefetch())
    serializer_class = catalog_serializers.DatasetSerializer
    filterset_class = filtersets.DatasetFilterSet
    ordering_fields = [
        "qualified_name", "name", "kind", "lifecycle", "classification", "row_count", "size_bytes",
        "published_at", "source_modified_at", *TIMESTAMPS,
    ]
    ordering = ["id"]
    #: Shown by the detail, not written: a PUT of a detail as read sends them back.
    read_only_keys = ("fields",)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            own = [f.name for f in Dataset._meta.concrete_fields if f.name not in ("system", "owner_department",
                                                                                  "steward")]
            queryset = queryset.only(*own, *BRIEF_SYSTEM, *BRIEF_DEPARTMENT,
                                     *(f"steward__{name}" for name in BRIEF_PERSON))
        user = self.request.user
        if self.action == "retrieve":
            # A detail shows its visible fields: ``retrieve`` counts those rather than have the
            # database select the same fields, with the same conditions, a second time.
            return queryset.annotate(field_count=Value(None, output_field=IntegerField())).prefetch_related(
                Prefetch("fields", queryset=visible_fields(user), to_attr="visible_fields")
            )
        visible_count = (  # the fields of each (visible) dataset of this queryset
            Field.objects.visible_to(user, inside=("dataset",)).filter(dataset=OuterRef("pk")).order_by()
            .values("dataset").annotate(n=Count("pk")).values("n")
        )
        return queryset.annotate(field_count=Coalesce(Subquery(visible_count), 0))

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response.data["field_count"] = len(response.data["fields"])  # see get_queryset
        return response

    def get_serializer_class(self):
        if self.action == "retrieve":
            return catalog_serializers.DatasetDetailSerializer
        if self.action == "register":
            return DatasetRegistrationSerializer
        if self.action == "fields":
            return catalog_serializers.FieldSerializer
        return super().get_serializer_class()

    @extend_schema(
        summary="The fields of a dataset (those you may view), paginated",
        responses=catalog_serializers.FieldSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=["position", "name", "id"])
    def fields(self, request, pk=None):
        dataset = self.get_object()
        queryset = visible_fields(request.user).select_related("dataset").filter(dataset=dataset)
        queryset = queryset.order_by("position", "id")
        page = self.paginate_queryset(queryset)
        serializer = catalog_serializers.FieldSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        summary="Upstream and downstream lineage neighbours of a dataset",
        responses=inline_serializer(
            "DatasetLineage",
            {
                "upstream": catalog_serializers.LineageEdgeSerializer(many=True),
                "downstream": catalog_serializers.LineageEdgeSerializer(many=True),
            },
        ),
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def lineage(self, request, pk=None):
        dataset = self.get_object()
        edges = lineage_edges(request.user).filter(Q(source=dataset) | Q(target=dataset))
        context = self.get_serializer_context()
        upstream = [edge for edge in edges if edge.target_id == dataset.pk]
        downstream = [edge for edge in edges if edge.source_id == dataset.pk]
        return Response({
            "upstream": catalog_serializers.LineageEdgeSerializer(upstream, many=True, context=context).data,
            "downstream": catalog_serializers.LineageEdgeSerializer(downstream, many=True, context=context).data,
        })

    @extend_schema(
        summary="Register or update a dataset with all its fields (idempotent)",
        request=DatasetRegistrationSerializer,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT},
        filters=False,
    )
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None)
    def register(self, request):
        payload = DatasetRegistrationSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        existing = self.get_queryset().filter(system=data["system"], qualified_name=data["qualified_name"]).first()
        if existing is None and Dataset.objects.filter(
            system=data["system"], qualified_name=data["qualified_name"]
        ).exists():
            # Registered already but hidden from this caller: refused with the same
            # words as any registration they may not make.
            raise PermissionDenied("You do not have permission to register this dataset.")
        allowed = (
            can_change(request.user, existing) if existing is not None
            else can_create(request.user, Dataset, {"system": data["system"], **data["attributes"]})
        )
        if not allowed:
            raise PermissionDenied("You do not have permission to register this dataset.")
        result = register_dataset(
            system=data["system"],
            qualified_name=data["qualified_name"],
            attributes=data["attributes"],
            tags=data.get("tags"),
            fields=data["fields"],
            remove_missing=data["remove_missing"],
            actor=request.user,
        )
        dataset = self.get_queryset().prefetch_related(
            Prefetch("fields", queryset=visible_fields(request.user), to_attr="visible_fields")
        ).get(pk=result.dataset.pk)
        body = {
            "created": result.dataset_created,
            "changed": result.changed,
            "fields": {
                "created": result.fields_created,
                "updated": result.fields_updated,
                "unchanged": result.fields_unchanged,
                "missing": result.fields_missing,
                "removed": result.fields_removed,
            },
            "dataset": catalog_serializers.DatasetDetailSerializer(dataset, context=self.get_serializer_context()).data,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.dataset_created else status.HTTP_200_OK)


class FieldViewSet(LineageGraphMixin, AccordModelViewSet):
    queryset = Field.objects.select_related("dataset", "owner", "owner_department").prefetch_related(
        tags_prefetch())
    serializer_class = catalog_serializers.FieldSerializer
    filterset_class = filtersets.FieldFilterSet
    ordering_fields = ["name", "position", "data_type", "classification", *TIMESTAMPS]
    ordering = ["id"]


def lineage_edges(user):
    """Edges whose ends (and mapped fields) the user may all see (LineageEdge.access)."""
    return LineageEdge.objects.visible_to(user).select_related("source", "target", "source_field", "target_field")


class LineageEdgeViewSet(AccordModelViewSet):
    queryset = LineageEdge.objects.select_related("source", "target", "source_field", "target_field")
    serializer_class = catalog_serializers.LineageEdgeSerializer
    filterset_class = filtersets.LineageEdgeFilterSet
    ordering_fields = TIMESTAMPS
    ordering = ["id"]


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Words to look for (web-search syntax on PostgreSQL).")
    type = serializers.MultipleChoiceField(choices=search.TYPES, required=False)
    system = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    department = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    classification = serializers.ListField(child=serializers.CharField(), required=False)
    kind = serializers.ListField(child=serializers.CharField(), required=False)
    limit = serializers.IntegerField(min_value=1, max_value=settings.ACCORD_SEARCH_MAX_LIMIT, default=20)

    def to_internal_value(self, data):
        plain = {}
        for key in self.fields:
            if key in data:
                values = data.getlist(key) if hasattr(data, "getlist") else data[key]
                if isinstance(self.fields[key], (serializers.ListField, serializers.MultipleChoiceField)):
                    plain[key] = [v for value in values for v in str(value).split(",") if v]
                else:
                    plain[key] = values[-1] if isinstance(values, list) else values
        return super().to_internal_value(plain)


class SearchView(RestrictedAPIView):
    """Search the catalog: ranked hits across datasets, fields, systems and departments, with facet counts."""

    query_params_accepted = tuple(SearchQuerySerializer().fields)

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="Words to look for."),
            OpenApiParameter("type", str, many=True, enum=list(search.TYPES), description="Limit to these types."),
            OpenApiParameter("system", int, many=True, description="Only hits in these systems (ids)."),
            OpenApiParameter("department", int, many=True, description="Only hits owned by these departments."),
            OpenApiParameter("classification", str, many=True, description="Only these classifications."),
            OpenApiParameter("kind", str, many=True, description="Only these dataset or system kinds."),
            OpenApiParameter("limit", int, description="How many hits (1-100, default 20)."),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "query": serializers.CharField(),
                "results": serializers.ListField(child=serializers.DictField()),
                "ranking": serializers.ChoiceField(
                    choices=["exact", "approximate"],
                    help_text="approximate: a type had more matches than the search considers "
                    "(ACCORD_SEARCH_EXACT_LIMIT, 200 by default); its hits were ranked within that many.",
                ),
                "facets": serializers.DictField(
                    child=serializers.ListField(child=inline_serializer("SearchFacetEntry", {
                        "value": serializers.JSONField(),
                        "count": serializers.IntegerField(),
                        "count_exact": serializers.BooleanField(
                            help_text="false: the count is a lower bound (show it as \"100+\").",
                        ),
                        "label": serializers.CharField(required=False),
                    })),
                ),
            },
        ),
    )
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        filters = search.SearchFilters(
            types=tuple(t for t in search.TYPES if t in data.get("type", search.TYPES)),
            system_ids=tuple(data.get("system", ())),
            department_ids=tuple(data.get("department", ())),
            classifications=tuple(data.get("classification", ())),
            kinds=tuple(data.get("kind", ())),
        )
        return Response(search.search(request.user, data["q"], filters, data["limit"]))
