"""The lineage map's admin page, linked from every dataset's and field's change page: the map is drawn
in the browser from the API's lineage graph (catalog.api.lineage_map), as the viewer may see it."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from catalog import lineage_map
from catalog.models import Field


class LineageMapAdminMixin:
    """Adds ``<id>/lineage-map/`` and a link to it on the change page (datasets and fields)."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_lineage_map"
        return [path("<path:object_id>/lineage-map/", self.admin_site.admin_view(self.lineage_map_view), name=name),
                *super().get_urls()]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        # An admin without declared fieldsets lists every readonly field already: take the link out there.
        fieldsets = [(name, {**options, "fields": [f for f in options["fields"] if f != "lineage_map_link"]})
                     for name, options in fieldsets]
        return [*fieldsets, ("Lineage", {"fields": ["lineage_map_link"]})]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "lineage_map_link"] if obj is not None else fields

    @admin.display(description="Lineage map")
    def lineage_map_link(self, obj):
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_lineage_map", args=[obj.pk])
        what = "its field mappings" if isinstance(obj, Field) else "upstream and downstream"
        return format_html('<a href="{}" class="accord-lineage-map-link">Open the lineage map ({})</a>', url, what)

    def lineage_map_view(self, request, object_id):
        obj = self.get_object(request, object_id)  # through the restricted queryset: hidden is missing
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise Http404("No such object.")
        field = obj if isinstance(obj, Field) else None
        dataset = obj.dataset if field else obj
        depth = request.GET.get("depth", "")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Lineage map of {field or dataset.qualified_name}",
            "opts": self.opts, "dataset": dataset, "field": field,
            "api_url": reverse(f"{self.opts.model_name}-lineage-graph", args=[obj.pk]),
            "depths": range(1, lineage_map.MAX_DEPTH + 1),
            "depth": int(depth) if depth.isdigit() and 1 <= int(depth) <= lineage_map.MAX_DEPTH
            else lineage_map.DEFAULT_DEPTH,
            "show_fields": request.GET.get("fields") in ("1", "true"),
        }
        return TemplateResponse(request, "admin/catalog/lineage_map.html", context)
