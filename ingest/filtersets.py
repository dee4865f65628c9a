import django_filters

from ingest.models import (
    DbtNode,
    DbtProject,
    DbtResourceType,
    DbtTest,
    DbtTestStatus,
    DbtTestType,
    IngestionRun,
    IngestionStatus,
    LineageNamespace,
    UnknownNamespace,
)
from permissions.filtersets import AccordFilterSet, RestrictedFilterSet, RestrictedIdFilter


class DbtProjectFilterSet(AccordFilterSet):
    system = RestrictedIdFilter(field_name="system")
    name = django_filters.CharFilter()
    q_fields = ("name", "system__name")

    class Meta:
        model = DbtProject
        fields: list[str] = []


class IngestionRunFilterSet(RestrictedFilterSet):
    project = RestrictedIdFilter(field_name="project")
    status = django_filters.MultipleChoiceFilter(choices=IngestionStatus.choices)
    since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = IngestionRun
        fields: list[str] = []


class DbtNodeFilterSet(AccordFilterSet):
    project = RestrictedIdFilter(field_name="project")
    dataset = RestrictedIdFilter(field_name="dataset")
    resource_type = django_filters.MultipleChoiceFilter(choices=DbtResourceType.choices)
    contract_enforced = django_filters.BooleanFilter()
    q_fields = ("unique_id",)

    class Meta:
        model = DbtNode
        fields: list[str] = []


class DbtTestFilterSet(AccordFilterSet):
    project = RestrictedIdFilter(field_name="project")
    dataset = RestrictedIdFilter(field_name="dataset")
    field = RestrictedIdFilter(field_name="field")
    test_type = django_filters.MultipleChoiceFilter(choices=DbtTestType.choices)
    status = django_filters.MultipleChoiceFilter(choices=DbtTestStatus.choices)
    q_fields = ("name", "column_name")

    class Meta:
        model = DbtTest
        fields: list[str] = []


class LineageNamespaceFilterSet(AccordFilterSet):
    system = RestrictedIdFilter(field_name="system")
    namespace = django_filters.CharFilter()
    q_fields = ("namespace", "system__name")

    class Meta:
        model = LineageNamespace
        fields: list[str] = []


class UnknownNamespaceFilterSet(AccordFilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    # No created_at/updated_at on these rows: first seen and last seen stand for them.
    created_after = django_filters.IsoDateTimeFilter(field_name="first_seen_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="first_seen_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    updated_before = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")
    q_fields = ("namespace",)

    class Meta:
        model = UnknownNamespace
        fields: list[str] = []
