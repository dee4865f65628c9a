from __future__ import annotations

from types import SimpleNamespace

from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from governance import filtersets, redaction
from governance.api import serializers as gs
from governance.models import (
    BusinessEntity,
    CheckResult,
    ComplianceRun,
    ContractSignature,
    ContractVersion,
    DataContract,
    Delivery,
    EntityAttribute,
    Incident,
    NotificationSubscription,
    StateApproval,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from governance.models.compliance import RunTrigger
from governance.services import compliance, history, notifications, odcs_io
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from permissions import audit
from permissions.api.history import renders_audit_values
from permissions.api.viewsets import AccordModelViewSet, AccordReadOnlyModelViewSet
from permissions.edit import can_change, can_create

TIMESTAMPS = ["created_at", "updated_at", "id"]


class GovernanceModelViewSet(AccordModelViewSet):
    """Governance history is never deleted, whatever a deletion would cascade to
    (``governance.services.history``): a DELETE that would remove some answers 409."""

    def perform_destroy(self, instance):
        history.ensure_no_history([instance])
        super().perform_destroy(instance)


def _ensure_draft(version) -> None:
    """Versions past the draft stage are history: they are never deleted."""
    from permissions.errors import Conflict

    if version.status != "draft":
        raise Conflict(f"{version} is {version.status}; only drafts can be deleted.")


def _action_response(view, instance, serializer_class, code=status.HTTP_200_OK):
    fresh = view.get_queryset().get(pk=instance.pk)
    response = Response(serializer_class(fresh, context=view.get_serializer_context()).data, status=code)
    response["ETag"] = fresh.etag
    return response


def visible_datasets_prefetch(user) -> Prefetch:
    from catalog.models import Dataset

    # Fills ``obj.datasets.all()``, which the serializer reads, with the visible ones only.
    return Prefetch("datasets", queryset=Dataset.objects.visible_to(user))


class BusinessEntityViewSet(GovernanceModelViewSet):
    queryset = BusinessEntity.objects.select_related("owner_department")

    def get_queryset(self):
        return super().get_queryset().prefetch_related(visible_datasets_prefetch(self.request.user))
    serializer_class = gs.BusinessEntitySerializer
    filterset_class = filtersets.BusinessEntityFilterSet
    ordering_fields = ["name", "bounded_context", *TIMESTAMPS]
    ordering = ["id"]

    @extend_schema(summary="Which system is authoritative for this entity (or one attribute)",
                   parameters=[OpenApiParameter("attribute", str, description="Attribute name")],
                   responses=gs.SystemOfRecordSerializer, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def authoritative(self, request, pk=None):
        entity = self.get_object()
        attribute = None
        if request.query_params.get("attribute"):
            attribute = entity.attributes.filter(name=request.query_params["attribute"]).first()
            if attribute is None:
                raise ValidationError({"attribute": [f"{entity.name} has no attribute "
                                                     f"{request.query_params['attribute']!r}."]})
        visible = SystemOfRecord.objects.visible_to(request.user)
        designation = entity_services.authoritative(entity, attribute)
        if designation is not None and attribute is not None and not visible.filter(pk=designation.pk).exists():
            # The attribute's own designation is hidden from the reader: they get what they would
            # get were it not there, the entity's.
            designation = entity_services.authoritative(entity)
        if designation is None or not visible.filter(pk=designation.pk).exists():
            return Response({"detail": "No system of record is designated."}, status=status.HTTP_404_NOT_FOUND)
        return Response(gs.SystemOfRecordSerializer(designation, context=self.get_serializer_context()).data)

    @extend_schema(summary="Conflicts between the registry and the designations", responses=OpenApiTypes.OBJECT,
                   filters=False)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def conflicts(self, request):
        return Response({"conflicts": entity_services.conflicts(request.user)})


class EntityAttributeViewSet(GovernanceModelViewSet):
    queryset = EntityAttribute.objects.select_related("entity")
    serializer_class = gs.EntityAttributeSerializer
    filterset_class = filtersets.EntityAttributeFilterSet
    ordering_fields = ["name", *TIMESTAMPS]
    ordering = ["id"]


class SystemOfRecordViewSet(GovernanceModelViewSet):
    """Designations. Creating one proposes it; the council approves (superseding the active one)."""

    queryset = SystemOfRecord.objects.select_related(
        "entity", "attribute", "system", "dataset", "field", "proposed_by", "decided_by")
    serializer_class = gs.SystemOfRecordSerializer
    filterset_class = filtersets.SystemOfRecordFilterSet
    ordering_fields = ["status", "decided_at", *TIMESTAMPS]
    ordering = ["id"]

    def perform_destroy(self, instance):
        from permissions.errors import Conflict

        if instance.status in ("active", "superseded"):
            raise Conflict("An approved designation is history and is not deleted; propose a new one to change it.")
        super().perform_destroy(instance)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = entity_services.propose_system_of_record(
            entity=data["entity"], attribute=data.get("attribute"), system=data["system"],
            dataset=data.get("dataset"), field=data.get("field"), rationale=data["rationale"],
            actor=self.request.user)

    @extend_schema(summary="Approve a proposed designation (council)", request=gs.ReasonSerializer,
                   responses=gs.SystemOfRecordSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def approve(self, request, pk=None):
        designation = self.get_object()
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        designation = entity_services.approve_system_of_record(designation, actor=request.user, reason=reason)
        return _action_response(self, designation, gs.SystemOfRecordSerializer)

    @extend_schema(summary="Reject a proposed designation (council)", request=gs.ReasonSerializer,
                   responses=gs.SystemOfRecordSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def reject(self, request, pk=None):
        designation = self.get_object()
        body = gs.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        designation = entity_services.reject_system_of_record(designation, actor=request.user,
                                                              reason=body.validated_data["reason"])
        return _action_response(self, designation, gs.SystemOfRecordSerializer)


class StateWorkflowViewSet(GovernanceModelViewSet):
    queryset = StateWorkflow.objects.select_related("owner_department", "dataset", "state_field")
    serializer_class = gs.StateWorkflowSerializer
    filterset_class = filtersets.StateWorkflowFilterSet
    ordering_fields = ["name", *TIMESTAMPS]
    ordering = ["id"]


class StateDefinitionViewSet(GovernanceModelViewSet):
    queryset = StateDefinition.objects.select_related("workflow", "owner_department").prefetch_related(
        "stakeholders", "versions")
    serializer_class = gs.StateDefinitionSerializer
    filterset_class = filtersets.StateDefinitionFilterSet
    ordering_fields = ["name", "position", *TIMESTAMPS]
    ordering = ["id"]


class StateTransitionViewSet(GovernanceModelViewSet):
    queryset = StateTransition.objects.select_related("workflow", "from_state", "to_state")
    serializer_class = gs.StateTransitionSerializer
    filterset_class = filtersets.StateTransitionFilterSet
    ordering_fields = TIMESTAMPS
    ordering = ["id"]


class StateDefinitionVersionViewSet(GovernanceModelViewSet):
    """Versions of a state's definition: drafts are created and edited here, then
    proposed and approved through the actions. ``?awaiting=<department id>`` lists
    the proposed versions waiting for that department's approval."""

    queryset = StateDefinitionVersion.objects.select_related(
        "definition__workflow", "definition__owner_department", "proposed_by").prefetch_related(
        "definition__stakeholders",
        Prefetch("approvals", queryset=StateApproval.objects.select_related("department", "approved_by")))
    serializer_class = gs.StateDefinitionVersionSerializer
    filterset_class = filtersets.StateDefinitionVersionFilterSet
    ordering_fields = ["number", "status", *TIMESTAMPS]
    ordering = ["id"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = state_services.create_draft(
            definition=data["definition"], definition_text=data.get("definition_text", ""),
            criteria=data.get("criteria") or {}, actor=self.request.user)

    def perform_update(self, serializer):
        data = serializer.validated_data
        state_services.update_draft(serializer.instance, definition_text=data.get("definition_text"),
                                    criteria=data.get("criteria"), actor=self.request.user)
        serializer.instance.refresh_from_db()

    def perform_destroy(self, instance):
        _ensure_draft(instance)
        super().perform_destroy(instance)

    @extend_schema(summary="Propose a draft for approval", request=None,
                   responses=gs.StateDefinitionVersionSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def propose(self, request, pk=None):
        version = self.get_object()
        if not can_change(request.user, version):
            self.permission_denied(request, message="You may not propose this state definition.")
        version = state_services.propose(version, actor=request.user)
        return _action_response(self, version, gs.StateDefinitionVersionSerializer)

    @extend_schema(summary="Approve a proposed version for one department", request=gs.DepartmentActionSerializer,
                   responses=gs.StateDefinitionVersionSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def approve(self, request, pk=None):
        version = self.get_object()
        body = gs.DepartmentActionSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        version = state_services.approve(version, department=body.validated_data["department"], actor=request.user,
                                         comment=body.validated_data["comment"])
        return _action_response(self, version, gs.StateDefinitionVersionSerializer)

    @extend_schema(summary="Compare this version with another version of the same state",
                   parameters=[OpenApiParameter("against", int, required=True, description="Other version's id")],
                   responses=OpenApiTypes.OBJECT, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def diff(self, request, pk=None):
        version = self.get_object()
        other_id = request.query_params.get("against", "")
        other = self.get_queryset().filter(pk=int(other_id)).first() if other_id.isdigit() else None
        if other is None:
            raise ValidationError({"against": ["Give the id of another version you can see."]})
        older, newer = sorted([version, other], key=lambda v: v.number)
        return Response(state_services.diff(older, newer))


class DataContractViewSet(GovernanceModelViewSet):
    queryset = DataContract.objects.select_related("producer").prefetch_related("consumers", "versions")

    def get_queryset(self):
        return super().get_queryset().prefetch_related(visible_datasets_prefetch(self.request.user))
    serializer_class = gs.DataContractSerializer
    filterset_class = filtersets.DataContractFilterSet
    ordering_fields = ["name", *TIMESTAMPS]
    ordering = ["id"]

    def perform_update(self, serializer):
        # Parties and datasets are fixed once a version is proposed (409); a draft follows the contract.
        contract_services.check_contract_change(serializer.instance, **{
            name: value for name, value in serializer.validated_data.items()
            if name in ("producer", "consumers", "datasets")})
        super().perform_update(serializer)
        contract_services.follow_contract(serializer.instance, actor=self.request.user)

    @extend_schema(summary="Run the contract's checks now (against its active version)", request=None,
                   responses={202: gs.ComplianceRunSerializer}, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def check(self, request, pk=None):
        contract = self.get_object()
        if not can_change(request.user, contract):
            # A run reads live sources and may open incidents: the producer's lead and the council ask for it.
            self.permission_denied(request, message="Only the producer's lead or the council may run checks.")
        run = compliance.request_run(contract, trigger=RunTrigger.API, actor=request.user)
        run.refresh_from_db()
        return Response(gs.ComplianceRunSerializer(run, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Import an ODCS v3.x document (YAML or JSON) as a new draft version",
                   request=gs.OdcsImportSerializer, responses={201: gs.ContractVersionSerializer}, filters=False)
    @action(detail=False, methods=["post"], url_path="import-odcs", filterset_class=None, pagination_class=None)
    def import_odcs(self, request):
        body = gs.OdcsImportSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        contract = data.get("contract")
        if contract is not None and not can_change(request.user, contract):
            self.permission_denied(request, message="You may not add versions to this contract.")
        if contract is None and not can_create(request.user, DataContract, {"producer": data.get("producer")}):
            self.permission_denied(request, message="You may not create contracts for this producer.")
        version, warnings = odcs_io.import_document(data["document"], producer=data.get("producer"),
                                                    consumers=data.get("consumers", []), contract=contract,
                                                    system=data.get("system"), actor=request.user)
        fresh = ContractVersion.objects.get(pk=version.pk)
        body = gs.ContractVersionSerializer(fresh, context=self.get_serializer_context()).data
        return Response({**body, "warnings": warnings}, status=status.HTTP_201_CREATED)


class ContractVersionViewSet(GovernanceModelViewSet):
    """Versions of a contract: drafts created and edited here; propose, sign and terminate as actions."""

    queryset = ContractVersion.objects.select_related("contract__producer", "producer", "created_by").prefetch_related(
        "contract__consumers", "state_definitions", "consumers", "datasets", "state_definition_versions",
        Prefetch("signatures", queryset=ContractSignature.objects.select_related("department", "signed_by")))
    serializer_class = gs.ContractVersionSerializer
    filterset_class = filtersets.ContractVersionFilterSet
    ordering_fields = ["status", "activated_at", *TIMESTAMPS]
    ordering = ["id"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = contract_services.create_version(
            contract=data["contract"], version=data.get("version", ""), terms=data.get("terms") or {},
            state_definitions=data.get("state_definitions", []), producer=data.get("producer"),
            consumers=data.get("consumers"), datasets=data.get("datasets"), actor=self.request.user)

    def perform_update(self, serializer):
        data = serializer.validated_data
        contract_services.update_draft(serializer.instance, actor=self.request.user,
                                       version_label=data.get("version"), terms=data.get("terms"),
                                       state_definitions=data.get("state_definitions"),
                                       producer=data.get("producer"), consumers=data.get("consumers"),
                                       datasets=data.get("datasets"))
        serializer.instance.refresh_from_db()

    def perform_destroy(self, instance):
        _ensure_draft(instance)
        super().perform_destroy(instance)

    @extend_schema(summary="Propose a draft: freeze it and collect signatures", request=None,
                   responses=gs.ContractVersionSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def propose(self, request, pk=None):
        version = contract_services.propose(self.get_object(), actor=request.user)
        return _action_response(self, version, gs.ContractVersionSerializer)

    @extend_schema(summary="Sign a proposed version for a party department you lead",
                   request=gs.DepartmentActionSerializer, responses=gs.ContractVersionSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def sign(self, request, pk=None):
        version = self.get_object()
        body = gs.DepartmentActionSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        version = contract_services.sign(version, department=body.validated_data["department"], actor=request.user,
                                         comment=body.validated_data["comment"])
        return _action_response(self, version, gs.ContractVersionSerializer)

    @extend_schema(summary="Export this version as an ODCS v3 document",
                   parameters=[OpenApiParameter("as", str, enum=["yaml", "json"], description="Default yaml.")],
                   responses={(200, "application/yaml"): OpenApiTypes.STR,
                              (200, "application/json"): OpenApiTypes.OBJECT}, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def odcs(self, request, pk=None):
        fmt = request.query_params.get("as", "yaml")
        if fmt not in ("yaml", "json"):
            raise ValidationError({"as": ["Choose yaml or json."]})
        version = self.get_object()
        text, content_type = odcs_io.render(odcs_io.export_document(version, reader=request.user), fmt)
        filename = f"{version.contract.slug}-{version.version}.odcs.{fmt}"
        return HttpResponse(text, content_type=content_type,
                            headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @extend_schema(summary="Verify a version: recompute its hash from the stored rows and check each signature",
                   responses=gs.VerificationSerializer, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def verify(self, request, pk=None):
        report = contract_services.verify(self.get_object())
        return Response(gs.VerificationSerializer(report).data)

    @extend_schema(summary="Terminate an active or proposed version", request=gs.ReasonSerializer,
                   responses=gs.ContractVersionSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def terminate(self, request, pk=None):
        version = self.get_object()
        body = gs.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = contract_services.terminate(version, actor=request.user, reason=body.validated_data["reason"])
        return _action_response(self, version, gs.ContractVersionSerializer)


class ComplianceRunViewSet(AccordReadOnlyModelViewSet):
    """Compliance runs by contract and time range (read-only); a run's detail lists its results."""

    queryset = ComplianceRun.objects.select_related("contract_version__contract", "requested_by")
    serializer_class = gs.ComplianceRunSerializer
    filterset_class = filtersets.ComplianceRunFilterSet
    ordering_fields = ["scheduled_for", "id"]
    ordering = ["-scheduled_for"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            results = CheckResult.objects.visible_to(self.request.user, inside=("run",))
            queryset = queryset.prefetch_related(Prefetch("results", queryset=results))
        return queryset

    def get_serializer_class(self):
        return gs.ComplianceRunDetailSerializer if self.action == "retrieve" else gs.ComplianceRunSerializer


class IncidentViewSet(AccordReadOnlyModelViewSet):
    """Incidents: opened and resolved by the checks; acknowledged and resolved by people."""

    queryset = Incident.objects.select_related("contract", "assignee", "acknowledged_by")
    serializer_class = gs.IncidentSerializer
    filterset_class = filtersets.IncidentFilterSet
    ordering_fields = ["created_at", "ack_due_at", "id"]
    ordering = ["-id"]

    @extend_schema(summary="Acknowledge an open incident", request=None, responses=gs.IncidentSerializer,
                   filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def acknowledge(self, request, pk=None):
        incident = compliance.acknowledge_incident(self.get_object(), actor=request.user)
        return Response(gs.IncidentSerializer(incident, context=self.get_serializer_context()).data)

    @extend_schema(summary="Resolve an incident by hand, with a note", request=gs.NoteSerializer,
                   responses=gs.IncidentSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def resolve(self, request, pk=None):
        body = gs.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = compliance.resolve_incident(self.get_object(), actor=request.user, note=body.validated_data["note"])
        return Response(gs.IncidentSerializer(incident, context=self.get_serializer_context()).data)


class SubscriptionViewSet(GovernanceModelViewSet):
    """Your notification subscriptions (superusers: everyone's; ``NotificationSubscription.private_to``).
    The signing secret is shown once, at creation."""

    queryset = NotificationSubscription.objects.select_related("owner").prefetch_related("departments")
    serializer_class = gs.SubscriptionSerializer
    ordering_fields = ["name", "id"]
    ordering = ["id"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic(), audit.batch():
            subscription = serializer.save(owner=request.user)
        body = gs.SubscriptionCreatedSerializer(subscription, context=self.get_serializer_context()).data
        # The one answer that holds the signing secret: no cache may keep it.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(summary="Deliveries of this subscription, newest first", responses=gs.DeliverySerializer(many=True),
                   filters=False)
    @action(detail=True, methods=["get"], filterset_class=None)
    def deliveries(self, request, pk=None):
        subscription = self.get_object()
        deliveries = Delivery.objects.visible_to(request.user).filter(subscription=subscription)
        page = self.paginate_queryset(deliveries.order_by("-id"))
        return self.get_paginated_response(gs.DeliverySerializer(page, many=True).data)


class DeliveryViewSet(AccordReadOnlyModelViewSet):
    """Deliveries of your subscriptions (superusers: everyone's; ``Delivery.private_to``)."""

    queryset = Delivery.objects.select_related("subscription")
    serializer_class = gs.DeliverySerializer
    filterset_class = filtersets.DeliveryFilterSet
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    @extend_schema(summary="Send a delivery again (same event id)", request=None, responses=gs.DeliverySerializer,
                   filters=False)
    @action(detail=True, methods=["post"], filterset_class=None)
    def redeliver(self, request, pk=None):
        delivery = notifications.redeliver(self.get_object(), actor=request.user)
        return Response(gs.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


# --- audit history: governance values that name catalog objects, as the reader may see them ---------
# (permissions.api.history renders relations by itself; these are the JSON values whose content names
# datasets, fields, states or results. One Redactor per page of history, shared by the renderers.)


def _redactor(user, shared: dict) -> redaction.Redactor:
    if "redactor" not in shared:
        shared["redactor"] = redaction.Redactor(user)
    return shared["redactor"]


def _int(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


def _versions(items, shared: dict) -> dict[int, tuple]:
    """The (terms, contract id) of the contract versions the records are about, read once per page."""
    known = shared.setdefault("versions", {})
    wanted = {_int(record["object_id"]) for record, _ in items} - set(known) - {None}
    if wanted:
        rows = ContractVersion._base_manager.filter(pk__in=wanted).values_list("pk", "terms", "contract_id")
        known.update({pk: (terms, contract_id) for pk, terms, contract_id in rows})
    return known


def _terms_refs(items, versions: dict) -> list[SimpleNamespace]:
    refs = [SimpleNamespace(terms=value, contract_id=_int(record["parent_id"])) for record, value in items]
    refs += [SimpleNamespace(terms=terms, contract_id=contract_id) for terms, contract_id in versions.values()]
    return refs


@renders_audit_values("governance.contractversion", "terms")
def _history_terms(items, user, shared) -> list:
    redactor = _redactor(user, shared)
    redactor.note_terms(_terms_refs(items, {}))
    return [redactor.terms(value, contract_id=_int(record["parent_id"])) if value else value
            for record, value in items]


@renders_audit_values("governance.contractversion", "changes")
def _history_changes(items, user, shared) -> list:
    redactor = _redactor(user, shared)
    versions = _versions(items, shared)
    redactor.note_terms(_terms_refs([], versions))
    shown = []
    for record, value in items:
        terms, contract_id = versions.get(_int(record["object_id"]), ({}, _int(record["parent_id"])))
        shown.append(redactor.changes(value, terms=terms, contract_id=contract_id) if value else value)
    return shown


@renders_audit_values("governance.contractversion", "residual")
def _history_residual(items, user, shared) -> list:
    """An imported document's residual keeps the unmapped keys of every schema object and field:
    those of objects and fields the reader may not see are left out."""
    redactor = _redactor(user, shared)
    versions = _versions(items, shared)
    redactor.note_terms(_terms_refs([], versions))
    shown = []
    for record, value in items:
        terms, contract_id = versions.get(_int(record["object_id"]), ({}, _int(record["parent_id"])))
        objects, labels = redactor.hidden_terms_words(terms, contract_id=contract_id)
        shown.append(_residual_without(value, objects, labels))
    return shown


def _residual_without(residual, objects: set[str], labels: set[str]):
    if not isinstance(residual, dict) or not isinstance(residual.get("schema"), list) or not (objects or labels):
        return residual
    schema = []
    for item in residual["schema"]:
        if not isinstance(item, dict) or item.get("name") in objects:
            continue
        if isinstance(item.get("properties"), list):
            item = {**item, "properties": [prop for prop in item["properties"] if not (
                isinstance(prop, dict) and f"{item.get('name')}.{prop.get('name')}" in labels)]}
        schema.append(item)
    return {**residual, "schema": schema}


@renders_audit_values("governance.statedefinitionversion", "criteria")
def _history_criteria(items, user, shared) -> list:
    redactor = _redactor(user, shared)
    if not redactor.restricted:
        return [value for _, value in items]
    redactor.note_definitions({pk for record, _ in items if (pk := _int(record["parent_id"])) is not None})
    return [redactor.criteria(value, dataset_id=redactor.workflow_dataset(_int(record["parent_id"])))
            if value and _int(record["parent_id"]) is not None else value for record, value in items]


@renders_audit_values("governance.compliancerun", "summary")
def _history_run_summary(items, user, shared) -> list:
    redactor = _redactor(user, shared)
    redactor.note_runs(_int(record["object_id"]) for record, _ in items)
    return [redactor.run_summary(value, run_id=_int(record["object_id"])) if value else value
            for record, value in items]


@renders_audit_values("governance.incident", "summary")
def _history_incident_summary(items, user, shared) -> list:
    redactor = _redactor(user, shared)
    if not redactor.restricted:
        return [value for _, value in items]
    runs = dict(Incident._base_manager.filter(
        pk__in={_int(record["object_id"]) for record, _ in items} - {None}).values_list("pk", "opened_by_run_id"))
    redactor.note_runs(runs.values())
    return [redactor.incident_summary(value, run_id=runs[_int(record["object_id"])])
            if value and _int(record["object_id"]) in runs else value for record, value in items]
