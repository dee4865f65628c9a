from django.contrib import admin
from django.db.models import Count

from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from permissions.admin_base import AccordInline, AccordModelAdmin


class MembershipInline(AccordInline):
    model = DepartmentMembership
    autocomplete_fields = ["user"]
    fields = ["user", "role"]


@admin.register(Department)
class DepartmentAdmin(AccordModelAdmin):
    list_display = ["name", "slug", "parent", "member_count"]
    list_filter = [("parent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("memberships", distinct=True))

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


@admin.register(DepartmentMembership)
class DepartmentMembershipAdmin(AccordModelAdmin):
    list_display = ["user", "department", "role"]
    list_filter = ["role", ("department", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name", "department__name"]
    autocomplete_fields = ["user", "department"]
    list_select_related = ["user", "department"]


@admin.register(Tag)
class TagAdmin(AccordModelAdmin):
    list_display = ["name", "slug", "color"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(System)
class SystemAdmin(AccordModelAdmin):
    list_display = ["name", "kind", "vendor", "owner_department", "connection_engine"]
    list_filter = ["kind", "connection_engine", ("owner_department", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "vendor", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner_department"]
    list_select_related = ["owner_department"]


class FieldInline(AccordInline):
    model = Field
    fields = ["position", "name", "data_type", "nullable", "is_key", "classification", "owner", "owner_department"]
    autocomplete_fields = ["owner", "owner_department"]
    ordering = ["position", "name"]


@admin.register(Dataset)
class DatasetAdmin(AccordModelAdmin):
    list_display = [
        "qualified_name",
        "name",
        "system",
        "kind",
        "lifecycle",
        "classification",
        "owner_department",
        "steward",
    ]
    list_filter = [
        "lifecycle",
        "classification",
        "kind",
        ("system", admin.RelatedOnlyFieldListFilter),
        ("owner_department", admin.RelatedOnlyFieldListFilter),
        ("tags", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["qualified_name", "name", "description", "system__name"]
    autocomplete_fields = ["system", "owner_department", "steward", "tags"]
    list_select_related = ["system", "owner_department", "steward"]
    inlines = [FieldInline]
    fieldsets = [
        (None, {"fields": ["system", "qualified_name", "name", "kind", "description"]}),
        ("Ownership", {"fields": ["owner_department", "steward", "tags"]}),
        ("Lifecycle and classification", {"fields": ["lifecycle", "classification"]}),
        ("Organisation and size", {"fields": ["key_fields", "sort_order", "row_count", "size_bytes"]}),
        (
            "Timeline",
            {
                "fields": [
                    "source_created_at",
                    "published_at",
                    "source_modified_at",
                    "archived_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]


@admin.register(Field)
class FieldAdmin(AccordModelAdmin):
    list_display = ["name", "dataset", "data_type", "nullable", "is_key", "classification", "owner", "owner_department"]
    list_filter = [
        "classification",
        "is_key",
        "nullable",
        ("owner_department", admin.RelatedOnlyFieldListFilter),
        ("dataset__system", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "description", "dataset__qualified_name"]
    autocomplete_fields = ["dataset", "owner", "owner_department", "tags"]
    list_select_related = ["dataset", "dataset__system", "owner", "owner_department"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(dataset__in=Dataset.objects.visible_to(request.user))


@admin.register(LineageEdge)
class LineageEdgeAdmin(AccordModelAdmin):
    list_display = ["source", "target", "source_field", "target_field"]
    list_filter = [
        ("source__system", admin.RelatedOnlyFieldListFilter),
        ("target__system", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["source__qualified_name", "target__qualified_name", "transformation"]
    autocomplete_fields = ["source", "target", "source_field", "target_field"]
    list_select_related = ["source__system", "target__system", "source_field__dataset", "target_field__dataset"]
