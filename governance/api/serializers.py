from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from catalog.api.serializers import dataset_ref, department_ref, field_ref, system_ref
from catalog.models import Dataset
from governance import redaction
from governance.choices import ContractStatus, DesignationStatus, VersionStatus
from governance.models import (
    BusinessEntity,
    CheckResult,
    ComplianceRun,
    ContractSignature,
    ContractVersion,
    DataContract,
    Delivery,
    EntityAttribute,
    EventType,
    Incident,
    NotificationSubscription,
    StateApproval,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from permissions.api.serializers import AccordModelSerializer, BriefRelatedField, BriefUserField


def _ref(model, fields=("id", "name"), **kwargs) -> BriefRelatedField:
    return BriefRelatedField(queryset=model.objects.all(), brief_fields=fields, **kwargs)


class BusinessEntitySerializer(AccordModelSerializer):
    owner_department = department_ref(required=False, allow_null=True)
    datasets = dataset_ref(many=True, required=False)

    class Meta:
        model = BusinessEntity
        fields = ["id", "name", "slug", "bounded_context", "description", "owner_department", "datasets",
                  "created_at", "updated_at"]


class EntityAttributeSerializer(AccordModelSerializer):
    entity = _ref(BusinessEntity, ("id", "name", "slug"), natural_key="slug")

    class Meta:
        model = EntityAttribute
        fields = ["id", "entity", "name", "description", "is_identifier", "created_at", "updated_at"]


class SystemOfRecordSerializer(AccordModelSerializer):
    entity = _ref(BusinessEntity, ("id", "name", "slug"), natural_key="slug")
    attribute = _ref(EntityAttribute, ("id", "name"), required=False, allow_null=True)
    system = system_ref()
    dataset = dataset_ref(required=False, allow_null=True)
    field = field_ref(required=False, allow_null=True)
    proposed_by = BriefUserField(read_only=True)
    decided_by = BriefUserField(read_only=True)

    class Meta:
        model = SystemOfRecord
        fields = ["id", "entity", "attribute", "system", "dataset", "field", "status", "rationale", "proposed_by",
                  "decided_by", "decided_at", "superseded_by", "superseded_at", "created_at", "updated_at"]
        read_only_fields = ["status", "decided_at", "superseded_by", "superseded_at"]

    def validate(self, attrs):
        if self.instance is not None and self.instance.status != DesignationStatus.PROPOSED:
            raise serializers.ValidationError(
                "Only a proposed designation can be edited; propose a new one to change an active designation.")
        return super().validate(attrs)


class StateWorkflowSerializer(AccordModelSerializer):
    owner_department = department_ref()
    dataset = dataset_ref()
    state_field = field_ref(required=False, allow_null=True)

    class Meta:
        model = StateWorkflow
        fields = ["id", "name", "slug", "description", "owner_department", "dataset", "state_field", "created_at",
                  "updated_at"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        dataset = attrs.get("dataset", getattr(self.instance, "dataset", None))
        state_field = attrs.get("state_field", getattr(self.instance, "state_field", None))
        if state_field is not None and dataset is not None and state_field.dataset_id != dataset.pk:
            raise serializers.ValidationError({"state_field": "The state field must belong to the dataset."})
        return attrs


class StateDefinitionSerializer(AccordModelSerializer):
    workflow = _ref(StateWorkflow, ("id", "name", "slug"), natural_key="slug")
    owner_department = department_ref()
    stakeholders = department_ref(many=True, required=False)
    approved_version = serializers.SerializerMethodField()

    class Meta:
        model = StateDefinition
        fields = ["id", "workflow", "name", "slug", "state_value", "position", "owner_department", "scope",
                  "stakeholders", "approved_version", "created_at", "updated_at"]

    def get_approved_version(self, obj) -> int | None:
        approved = [v for v in obj.versions.all() if v.status == VersionStatus.APPROVED]
        return approved[0].number if approved else None


class StateTransitionSerializer(AccordModelSerializer):
    workflow = _ref(StateWorkflow, ("id", "name", "slug"), natural_key="slug")
    from_state = _ref(StateDefinition, ("id", "name", "slug"))
    to_state = _ref(StateDefinition, ("id", "name", "slug"))

    class Meta:
        model = StateTransition
        fields = ["id", "workflow", "from_state", "to_state", "description", "created_at", "updated_at"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        workflow = attrs.get("workflow", getattr(self.instance, "workflow", None))
        for key in ("from_state", "to_state"):
            state = attrs.get(key, getattr(self.instance, key, None))
            if state is not None and workflow is not None and state.workflow_id != workflow.pk:
                raise serializers.ValidationError({key: "The state must belong to the workflow."})
        return attrs


class StateApprovalSerializer(serializers.ModelSerializer):
    department = department_ref(read_only=True)
    approved_by = BriefUserField(read_only=True)

    class Meta:
        model = StateApproval
        fields = ["id", "department", "approved_by", "content_hash", "comment", "created_at"]


class StateDefinitionVersionSerializer(AccordModelSerializer):
    """Versions are created and edited as drafts only; workflow actions move them on."""

    definition = _ref(StateDefinition, ("id", "name", "slug"))
    approvals = StateApprovalSerializer(many=True, read_only=True)
    proposed_by = BriefUserField(read_only=True)
    pending_departments = serializers.SerializerMethodField()
    criteria_text = serializers.SerializerMethodField()

    class Meta:
        model = StateDefinitionVersion
        fields = ["id", "definition", "number", "status", "definition_text", "criteria", "criteria_text",
                  "content_hash", "proposed_by", "proposed_at", "approved_at", "superseded_at", "approvals",
                  "pending_departments", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "content_hash", "proposed_at", "approved_at", "superseded_at"]

    def get_pending_departments(self, obj) -> list[str]:
        if obj.status != VersionStatus.PROPOSED:
            return []
        approved = {a.department_id for a in obj.approvals.all()}
        return [d.slug for d in obj.definition.approving_departments() if d.pk not in approved]

    def note_references(self, instances: list) -> None:
        super().note_references(instances)
        redactor = redaction.for_context(self.context)
        redactor.note_definitions(version.definition_id for version in instances)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        redactor = redaction.for_context(self.context)
        if redactor.restricted and "criteria" in data:
            data["criteria"] = redactor.criteria(instance.criteria, dataset_id=self._dataset_of(instance))
        return data

    def _dataset_of(self, version) -> int | None:
        return redaction.for_context(self.context).workflow_dataset(version.definition_id)

    def get_criteria_text(self, obj) -> str:
        if not obj.criteria:
            return ""
        return redaction.for_context(self.context).criteria_text(obj.criteria, dataset_id=self._dataset_of(obj))

    def validate(self, attrs):
        # Drafts are validated by the service (criteria against the dataset's fields).
        if self.instance is not None and "criteria" in attrs:
            redactor = redaction.for_context(self.context)
            stored = self.instance.criteria
            if redactor.criteria(stored, dataset_id=self._dataset_of(self.instance)) != stored:
                raise PermissionDenied("These criteria have conditions on fields you cannot see; ask the "
                                       "DataOps council to change them.")
        return attrs


class DepartmentActionSerializer(serializers.Serializer):
    department = department_ref()
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ContractSignatureSerializer(serializers.ModelSerializer):
    department = department_ref(read_only=True)
    signed_by = BriefUserField(read_only=True)

    class Meta:
        model = ContractSignature
        fields = ["id", "department", "signed_by", "content_hash", "comment", "created_at"]


class DataContractSerializer(AccordModelSerializer):
    producer = department_ref()
    consumers = department_ref(many=True)
    datasets = dataset_ref(many=True, required=False)
    active_version = serializers.SerializerMethodField()

    class Meta:
        model = DataContract
        fields = ["id", "name", "slug", "description", "producer", "consumers", "datasets", "active_version",
                  "created_at", "updated_at"]

    def get_active_version(self, obj) -> str | None:
        active = [v for v in obj.versions.all() if v.status == ContractStatus.ACTIVE]
        return active[0].version if active else None

    def validate(self, attrs):
        attrs = super().validate(attrs)
        producer = attrs.get("producer", getattr(self.instance, "producer", None))
        if producer is not None and producer in attrs.get("consumers", []):
            raise serializers.ValidationError({"consumers": "The producer cannot also be a consumer."})
        if "consumers" in attrs and not attrs["consumers"]:
            raise serializers.ValidationError({"consumers": "A contract needs at least one consumer department."})
        return attrs


class ContractVersionSerializer(AccordModelSerializer):
    contract = _ref(DataContract, ("id", "name", "slug"), natural_key="slug")
    signatures = ContractSignatureSerializer(many=True, read_only=True)
    state_definitions = _ref(StateDefinition, ("id", "name", "slug"), many=True, required=False)
    producer = department_ref(required=False, help_text="The producing party; by default the contract's.")
    consumers = department_ref(many=True, required=False, help_text="The consuming parties; by default the "
                                                                    "contract's.")
    datasets = dataset_ref(many=True, required=False, help_text="The covered datasets; by default the contract's.")
    state_definition_versions = BriefRelatedField(
        brief_fields=("id", "definition_id", "number", "content_hash"), many=True, read_only=True,
        help_text="The approved state-definition versions pinned when proposed.")
    missing_signatures = serializers.SerializerMethodField()
    created_by = BriefUserField(read_only=True)

    class Meta:
        model = ContractVersion
        fields = ["id", "contract", "version", "status", "terms", "change_class", "changes", "content_hash",
                  "producer", "consumers", "datasets", "state_definitions", "state_definition_versions",
                  "proposed_at", "effective_from", "activated_at", "ended_at", "signatures",
                  "missing_signatures", "created_by", "created_at", "updated_at"]
        read_only_fields = ["status", "change_class", "changes", "content_hash", "proposed_at", "effective_from",
                            "activated_at", "ended_at"]

    def get_missing_signatures(self, obj) -> list[str]:
        if obj.status != ContractStatus.PROPOSED:
            return []
        signed = {s.department_id for s in obj.signatures.all()}
        return [p.slug for p in obj.parties() if p.pk not in signed]

    def note_references(self, instances: list) -> None:
        super().note_references(instances)
        redaction.for_context(self.context).note_terms(instances)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        redactor = redaction.for_context(self.context)
        if redactor.restricted:
            data["terms"] = redactor.terms(instance.terms, contract_id=instance.contract_id)
            data["changes"] = redactor.changes(instance.changes, terms=instance.terms,
                                               contract_id=instance.contract_id)
        return data

    def validate(self, attrs):
        # The service validates terms, semver and classification.
        if self.instance is not None and "terms" in attrs:
            stored = self.instance.terms
            if redaction.for_context(self.context).terms(stored, contract_id=self.instance.contract_id) != stored:
                raise PermissionDenied("These terms describe datasets or fields you cannot see; ask the DataOps "
                                       "council to change them.")
        return attrs


class SignatureCheckSerializer(serializers.Serializer):
    department = serializers.CharField(help_text="The signing party's slug.")
    signed_by = serializers.CharField(help_text="Who signed (username).")
    signed_at = serializers.DateTimeField()
    content_hash = serializers.CharField(help_text="The hash the signature was given over.")
    matches = serializers.BooleanField(help_text="Whether it equals the hash recomputed now.")


class VerificationSerializer(serializers.Serializer):
    """A contract version's hash recomputed from its stored rows, compared with what each signature covers."""

    version = serializers.IntegerField()
    status = serializers.CharField()
    hash_scheme = serializers.IntegerField()
    stored_hash = serializers.CharField(help_text="The content hash stored when the version was proposed.")
    recomputed_hash = serializers.CharField(help_text="The hash recomputed now from the stored rows.")
    content_matches = serializers.BooleanField()
    pinned_definitions_match = serializers.BooleanField(
        help_text="Whether every pinned state-definition version still has the content it was approved with.")
    missing_signatures = serializers.ListField(child=serializers.CharField())
    signatures = SignatureCheckSerializer(many=True)
    ok = serializers.BooleanField(help_text="Content and every signature match, and no party's signature is "
                                            "missing (an active version).")


class OdcsImportSerializer(serializers.Serializer):
    document = serializers.JSONField(help_text="The ODCS document: YAML/JSON text, or the JSON object itself.")
    contract = _ref(DataContract, ("id", "name", "slug"), natural_key="slug", required=False, allow_null=True,
                    help_text="Import as a new version of this contract; omit to create a contract.")
    producer = department_ref(required=False, allow_null=True)
    consumers = department_ref(many=True, required=False)
    system = system_ref(required=False, allow_null=True,
                        help_text="The System the document's tables are in; omit to find it from the document's "
                                  "servers (engine, host, port, database).")

    def validate_document(self, value):
        if not isinstance(value, (str, dict)) or not value:
            raise serializers.ValidationError("Send the document as YAML/JSON text or as a JSON object.")
        return value


class CheckResultSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = CheckResult
        fields = ["key", "kind", "rule", "dataset", "field", "status", "observed", "threshold", "violations",
                  "duration_ms", "message"]


class ComplianceRunSerializer(AccordModelSerializer):
    contract = serializers.SerializerMethodField()
    version = serializers.CharField(source="contract_version.version", read_only=True)
    requested_by = BriefUserField(read_only=True)

    class Meta:
        model = ComplianceRun
        fields = ["id", "contract", "contract_version", "version", "scheduled_for", "trigger", "status", "outcome",
                  "requested_by", "started_at", "finished_at", "attempts", "last_error", "summary", "created_at",
                  "updated_at"]
        read_only_fields = fields

    def get_contract(self, obj) -> dict:
        contract = obj.contract_version.contract
        return {"id": contract.pk, "slug": contract.slug, "name": contract.name}

    def note_references(self, instances: list) -> None:
        super().note_references(instances)
        redaction.for_context(self.context).note_runs(run.pk for run in instances)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["summary"] = redaction.for_context(self.context).run_summary(instance.summary, run_id=instance.pk)
        return data


class ComplianceRunDetailSerializer(ComplianceRunSerializer):
    results = serializers.SerializerMethodField()

    class Meta(ComplianceRunSerializer.Meta):
        fields = [*ComplianceRunSerializer.Meta.fields, "results"]
        read_only_fields = fields

    def get_results(self, obj) -> list[dict]:
        # The viewset prefetches the results the reader may see (CheckResult.objects.visible_to).
        results = list(obj.results.all())
        redactor = redaction.for_context(self.context)
        redactor.note_datasets(result.dataset_id for result in results)
        rendered = CheckResultSerializer(results, many=True, context=self.context).data
        for result, data in zip(results, rendered, strict=True):
            data["message"] = redactor.message(result.message, dataset_id=result.dataset_id,
                                               contract_id=obj.contract_version.contract_id,
                                               version_id=obj.contract_version_id)
        return rendered


class IncidentSerializer(AccordModelSerializer):
    contract = serializers.SerializerMethodField()
    assignee = BriefUserField(read_only=True)
    acknowledged_by = BriefUserField(read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "contract", "title", "summary", "status", "assignee", "ack_due_at", "acknowledged_at",
                  "acknowledged_by", "escalation_level", "last_escalated_at", "opened_by_run", "resolved_by_run",
                  "resolved_at", "resolution_note", "created_at", "updated_at"]
        read_only_fields = fields

    def get_contract(self, obj) -> dict:
        return {"id": obj.contract_id, "slug": obj.contract.slug, "name": obj.contract.name}

    def note_references(self, instances: list) -> None:
        super().note_references(instances)
        redactor = redaction.for_context(self.context)
        redactor.note_runs(incident.opened_by_run_id for incident in instances)
        drifted = [incident.summary["dataset"] for incident in instances  # a harvest's breaking drift
                   if isinstance(incident.summary, dict) and isinstance(incident.summary.get("dataset"), int)]
        redactor.note(Dataset, drifted)
        redactor.note_datasets(drifted)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["summary"] = redaction.for_context(self.context).incident_summary(
            instance.summary, run_id=instance.opened_by_run_id)
        return data


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField()


class SubscriptionSerializer(AccordModelSerializer):
    owner = BriefUserField(read_only=True)
    departments = department_ref(many=True, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False)

    class Meta:
        model = NotificationSubscription
        fields = ["id", "name", "owner", "kind", "url", "event_types", "departments", "is_active", "created_at",
                  "updated_at"]

    def validate_url(self, value):
        if not value.startswith(("https://", "http://")):
            raise serializers.ValidationError("Give an http(s) URL.")
        return value

    def validate(self, attrs):
        if self.instance is None:
            attrs["owner"] = self.context["request"].user  # a subscription is always its creator's
        return super().validate(attrs)


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret; shown only now.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "subscription", "event_id", "event_type", "status", "attempts", "created_at",
                  "next_attempt_at", "last_attempt_at", "last_status_code", "last_error", "delivered_at", "payload"]
        read_only_fields = fields
