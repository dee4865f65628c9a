import django_filters

from catalog.models import Department
from governance.choices import ContractStatus, DesignationStatus, StateScope, VersionStatus
from governance.models import (
    BusinessEntity,
    ComplianceRun,
    ContractVersion,
    DataContract,
    Delivery,
    EntityAttribute,
    Incident,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from governance.models.compliance import IncidentStatus
from permissions.filtersets import AccordFilterSet, RestrictedFilterSet, RestrictedIdFilter, RestrictedSingleIdFilter


class BusinessEntityFilterSet(AccordFilterSet):
    bounded_context = django_filters.CharFilter()
    owner_department = RestrictedIdFilter(field_name="owner_department")
    dataset = RestrictedIdFilter(field_name="datasets", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = BusinessEntity
        fields = ["name"]


class EntityAttributeFilterSet(AccordFilterSet):
    entity = RestrictedIdFilter(field_name="entity")
    is_identifier = django_filters.BooleanFilter()

    class Meta:
        model = EntityAttribute
        fields = ["name"]


class SystemOfRecordFilterSet(AccordFilterSet):
    entity = RestrictedIdFilter(field_name="entity")
    entity_slug = django_filters.CharFilter(field_name="entity__slug")
    attribute = RestrictedIdFilter(field_name="attribute")
    system = RestrictedIdFilter(field_name="system")
    system_slug = django_filters.CharFilter(field_name="system__slug")
    status = django_filters.MultipleChoiceFilter(choices=DesignationStatus.choices)
    q_fields = ("rationale",)

    class Meta:
        model = SystemOfRecord
        fields: list[str] = []


class StateWorkflowFilterSet(AccordFilterSet):
    owner_department = RestrictedIdFilter(field_name="owner_department")
    dataset = RestrictedIdFilter(field_name="dataset")
    slug = django_filters.CharFilter()

    class Meta:
        model = StateWorkflow
        fields = ["name"]


class StateDefinitionFilterSet(AccordFilterSet):
    workflow = RestrictedIdFilter(field_name="workflow")
    owner_department = RestrictedIdFilter(field_name="owner_department")
    scope = django_filters.MultipleChoiceFilter(choices=StateScope.choices)
    stakeholder = RestrictedIdFilter(field_name="stakeholders", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = StateDefinition
        fields = ["name"]


class StateTransitionFilterSet(AccordFilterSet):
    workflow = RestrictedIdFilter(field_name="workflow")
    q_fields = ("description",)

    class Meta:
        model = StateTransition
        fields: list[str] = []


class StateDefinitionVersionFilterSet(AccordFilterSet):
    definition = RestrictedIdFilter(field_name="definition")
    workflow = RestrictedIdFilter(field_name="definition__workflow")
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    awaiting = RestrictedSingleIdFilter(method="filter_awaiting", model=Department,
                                        label="Proposed, awaiting this department")
    q_fields = ("definition_text",)

    class Meta:
        model = StateDefinitionVersion
        fields: list[str] = []

    def filter_awaiting(self, queryset, name, value):
        from django.db.models import Q

        proposed = queryset.filter(status=VersionStatus.PROPOSED).exclude(approvals__department=value)
        return proposed.filter(
            Q(definition__scope=StateScope.DOMAIN, definition__owner_department=value)
            | Q(definition__scope=StateScope.ENTERPRISE, definition__stakeholders=value)
        ).distinct()


class DataContractFilterSet(AccordFilterSet):
    producer = RestrictedIdFilter(field_name="producer")
    consumer = RestrictedIdFilter(field_name="consumers", distinct=True)
    dataset = RestrictedIdFilter(field_name="datasets", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = DataContract
        fields = ["name"]


class ContractVersionFilterSet(AccordFilterSet):
    contract = RestrictedIdFilter(field_name="contract")
    status = django_filters.MultipleChoiceFilter(choices=ContractStatus.choices)
    change_class = django_filters.CharFilter()
    q_fields = ("version",)

    class Meta:
        model = ContractVersion
        fields: list[str] = []


class ComplianceRunFilterSet(RestrictedFilterSet):
    contract = RestrictedIdFilter(field_name="contract_version__contract")
    contract_slug = django_filters.CharFilter(field_name="contract_version__contract__slug")
    contract_version = RestrictedIdFilter(field_name="contract_version")
    outcome = django_filters.CharFilter()
    trigger = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = ComplianceRun
        fields: list[str] = []


class IncidentFilterSet(RestrictedFilterSet):
    contract = RestrictedIdFilter(field_name="contract")
    status = django_filters.MultipleChoiceFilter(choices=IncidentStatus.choices)
    assignee = RestrictedIdFilter(field_name="assignee")

    class Meta:
        model = Incident
        fields: list[str] = []


class DeliveryFilterSet(RestrictedFilterSet):
    """``subscription`` takes ids of the reader's own subscriptions: another person's is
    refused like one that does not exist."""

    subscription = RestrictedIdFilter(field_name="subscription")

    class Meta:
        model = Delivery
        fields = ["status", "event_type", "event_id"]
