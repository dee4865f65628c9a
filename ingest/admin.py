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

    def get_form(self, request, obj=None, **kwargs):
        """The form refuses schema_systems naming a System the user may not change, as the API does."""
        from django import forms

        from ingest.dbt import schema_system_problems

        base = super().get_form(request, obj, **kwargs)

        class Checked(base):
            def clean_schema_systems(self):
                value = self.cleaned_data.get("schema_systems")
                problems = schema_system_problems(request.user, value)
                if problems:
                    raise forms.ValidationError(problems)
                return value

        return Checked


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
    actions = ["draft_contracts"]

    @admin.action(description="Draft contract versions from the selected models' enforced dbt contracts")
    def draft_contracts(self, request, queryset):
        from django.contrib import messages
        from django.urls import reverse
        from django.utils.html import format_html

        from governance.models import DataContract
        from ingest import contracts
        from permissions.edit import can_create

        for node in queryset.select_related("dataset__owner_department", "project"):
            producer = node.dataset.owner_department
            if producer is not None and not can_create(request.user, DataContract, {"producer": producer}):
                self.message_user(request, f"You may not draft contracts of {producer.name} ({node.unique_id}).",
                                  messages.ERROR)
                continue
            try:
                version, left_out = contracts.draft_from_model(node, actor=request.user)
            except contracts.DraftRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            url = reverse("admin:governance_contractversion_change", args=[version.pk])
            note = f" (dbt tests without an Accord rule, left out: {', '.join(left_out)})" if left_out else ""
            self.message_user(request, format_html('Drafted <a href="{}">{} {}</a> from {}{}.', url,
                                                   version.contract.name, version.version, node.unique_id, note))

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "written"]


@admin.register(DbtTest)
class DbtTestAdmin(ReadOnlyAdmin):
    list_display = ["name", "test_type", "dataset", "column_name", "status", "failures", "executed_at"]
    list_filter = ["status", "test_type", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "dataset__qualified_name", "column_name"]
    list_select_related = ["dataset", "project"]

from ingest import admin_openlineage  # noqa: E402, F401  (registers the OpenLineage pages)
