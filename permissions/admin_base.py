"""The admin's base classes: change lists, change forms, inlines and their choice
lists all start from the rows the signed-in user may view."""

from __future__ import annotations

from django.contrib import admin


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


class AccordInline(RestrictedAdminMixin, admin.TabularInline):
    extra = 0
    show_change_link = True
