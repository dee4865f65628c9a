"""The admin's base classes: change lists, change forms, inlines and their choice
lists all start from the rows the signed-in user may view."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse


class RestrictedAdminMixin:
    """Restrict the queryset and every related-object choice to what the user may view."""

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._restrict_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._restrict_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @staticmethod
    def _restrict_choices(db_field, request, kwargs) -> None:
        manager = db_field.related_model._default_manager
        if "queryset" not in kwargs and hasattr(manager, "visible_to"):
            kwargs["queryset"] = manager.visible_to(request.user)


class AccordModelAdmin(RestrictedAdminMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False
    readonly_fields: tuple[str, ...] = ("created_at", "updated_at")

    # Edit rights per object, as the API decides them (permissions.edit): the model permission, or
    # the steward's and owner's object permissions, a lead's department, a container one may change.
    def has_change_permission(self, request, obj=None):
        from permissions.edit import can_change

        return super().has_change_permission(request, obj) or (
            obj is not None and can_change(request.user, obj, "change"))

    def has_delete_permission(self, request, obj=None):
        from permissions.edit import can_change

        return super().has_delete_permission(request, obj) or (
            obj is not None and can_change(request.user, obj, "delete"))

    def save_model(self, request, obj, form, change):
        """As the API: a change must leave the object one the user may still change (a steward
        cannot move a field into a dataset they do not own); else nothing is saved."""
        from django.core.exceptions import PermissionDenied

        from permissions.edit import can_change

        super().save_model(request, obj, form, change)
        if change and not can_change(request.user, obj, "change"):
            raise PermissionDenied  # the admin's change view is atomic: the save is rolled back

    def get_deleted_objects(self, objs, request):
        """The delete confirmation lists what would go; when some of it is hidden from the
        user, or another app refuses the deletion (governance history), nothing is listed and
        the deletion is refused, as through the API (see permissions.deletion)."""
        from permissions.deletion import refusal

        reason = refusal(list(objs), request.user)
        if reason:
            return [], {}, set(), [reason]
        return super().get_deleted_objects(objs, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._audit_restricted_read(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """One save in the admin is one write: the object, its many-to-many fields and its
        inlines are merged into one record per object, as the API writes (``audit.batch``)."""
        from django.db import transaction

        from permissions import audit

        # A savepoint of its own around the batch, so a refusal (PermissionDenied) rolls back to
        # it and leaves a surrounding transaction usable, as Django's own atomic block does.
        with transaction.atomic(), audit.batch():
            return super().changeform_view(request, object_id, form_url, extra_context)

    def _audit_restricted_read(self, request, object_id) -> None:
        """Opening an object some deny rule restricts (as a superuser or an
        exempted person) leaves an audit record, as it does through the API."""
        from permissions import audit
        from permissions.access import restricted_flag
        from permissions.models import AuditAction

        model = self.model
        flag = restricted_flag(model)
        if flag is None:
            return  # no active rule can restrict this model
        try:
            pk = model._meta.pk.to_python(admin.utils.unquote(object_id))
        except Exception:  # noqa: BLE001 - a malformed id simply is not a restricted read
            return
        if self.get_queryset(request).filter(pk=pk).filter(flag).exists():
            audit.record_event(AuditAction.READ_RESTRICTED, object_type=model._meta.label_lower, object_id=str(pk),
                               details={"path": request.path})

    def history_view(self, request, object_id, extra_context=None):
        """The object's audit records (and its visible children's), with field diffs."""
        from permissions.api.history import history_queryset

        obj = self.get_object(request, admin.utils.unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        records = history_queryset(obj, request.user).order_by("-seq")[:500]
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}", "object": obj, "records": records, "opts": self.opts,
            "app_label": self.opts.app_label, **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/accord_history.html", context)


class AccordInline(RestrictedAdminMixin, admin.TabularInline):
    extra = 0
    show_change_link = True


class ReadOnlyAdmin(AccordModelAdmin):
    """Rows a harvest or an ingestion writes: shown, never added, changed or deleted by hand."""

    readonly_fields = ()  # every field, below (runs have no created/updated times)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RunMessagesAdmin(ReadOnlyAdmin):
    """A run whose ``warnings`` and ``errors`` quote the source: the page shows them as the run's
    ``messages_for(viewer, name)`` says the viewer may read them."""

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
