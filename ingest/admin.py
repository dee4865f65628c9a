from django.contrib import admin

from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun
from permissions.admin_base import AccordModelAdmin, ReadOnlyAdmin, RunMessagesAdmin


@admin.register(DbtProject)
class DbtProjectAdmin(AccordModelAdmin):
    list_display = ["name", "system", "qualify_with_database", "owner_meta_key", "department_meta_key"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "system__name"]
    autocomplete_fields = ["system"]
    list_select_related = ["system"]


@admin.register(IngestionRun)
class IngestionRunAdmin(RunMessagesAdmin):
    list_display = ["__str__", "project", "status", "manifest_version", "dbt_version", "started_at", "finished_at"]
    list_filter = ["status", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["project__name"]
    date_hierarchy = "started_at"
    list_select_related = ["project"]


@admin.register(DbtNode)
class DbtNodeAdmin(ReadOnlyAdmin):
    list_display = ["unique_id", "resource_type", "dataset", "materialized", "contract_enforced", "has_compiled_code"]
    list_filter = ["resource_type", "contract_enforced", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["unique_id", "dataset__qualified_name"]
    list_select_related = ["dataset", "project"]
    exclude = ["written"]

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "written"]


@admin.register(DbtTest)
class DbtTestAdmin(ReadOnlyAdmin):
    list_display = ["name", "test_type", "dataset", "column_name", "status", "failures", "executed_at"]
    list_filter = ["status", "test_type", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "dataset__qualified_name", "column_name"]
    list_select_related = ["dataset", "project"]
