import django_filters

from governance.choices import ContractStatus, DesignationStatus, StateScope, VersionStatus
from governance.models import (
    BusinessEntity,
    ContractVersion,
    DataContract,
    EntityAttribute,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from permissions.filtersets import AccordFilterSet, IdListFilter


class BusinessEntityFilterSet(AccordFilterSet):
    bounded_context = django_filters.CharFilter()
    owner_department = IdListFilter(field_name="owner_department_id")
    dataset = IdListFilter(field_name="datasets", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = BusinessEntity
        fields = ["name"]


class EntityAttributeFilterSet(AccordFilterSet):
    entity = IdListFilter(field_name="entity_id")
    is_identifier = django_filters.BooleanFilter()

    class Meta:
        model = EntityAttribute
        fields = ["name"]


class SystemOfRecordFilterSet(AccordFilterSet):
    entity = IdListFilter(field_name="entity_id")
    entity_slug = django_filters.CharFilter(field_name="entity__slug")
    attribute = IdListFilter(field_name="attribute_id")
    system = IdListFilter(field_name="system_id")
    system_slug = django_filters.CharFilter(field_name="system__slug")
    status = django_filters.MultipleChoiceFilter(choices=DesignationStatus.choices)
    q_fields = ("rationale",)

    class Meta:
        model = SystemOfRecord
        fields: list[str] = []


class StateWorkflowFilterSet(AccordFilterSet):
    owner_department = IdListFilter(field_name="owner_department_id")
    dataset = IdListFilter(field_name="dataset_id")
    slug = django_filters.CharFilter()

    class Meta:
        model = StateWorkflow
        fields = ["name"]


class StateDefinitionFilterSet(AccordFilterSet):
    workflow = IdListFilter(field_name="workflow_id")
    owner_department = IdListFilter(field_name="owner_department_id")
    scope = django_filters.MultipleChoiceFilter(choices=StateScope.choices)
    stakeholder = IdListFilter(field_name="stakeholders", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = StateDefinition
        fields = ["name"]


class StateTransitionFilterSet(AccordFilterSet):
    workflow = IdListFilter(field_name="workflow_id")
    q_fields = ("description",)

    class Meta:
        model = StateTransition
        fields: list[str] = []


class StateDefinitionVersionFilterSet(AccordFilterSet):
    definition = IdListFilter(field_name="definition_id")
    workflow = IdListFilter(field_name="definition__workflow_id")
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    awaiting = django_filters.NumberFilter(method="filter_awaiting", label="Proposed, awaiting this department")
    q_fields = ("definition_text",)

    class Meta:
        model = StateDefinitionVersion
        fields: list[str] = []

    def filter_awaiting(self, queryset, name, value):
        from django.db.models import Q

        proposed = queryset.filter(status=VersionStatus.PROPOSED).exclude(approvals__department_id=value)
        return proposed.filter(
            Q(definition__scope=StateScope.DOMAIN, definition__owner_department_id=value)
            | Q(definition__scope=StateScope.ENTERPRISE, definition__stakeholders=value)
        ).distinct()


class DataContractFilterSet(AccordFilterSet):
    producer = IdListFilter(field_name="producer_id")
    consumer = IdListFilter(field_name="consumers", distinct=True)
    dataset = IdListFilter(field_name="datasets", distinct=True)
    slug = django_filters.CharFilter()

    class Meta:
        model = DataContract
        fields = ["name"]


class ContractVersionFilterSet(AccordFilterSet):
    contract = IdListFilter(field_name="contract_id")
    status = django_filters.MultipleChoiceFilter(choices=ContractStatus.choices)
    change_class = django_filters.CharFilter()
    q_fields = ("version",)

    class Meta:
        model = ContractVersion
        fields: list[str] = []
