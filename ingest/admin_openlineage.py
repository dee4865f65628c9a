"""The admin's OpenLineage pages: namespaces mapped to Systems, and the namespaces events named
that no System has yet, each with a link to map it."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from ingest.models import LineageNamespace, UnknownNamespace
from permissions.admin_base import AccordModelAdmin, ReadOnlyAdmin


@admin.register(LineageNamespace)
class LineageNamespaceAdmin(AccordModelAdmin):
    list_display = ["namespace", "system", "updated_at"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["namespace", "system__name"]
    autocomplete_fields = ["system"]
    list_select_related = ["system"]


@admin.register(UnknownNamespace)
class UnknownNamespaceAdmin(ReadOnlyAdmin):
    list_display = ["namespace", "events", "first_seen_at", "last_seen_at", "examples", "map_it"]
    search_fields = ["namespace"]
    date_hierarchy = "last_seen_at"

    def get_queryset(self, request):
        return super().get_queryset(request).unmapped()

    @admin.display(description="example names")
    def examples(self, obj):
        return ", ".join(obj.example_names or [])

    @admin.display(description="map")
    def map_it(self, obj):
        url = reverse("admin:ingest_lineagenamespace_add") + "?" + urlencode({"namespace": obj.namespace})
        return format_html('<a href="{}">Map to a system</a>', url)
