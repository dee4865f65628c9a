import django_filters

from catalog.choices import Classification, ConnectionEngine, DatasetKind, DepartmentRole, Lifecycle, SystemKind
from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from permissions.filtersets import AccordFilterSet, RestrictedIdFilter, RestrictedSingleIdFilter


class DepartmentFilterSet(AccordFilterSet):
    parent = RestrictedIdFilter(field_name="parent")
    is_root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull")
    slug = django_filters.CharFilter()

    class Meta:
        model = Department
        fields = ["name"]


class DepartmentMembershipFilterSet(AccordFilterSet):
    department = RestrictedIdFilter(field_name="department")
    user = RestrictedIdFilter(field_name="user")
    username = django_filters.CharFilter(field_name="user__username")
    role = django_filters.MultipleChoiceFilter(choices=DepartmentRole.choices)
    q_fields = ("user__username", "department__name")

    class Meta:
        model = DepartmentMembership
        fields: list[str] = []


class TagFilterSet(AccordFilterSet):
    slug = django_filters.CharFilter()

    class Meta:
        model = Tag
        fields = ["name"]


class SystemFilterSet(AccordFilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=SystemKind.choices)
    owner_department = RestrictedIdFilter(field_name="owner_department")
    connection_engine = django_filters.MultipleChoiceFilter(choices=ConnectionEngine.choices)
    slug = django_filters.CharFilter()
    q_fields = ("name", "vendor", "description")

    class Meta:
        model = System
        fields = ["name", "vendor"]


class DatasetFilterSet(AccordFilterSet):
    system = RestrictedIdFilter(field_name="system")
    system_slug = django_filters.CharFilter(field_name="system__slug")
    owner_department = RestrictedIdFilter(field_name="owner_department")
    steward = RestrictedIdFilter(field_name="steward")
    kind = django_filters.MultipleChoiceFilter(choices=DatasetKind.choices)
    lifecycle = django_filters.MultipleChoiceFilter(choices=Lifecycle.choices)
    classification = django_filters.MultipleChoiceFilter(choices=Classification.choices)
    tag = django_filters.CharFilter(field_name="tags__slug", distinct=True, label="Tag slug")
    qualified_name = django_filters.CharFilter()
    published_after = django_filters.IsoDateTimeFilter(field_name="published_at", lookup_expr="gte")
    published_before = django_filters.IsoDateTimeFilter(field_name="published_at", lookup_expr="lt")
    q_fields = ("name", "qualified_name", "description")

    class Meta:
        model = Dataset
        fields: list[str] = []


class FieldFilterSet(AccordFilterSet):
    dataset = RestrictedIdFilter(field_name="dataset")
    system = RestrictedIdFilter(field_name="dataset__system")
    owner = RestrictedIdFilter(field_name="owner")
    owner_department = RestrictedIdFilter(field_name="owner_department")
    classification = django_filters.MultipleChoiceFilter(choices=Classification.choices)
    is_key = django_filters.BooleanFilter()
    nullable = django_filters.BooleanFilter()
    has_owner = django_filters.BooleanFilter(field_name="owner", lookup_expr="isnull", exclude=True)
    tag = django_filters.CharFilter(field_name="tags__slug", distinct=True, label="Tag slug")
    name = django_filters.CharFilter()
    data_type = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Field
        fields: list[str] = []


class LineageEdgeFilterSet(AccordFilterSet):
    source = RestrictedIdFilter(field_name="source")
    target = RestrictedIdFilter(field_name="target")
    dataset = RestrictedSingleIdFilter(method="filter_dataset", model=Dataset, label="Edges touching this dataset")
    field_level = django_filters.BooleanFilter(field_name="source_field", lookup_expr="isnull", exclude=True)
    q_fields = ("transformation",)

    class Meta:
        model = LineageEdge
        fields: list[str] = []

    def filter_dataset(self, queryset, name, value):
        return queryset.filter(source_id=value) | queryset.filter(target_id=value)
