import django_filters

from catalog.models import Dataset
from harvest.models import (
    ChangeKind,
    Compatibility,
    FieldRelationship,
    HarvestRun,
    HarvestSettings,
    HarvestStatus,
    HarvestTrigger,
    SchemaChange,
)
from permissions.filtersets import AccordFilterSet, RestrictedFilterSet, RestrictedIdFilter, RestrictedSingleIdFilter


class HarvestSettingsFilterSet(AccordFilterSet):
    system = RestrictedIdFilter(field_name="system")
    q_fields = ("system__name",)

    class Meta:
        model = HarvestSettings
        fields: list[str] = []


class HarvestRunFilterSet(RestrictedFilterSet):
    system = RestrictedIdFilter(field_name="system")
    status = django_filters.MultipleChoiceFilter(choices=HarvestStatus.choices)
    trigger = django_filters.MultipleChoiceFilter(choices=HarvestTrigger.choices)
    since = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = HarvestRun
        fields: list[str] = []


class SchemaChangeFilterSet(RestrictedFilterSet):
    run = RestrictedIdFilter(field_name="run")
    dataset = RestrictedIdFilter(field_name="dataset")
    system = RestrictedIdFilter(field_name="dataset__system")
    kind = django_filters.MultipleChoiceFilter(choices=ChangeKind.choices)
    compatibility = django_filters.MultipleChoiceFilter(choices=Compatibility.choices)

    class Meta:
        model = SchemaChange
        fields: list[str] = []


class FieldRelationshipFilterSet(RestrictedFilterSet):
    system = RestrictedIdFilter(field_name="system")
    from_field = RestrictedIdFilter(field_name="from_field")
    to_field = RestrictedIdFilter(field_name="to_field")
    dataset = RestrictedSingleIdFilter(method="filter_dataset", model=Dataset,
                                       label="Relationships from or to this dataset's fields")
    constraint_name = django_filters.CharFilter()

    class Meta:
        model = FieldRelationship
        fields: list[str] = []

    def filter_dataset(self, queryset, name, value):
        return queryset.filter(from_field__dataset=value) | queryset.filter(to_field__dataset=value)
