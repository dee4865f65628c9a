from django.contrib import admin, messages
from django.utils import timezone

from harvest.models import FieldRelationship, HarvestRun, HarvestSettings, HarvestTrigger, SchemaChange
from permissions.admin_base import AccordModelAdmin


class ReadOnlyAdmin(AccordModelAdmin):
    """Rows the harvest writes: shown, never added, changed or deleted by hand."""

    readonly_fields = ()  # every field, below (runs and schema changes have no created/updated times)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
class HarvestRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "system", "trigger", "status", "scheduled_for", "finished_at"]
    list_filter = ["status", "trigger", ("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["system__name"]
    date_hierarchy = "scheduled_for"
    list_select_related = ["system"]

    SHOWN = {"warnings": "warnings_shown", "errors": "errors_shown"}

    def get_readonly_fields(self, request, obj=None):
        return [self.SHOWN.get(name, name) for name in super().get_readonly_fields(request, obj)]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    @admin.display(description="warnings")
    def warnings_shown(self, obj):
        return "\n".join(obj.messages_for(getattr(obj, "_viewer", None), "warnings")) or "—"

    @admin.display(description="errors")
    def errors_shown(self, obj):
        return "\n".join(obj.messages_for(getattr(obj, "_viewer", None), "errors")) or "—"

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # who reads the page decides what the messages say
        return obj


@admin.register(SchemaChange)
class SchemaChangeAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "dataset", "field_name", "kind", "compatibility", "detected_at"]
    list_filter = ["kind", "compatibility", ("dataset__system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["dataset__qualified_name", "field_name"]
    list_select_related = ["dataset"]


@admin.register(FieldRelationship)
class FieldRelationshipAdmin(ReadOnlyAdmin):
    list_display = ["constraint_name", "from_field", "to_field", "position", "system"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["constraint_name", "from_field__name", "to_field__name"]
    list_select_related = ["system", "from_field__dataset", "to_field__dataset"]
