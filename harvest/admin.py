from django.contrib import admin, messages
from django.utils import timezone

from harvest.models import FieldRelationship, HarvestRun, HarvestSettings, HarvestTrigger, SchemaChange
from permissions.admin_base import AccordModelAdmin, ReadOnlyAdmin, RunMessagesAdmin


@admin.register(HarvestSettings)
class HarvestSettingsAdmin(AccordModelAdmin):
    list_display = ["__str__", "system", "schedule", "include", "exclude"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["system__name", "system__slug"]
    autocomplete_fields = ["system"]
    list_select_related = ["system"]
    actions = ["harvest_now"]

    @admin.action(description="Harvest the selected systems now")
    def harvest_now(self, request, queryset):
        from django.db import transaction

        from harvest.tasks import harvest_system
        from permissions.edit import can_change

        started = 0
        for config in queryset.select_related("system"):
            if not can_change(request.user, config.system):
                self.message_user(request, f"You may not harvest {config.system.name}: change the system first.",
                                  messages.ERROR)
                continue
            at = timezone.now().isoformat()
            transaction.on_commit(lambda c=config, at=at: harvest_system.delay(
                c.system_id, trigger=HarvestTrigger.MANUAL, requested_by_id=request.user.pk, scheduled_for=at))
            started += 1
        if started:
            self.message_user(request, f"Harvest of {started} system(s) asked for; see Harvest runs.")


@admin.register(HarvestRun)
class HarvestRunAdmin(RunMessagesAdmin):
    list_display = ["__str__", "system", "trigger", "status", "scheduled_for", "finished_at"]
    list_filter = ["status", "trigger", ("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["system__name"]
    date_hierarchy = "scheduled_for"
    list_select_related = ["system"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("system")  # the change page names its system


@admin.register(SchemaChange)
class SchemaChangeAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "dataset", "field_name", "kind", "compatibility", "detected_at"]
    list_filter = ["kind", "compatibility", ("dataset__system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["dataset__qualified_name", "field_name"]
    list_select_related = ["dataset"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("dataset", "run__system")

    def get_readonly_fields(self, request, obj=None):
        # ``contracts`` (ids of the contracts broken) is left out, as in the API: a contract the reader
        # may not see would show through its id; the incident on the contract says the rest.
        return [name for name in super().get_readonly_fields(request, obj) if name != "contracts"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)


@admin.register(FieldRelationship)
class FieldRelationshipAdmin(ReadOnlyAdmin):
    list_display = ["constraint_name", "from_field", "to_field", "position", "system"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["constraint_name", "from_field__name", "to_field__name"]
    list_select_related = ["system", "from_field__dataset", "to_field__dataset"]
