from __future__ import annotations

import io

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.response import Response

from catalog.models import System
from ingest import dbt, filtersets
from ingest.api import serializers as ins
from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun
from permissions.api.parsers import JSONParser, MultiPartParser
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet, RestrictedAPIView
from permissions.edit import can_change, can_create

ARTIFACTS = ("manifest", "catalog", "run_results")


class DbtProjectViewSet(AccordModelViewSet):
    """dbt projects Accord ingests and where their relations go; changed by whoever may change the System."""

    queryset = DbtProject.objects.select_related("system")
    serializer_class = ins.DbtProjectSerializer
    filterset_class = filtersets.DbtProjectFilterSet
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]


class IngestionRunViewSet(AccordReadOnlyModelViewSet):
    """dbt ingestions with their counts, warnings and errors (read-only: written by the ingestion)."""

    queryset = IngestionRun.objects.select_related("project__system", "requested_by")
    serializer_class = ins.IngestionRunSerializer
    filterset_class = filtersets.IngestionRunFilterSet
    ordering_fields = ["started_at", "id"]
    ordering = ["-started_at", "-id"]


class DbtNodeViewSet(AccordReadOnlyModelViewSet):
    """The dbt models, seeds, snapshots and sources ingested, each with its dataset."""

    queryset = DbtNode.objects.select_related("project", "dataset")
    serializer_class = ins.DbtNodeSerializer
    filterset_class = filtersets.DbtNodeFilterSet
    ordering_fields = ["unique_id", "id"]
    ordering = ["unique_id", "id"]

    @extend_schema(summary="Draft a contract version from this model's enforced dbt contract",
                   request=ins.DraftContractRequestSerializer, responses={201: ins.DraftContractSerializer},
                   filters=False)
    @action(detail=True, methods=["post"], url_path="draft-contract", filterset_class=None, pagination_class=None)
    def draft_contract(self, request, pk=None):
        from governance.api.serializers import ContractVersionSerializer
        from governance.models import DataContract
        from ingest import contracts

        node = self.get_object()
        body = ins.DraftContractRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        consumers = body.validated_data.get("consumers") or None
        producer = node.dataset.owner_department
        if producer is not None and not can_create(request.user, DataContract, {"producer": producer}):
            self.permission_denied(request, message="Only the producing department's lead or the council may "
                                                    "draft its contracts.")
        try:
            version, left_out = contracts.draft_from_model(node, actor=request.user, consumers=consumers)
        except contracts.DraftRefused as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        body = ContractVersionSerializer(version, context=self.get_serializer_context()).data
        return Response({**body, "tests_left_out": left_out}, status=status.HTTP_201_CREATED)


class DbtTestViewSet(AccordReadOnlyModelViewSet):
    """dbt data tests on datasets and fields, with their latest result."""

    queryset = DbtTest.objects.select_related("project", "dataset", "field", "related_dataset")
    serializer_class = ins.DbtTestSerializer
    filterset_class = filtersets.DbtTestFilterSet
    ordering_fields = ["unique_id", "executed_at", "id"]
    ordering = ["unique_id", "id"]


def max_artifact_bytes() -> int:
    return int(getattr(settings, "ACCORD_DBT_MAX_ARTIFACT_BYTES", 200 * 1024 * 1024))


def _artifact(request, name: str):
    """One artifact from the request: an uploaded file (multipart) or a JSON object."""
    upload = request.FILES.get(name) if hasattr(request, "FILES") else None
    if upload is not None:
        if upload.size > max_artifact_bytes():
            raise _TooLarge(name)
        try:
            return JSONParser().parse(io.BytesIO(upload.read()))
        except ParseError as exc:
            raise ValidationError({name: [f"{name}.json is not valid JSON: {exc.detail}"]}) from None
    value = request.data.get(name)
    if isinstance(value, str):  # a multipart text field
        try:
            return JSONParser().parse(io.BytesIO(value.encode()))
        except ParseError as exc:
            raise ValidationError({name: [f"{name} is not valid JSON: {exc.detail}"]}) from None
    return value


class _TooLarge(Exception):
    def __init__(self, name: str):
        self.name = name


class DbtIngestView(RestrictedAPIView):
    """``POST ingest/dbt/``: ingest a dbt project's artifacts now, in this request."""

    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(summary="Ingest dbt artifacts", request={"application/json": ins.DbtIngestRequestSerializer,
                                                            "multipart/form-data": ins.DbtIngestRequestSerializer},
                   responses={201: ins.IngestionRunSerializer, 400: OpenApiResponse(description="Invalid artifacts"),
                              413: OpenApiResponse(description="An artifact is larger than the limit")})
    def post(self, request):
        if not hasattr(request.data, "keys"):
            raise ValidationError({"non_field_errors": ["Send an object of manifest, catalog, run_results and "
                                                        "system (JSON or multipart)."]})
        unknown = sorted(set(request.data.keys()) | set(getattr(request, "FILES", {}).keys()))
        unknown = [key for key in unknown if key not in (*ARTIFACTS, "system")]
        if unknown:
            raise ValidationError({key: ["Unknown key: send manifest, catalog, run_results and system."]
                                   for key in unknown})
        try:
            documents = {name: _artifact(request, name) for name in ARTIFACTS}
        except _TooLarge as exc:
            return Response({"detail": f"{exc.name}.json is larger than the limit of {max_artifact_bytes()} bytes.",
                             "limit_bytes": max_artifact_bytes()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if documents["manifest"] is None:
            raise ValidationError({"manifest": ["manifest.json is required."]})
        slug = request.data.get("system")
        system = None
        if slug is not None and not isinstance(slug, str):
            raise ValidationError({"system": ["Give the system's slug as text."]})
        if slug is not None:
            system = self.visible(System).filter(slug=str(slug)[:100]).first()
            if system is None:
                raise ValidationError({"system": [f"No system with slug {str(slug)[:100]!r}."]})
        try:
            artifacts = dbt.parse_artifacts(documents["manifest"], documents["catalog"], documents["run_results"])
            project = DbtProject.objects.filter(name=artifacts.project_name).select_related("system").first()
            target = project.system if project is not None else system
            if target is not None and not can_change(request.user, target):
                raise PermissionDenied("Only whoever may change the project's system (its department's lead, the "
                                       "council) may ingest its dbt artifacts.")
            mapped = set((project.schema_systems or {}).values()) if project is not None else set()
            if mapped and not all(can_change(request.user, s) for s in System.objects.filter(slug__in=mapped)):
                raise PermissionDenied("The project's schema_systems place relations on systems you may not "
                                       "change: only whoever may change every one of them may ingest.")
            project = project or dbt.project_for(artifacts, system=system, actor=request.user)
        except dbt.IngestError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        run = dbt.ingest(project, artifacts, requested_by=request.user)
        return Response(ins.IngestionRunSerializer(run, context={"request": request, "view": self}).data,
                        status=status.HTTP_201_CREATED)
