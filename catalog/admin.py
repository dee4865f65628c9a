from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from catalog.admin_maps import LineageMapAdminMixin
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
class DatasetAdmin(LineageMapAdminMixin, AccordModelAdmin):
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
        ("Source (harvested)", {"fields": ["source_description", "unique_keys", "removed_from_source_at"],
                                "classes": ["collapse"]}),
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
    def get_urls(self):
        from django.urls import path

        return [path("search/", self.admin_site.admin_view(self.search_view), name="catalog_search"),
                *super().get_urls()]

    def search_view(self, request):
        """The whole catalog searched as the API searches it (catalog.search), with its facets as links
        that narrow the search; what the person may not see is neither shown nor counted."""
        from urllib.parse import urlencode

        from django.template.response import TemplateResponse

        from catalog import search
        from catalog.api.views import SearchQuerySerializer

        answer, errors, text = None, {}, request.GET.get("q", "")
        if text.strip():
            params = SearchQuerySerializer(data=request.GET)
            if params.is_valid():
                data = params.validated_data
                filters = search.SearchFilters(
                    types=tuple(t for t in search.TYPES if t in data.get("type", search.TYPES)),
                    system_ids=tuple(data.get("system", ())), department_ids=tuple(data.get("department", ())),
                    classifications=tuple(data.get("classification", ())), kinds=tuple(data.get("kind", ())))
                answer = search.search(request.user, data["q"], filters, 50)
            else:
                errors = params.errors
        links = {"dataset": "admin:catalog_dataset_change", "field": "admin:catalog_field_change",
                 "system": "admin:catalog_system_change", "department": "admin:catalog_department_change"}
        hits = [{**hit, "admin_url": reverse(links[hit["type"]], args=[hit["id"]])}
                for hit in (answer or {}).get("results", [])]
        facets = []
        for facet, entries in ((answer or {}).get("facets") or {}).items():
            key = {"type": "type"}.get(facet, facet)
            facets.append((facet, [{**entry, "url": "?" + urlencode({"q": text, key: entry["value"]}),
                                    "shown": entry.get("label") or entry["value"]} for entry in entries]))
        context = {**self.admin_site.each_context(request), "title": "Search the catalog", "q": text,
                   "hits": hits, "facets": facets, "errors": errors, "answer": answer, "opts": self.opts}
        return TemplateResponse(request, "admin/catalog/search.html", context)

    # The source is authoritative for these: harvests write them, people read them.
    readonly_fields = ("created_at", "updated_at", "source_description", "unique_keys", "removed_from_source_at")
    DRIFT_SHOWN = 20

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Quality evidence", {"fields": ["quality_evidence"]}),
                ("Schema drift (harvests)", {"fields": ["drift_history"]})]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "quality_evidence", "drift_history"] if obj is not None else fields

    @admin.display(description="Checks and tests")
    def quality_evidence(self, obj):
        """The latest compliance runs of the contracts covering the dataset, and the latest results of
        its dbt tests, as the viewer may see them."""
        from governance.models import ComplianceRun
        from ingest.models import DbtTest

        viewer = getattr(obj, "_viewer", None)
        runs = list(ComplianceRun.objects.visible_to(viewer).filter(contract_version__contract__datasets=obj)
                    .exclude(status="pending").select_related("contract_version__contract")
                    .order_by("-scheduled_for", "-id")[:5])
        tests = list(DbtTest.objects.visible_to(viewer).filter(dataset=obj).order_by("status", "name")[:50])
        if not runs and not tests:
            return "No compliance check or dbt test has run on this dataset."
        run_rows = format_html_join(
            "", '<tr><td>{}</td><td><a href="{}">{} {}</a></td><td>{}</td><td>{}</td></tr>',
            ((run.finished_at.strftime("%Y-%m-%d %H:%M") if run.finished_at else "—",
              reverse("admin:governance_compliancerun_change", args=[run.pk]), run.contract_version.contract.name,
              run.contract_version.version, run.get_status_display(), _outcome(run.outcome or "—"))
             for run in runs))
        test_rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((test.executed_at.strftime("%Y-%m-%d %H:%M") if test.executed_at else "—", test.name,
              test.column_name or "—", _outcome(test.status or "not run"),
              "—" if test.failures is None else test.failures) for test in tests))
        parts = []
        if runs:
            parts.append(format_html(
                '<p>Compliance checks (latest runs)</p><table class="accord-evidence"><thead><tr><th>Finished</th>'
                "<th>Contract</th><th>Status</th><th>Outcome</th></tr></thead><tbody>{}</tbody></table>", run_rows))
        if tests:
            parts.append(format_html(
                '<p>dbt tests (latest results, <a href="{}?dataset={}">all</a>)</p><table class="accord-evidence">'
                "<thead><tr><th>Ran</th><th>Test</th><th>Field</th><th>Status</th><th>Failures</th></tr></thead>"
                "<tbody>{}</tbody></table>", reverse("admin:ingest_dbttest_changelist"), obj.pk, test_rows))
        return format_html_join("", "{}", ((part,) for part in parts))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # who reads the page decides which changes it lists
        return obj

    @admin.display(description="Drift history")
    def drift_history(self, obj):
        """The dataset's latest schema changes as its viewer may see them (a change to a hidden
        field is hidden with it), newest first, linking to the whole list."""
        from harvest.models import SchemaChange

        changes = SchemaChange.objects.visible_to(getattr(obj, "_viewer", None)).filter(dataset=obj)
        shown = list(changes.select_related("run")[: self.DRIFT_SHOWN + 1])
        if not shown:
            return "No schema change found by a harvest."
        rows = format_html_join(
            "", '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            ((change.detected_at.strftime("%Y-%m-%d %H:%M"), change.get_kind_display(), change.field_name or "—",
              _drift_value(change.before), _drift_value(change.after),
              format_html('<strong style="color:#ba2121">{}</strong>', "breaking")
              if change.compatibility == "breaking" else "compatible",
              format_html('<a href="{}">#{}</a>', reverse("admin:harvest_harvestrun_change", args=[change.run_id]),
                          change.run_id))
             for change in shown[: self.DRIFT_SHOWN]))
        more = ""
        if len(shown) > self.DRIFT_SHOWN:
            more = format_html('<p><a href="{}?dataset={}">All schema changes of this dataset</a></p>',
                               reverse("admin:harvest_schemachange_changelist"), obj.pk)
        return format_html(
            '<table class="accord-drift"><thead><tr><th>Detected</th><th>Change</th><th>Field</th><th>Before</th>'
            '<th>After</th><th>Contracts</th><th>Harvest</th></tr></thead><tbody>{}</tbody></table>{}', rows, more)


def _outcome(value: str):
    """An outcome or a test status, failures in red."""
    if value in ("fail", "error"):
        return format_html('<strong style="color:#ba2121">{}</strong>', value)
    return value


def _drift_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)


@admin.register(Field)
class FieldAdmin(LineageMapAdminMixin, AccordModelAdmin):
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
