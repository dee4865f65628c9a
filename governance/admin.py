"""The governance admin, shaped for the council: approve and sign with confirmation,
pending approvals per department, version diffs, contract pages with parties and signatures."""

from __future__ import annotations

import copy
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Prefetch, Subquery
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from catalog.models import Department, System
from governance import redaction
from governance.admin_maps import DataFlowAdminMixin
from governance.choices import ContractStatus, DesignationStatus, VersionStatus
from governance.forms import contract_form_for, criteria_form_for, is_flat
from governance.models import (
    BusinessEntity,
    CheckResult,
    ComplianceRun,
    ContractSignature,
    ContractVersion,
    DataContract,
    Delivery,
    EntityAttribute,
    Incident,
    NotificationSubscription,
    StateApproval,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from governance.services import compliance, history, notifications
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from governance.services.common import acts_for, signs_for
from permissions.admin import secret_shown_once
from permissions.admin_base import AccordInline, AccordModelAdmin
from permissions.errors import Refused

# --- governance documents as sentences, tables and lists (always already redacted for the reader) ---------


def _shown(items) -> tuple[list, int]:
    """(the items of a list the reader sees, how many the placeholders among them stand for)."""
    kept, hidden = [], 0
    for item in items or []:
        if redaction.is_placeholder(item):
            hidden += int(item[redaction.PLACEHOLDER_KEY])
        elif isinstance(item, dict):
            kept.append(item)
    return kept, hidden


def _params_text(params) -> str:
    if not isinstance(params, dict) or not params:
        return ""
    return "; ".join(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                     for key, value in sorted(params.items()))  # jsonb keeps no written order


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"


def service_lines(terms: dict) -> list[str]:
    """The service levels and cadence of terms, one sentence each; a key left out says nothing."""
    sla = terms.get("sla") if isinstance(terms.get("sla"), dict) else {}
    lines = []
    if sla.get("freshness_hours") is not None:
        lines.append(f"Data at most {sla['freshness_hours']} hours old.")
    if sla.get("availability_percent") is not None:
        lines.append(f"Available {sla['availability_percent']}% of the time.")
    if sla.get("response_time_hours") is not None:
        lines.append(f"Incidents answered within {sla['response_time_hours']} hours.")
    if terms.get("schedule"):
        lines.append(f"Checked on the schedule “{terms['schedule']}” (cron, UTC).")
    if terms.get("support_channel"):
        lines.append(f"Support: {terms['support_channel']}.")
    notice = terms.get("notice_period_days")
    if notice is not None:
        lines.append(f"Breaking changes announced {_plural(notice, 'day')} ahead." if notice
                     else "No notice period for breaking changes.")
    return lines


def terms_context(terms) -> dict:
    """What ``includes/terms.html`` renders of (redacted) terms."""
    terms = terms if isinstance(terms, dict) else {}
    objects, hidden_objects = _shown(terms.get("schema"))
    rendered = []
    for obj in objects:
        fields, hidden_fields = _shown(obj.get("fields"))
        rendered.append({**obj, "fields": fields, "hidden_fields": hidden_fields,
                         "hidden_fields_text": redaction.hidden_phrase(hidden_fields, "field")})
    quality, hidden_quality = _shown(terms.get("quality"))
    service = service_lines(terms)
    return {
        "any": bool(rendered or hidden_objects or quality or hidden_quality or service),
        "objects": rendered, "hidden_objects": hidden_objects,
        "hidden_objects_text": redaction.hidden_phrase(hidden_objects, "schema object"),
        "quality": [{**rule, "params_text": _params_text(rule.get("params"))} for rule in quality],
        "hidden_quality": hidden_quality,
        "hidden_quality_text": redaction.hidden_phrase(hidden_quality, "quality rule"),
        "service": service,
    }


COUNT_WORDS = {"pass": "passed", "fail": "failed", "error": "could not be checked"}


def counts_context(summary) -> dict:
    """A (redacted) ``{"pass": n, "fail": n, "error": n[, "hidden": n]}`` as lines of a list."""
    summary = summary if isinstance(summary, dict) else {}
    hidden = int(summary.get(redaction.PLACEHOLDER_KEY) or 0)
    # In a fixed order: PostgreSQL's jsonb keeps its own order of keys, SQLite the written one.
    keys = [*(key for key in COUNT_WORDS if key in summary),
            *sorted(key for key in summary if key not in COUNT_WORDS and key != redaction.PLACEHOLDER_KEY)]
    counts = [f"{summary[key]} {COUNT_WORDS.get(key, key)}" for key in keys]
    return {"counts": counts, "hidden": redaction.hidden_phrase(hidden, "result") if hidden else ""}


def counts_sentence(summary) -> str:
    """``counts_context`` in one line, for change lists: "2 passed, 1 failed, 2 results you cannot see"."""
    context = counts_context(summary)
    return ", ".join([*context["counts"], *([context["hidden"]] if context["hidden"] else [])])


def incident_context(summary) -> dict:
    summary = summary if isinstance(summary, dict) else {}
    failing = summary.get("failing_rules") if isinstance(summary.get("failing_rules"), list) else []
    hidden = sum(int(item[redaction.PLACEHOLDER_KEY]) for item in failing if redaction.is_placeholder(item))
    changes = summary.get("breaking_changes") if isinstance(summary.get("breaking_changes"), list) else []
    hidden_changes = sum(int(item[redaction.PLACEHOLDER_KEY]) for item in changes if redaction.is_placeholder(item))
    return {"failing": [key for key in failing if isinstance(key, str)],
            "hidden_failing": redaction.hidden_phrase(hidden, "failing rule") if hidden else "",
            # An incident a breaking schema drift opened (harvest): the changes that broke the contract.
            "drift": "breaking_changes" in summary, "harvest_run": summary.get("harvest_run"),
            "breaking_changes": [_drift_line(c) for c in changes if isinstance(c, dict) and not
                                 redaction.is_placeholder(c)],
            "hidden_changes": redaction.hidden_phrase(hidden_changes, "change") if hidden_changes else "",
            **counts_context(summary.get("counts"))}


def _drift_line(change: dict) -> str:
    from harvest.models import ChangeKind

    kind = dict(ChangeKind.choices).get(change.get("kind"), str(change.get("kind")))
    where = f" {change['field']}" if change.get("field") else ""

    def shown(value):
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items())
        return "—" if value is None else str(value)

    before, after = change.get("before"), change.get("after")
    return f"{kind}{where}" + (f": {shown(before)} → {shown(after)}" if before is not None or after is not None
                               else "")


def designation_label(designation: SystemOfRecord, user) -> str:
    """A designation named for ``user``: "Account.pay grade: Warehouse (active)", its system only if they see it
    (the model's ``__str__`` names no system, for it knows no reader)."""
    target = f"{designation.entity.name}.{designation.attribute.name}" if designation.attribute_id \
        else designation.entity.name
    visible = System.objects.visible_to(user).filter(pk=designation.system_id).values_list("name", flat=True).first()
    return f"{target}: {visible or 'a system you cannot see'} ({designation.get_status_display().lower()})"


class GovernanceAdmin(AccordModelAdmin):
    """An admin for governance objects, which refer to catalog objects the reader may not see.

    * ``reader_relations`` (foreign keys and many-to-manys to catalog objects) are read through
      the reader's visibility (a ``Prefetch``), so change lists, read-only displays and the
      chosen values of a form hold only what the reader sees.
    * ``shown_to`` renders an object as the reader may see it (terms, criteria, counts through
      ``governance.redaction``); change pages show that copy, never the stored values, and a
      value the reader sees only partly is read-only for them (``partly_hidden``).
    * Saving a form keeps the related objects the user cannot see: they were never offered, so
      leaving them out is no decision to remove them (``keep_hidden_relations``).
    """

    reader_relations: tuple[str, ...] = ()
    #: Whether the change list offers "Delete selected"; its confirmation refuses a selection whose
    #: deletion would delete history (``get_deleted_objects``). Off where most rows hold history.
    bulk_delete = True

    def has_delete_permission(self, request, obj=None):
        if obj is not None and history.kept_history([obj]):
            return False  # history is never deleted (governance.services.history), as the API refuses
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        reason = history.kept_history(objs)
        if reason:
            return [], {}, set(), [reason]  # the confirmation page shows the refusal and deletes nothing
        return super().get_deleted_objects(objs, request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.bulk_delete:
            actions.pop("delete_selected", None)
        return actions

    def get_queryset(self, request):
        lookups = [Prefetch(name, queryset=self.model._meta.get_field(name).related_model._default_manager
                            .visible_to(request.user)) for name in self.reader_relations]
        return super().get_queryset(request).prefetch_related(*lookups)

    #: Fields whose values ``shown_to`` redacts.
    redacted_fields: tuple[str, ...] = ()

    def shown_to(self, user, obj):
        """A copy of ``obj`` as ``user`` may see it, which read-only displays get; its
        ``redactor`` (governance.redaction) answers for ``user``. Subclasses redact
        ``redacted_fields`` on it."""
        shown = copy.copy(obj)
        shown.redactor = redaction.Redactor(user)
        return shown

    def note_page(self, redactor: redaction.Redactor, rows: list) -> None:
        """Tell ``redactor`` what a change list page's columns will ask (one query per kind)."""

    def get_changelist_instance(self, request):
        # List columns get the page's rows only: give each the page's one redactor.
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        redactor = redaction.Redactor(request.user)
        self.note_page(redactor, rows)
        for row in rows:
            row.redactor = redactor
        return changelist

    def partly_hidden(self, user, obj) -> list[str]:
        """The ``redacted_fields`` of ``obj`` that ``user`` sees only in part: read-only for them."""
        if obj is None or not self.redacted_fields:
            return []
        shown = self.shown_to(user, obj)
        return [name for name in self.redacted_fields if getattr(shown, name) != getattr(obj, name)]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, *(name for name in self.partly_hidden(request.user, obj) if name not in readonly)]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Read-only fields are rendered from the form's instance: make it the reader's copy (the
        # object itself is not touched, so nothing redacted can be saved).
        if obj is not None:
            context["adminform"].form.instance = self.shown_to(request.user, obj)
        for inline in context.get("inline_admin_formsets", []):
            if not isinstance(inline.opts, GovernanceInline):
                continue
            shown = inline.opts.shown_to(request.user, [form.instance for form in inline.formset.forms])
            for form, instance in zip(inline.formset.forms, shown, strict=True):
                form.instance = instance
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        """The object's audit records with their values as the reader may see them
        (permissions.api.history.visible_changes, as the API's history)."""
        from permissions.api.history import history_queryset, visible_changes
        from permissions.api.serializers import AuditRecordSerializer

        obj = self.get_object(request, admin.utils.unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj):
            return super().history_view(request, object_id, extra_context)  # as for a missing object
        records = list(history_queryset(obj, request.user).order_by("-seq")[:500])
        shown = visible_changes(AuditRecordSerializer(records, many=True).data, request.user)
        for record, view in zip(records, shown, strict=True):
            record.changes = view["changes"]  # for this page only: records are never saved again
        return super().history_view(request, object_id, {**(extra_context or {}), "records": records})

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        if change:
            keep_hidden_relations(form, request.user)
        return obj


class GovernanceInline(AccordInline):
    """An inline whose rows ``shown_to`` renders as the reader may see them (``GovernanceAdmin``)."""

    def shown_to(self, user, objs: list) -> list:
        return objs


def keep_hidden_relations(form, user) -> None:
    """Add back to ``form.cleaned_data`` what ``user`` cannot see: a many-to-many keeps its
    hidden members, and a foreign key left empty keeps its hidden value."""
    instance = form.instance
    for name in list(form.cleaned_data):
        try:
            field = instance._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        related = field.related_model
        if related is None or not hasattr(related._default_manager, "visible_to"):
            continue
        visible = related._default_manager.visible_to(user).values("pk")
        if field.many_to_many:
            through = field.remote_field.through._default_manager.filter(**{field.m2m_field_name(): instance.pk})
            stored = through.values(field.m2m_reverse_field_name())
            hidden = list(related._base_manager.filter(pk__in=stored).exclude(pk__in=visible))
            if hidden:
                form.cleaned_data[name] = [*form.cleaned_data[name], *hidden]
        elif field.many_to_one and form.cleaned_data[name] is None and form.initial.get(name) is not None:
            kept = related._base_manager.filter(pk=form.initial[name]).exclude(pk__in=visible).first()
            if kept is not None:
                form.cleaned_data[name] = kept
                setattr(instance, name, kept)


class HistoryKeepingFormSet(BaseInlineFormSet):
    """An inline's "Delete" box is refused, above the rows, for a row whose deletion would delete
    history (an attribute with approved designations, a state with approved versions)."""

    def clean(self):
        super().clean()
        refused = [f"{form.instance}: {reason}" for form in self.deleted_forms
                   if form.instance.pk and (reason := history.kept_history([form.instance]))]
        if refused:
            raise ValidationError(refused)


class AttributeInline(AccordInline):
    model = EntityAttribute
    formset = HistoryKeepingFormSet
    fields = ["name", "is_identifier", "description"]


@admin.register(BusinessEntity)
class BusinessEntityAdmin(GovernanceAdmin):
    list_display = ["name", "bounded_context", "owner_department", "authoritative_system"]
    list_filter = ["bounded_context", ("owner_department", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "bounded_context", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner_department", "datasets"]
    inlines = [AttributeInline]
    reader_relations = ("datasets",)
    readonly_fields = ["systems_of_record", "conflicts"]

    @admin.display(description="Systems of record")
    def systems_of_record(self, obj):
        """The active designations, the entity's own first, then per attribute; those on objects the reader
        cannot see are counted, not named (obj: the reader's copy)."""
        if obj is None or obj.pk is None:
            return "—"
        active = SystemOfRecord.objects.filter(entity=obj, status=DesignationStatus.ACTIVE)
        visible = list(active.visible_to(obj.redactor.user).select_related("attribute", "system", "dataset", "field")
                       .order_by("attribute__name", "pk"))
        hidden = active.count() - len(visible)
        rows = [{"target": f"attribute {d.attribute.name}" if d.attribute_id else f"{obj.name} as a whole",
                 "system": d.system.name, "dataset": d.dataset.qualified_name if d.dataset_id else "",
                 "field": d.field.name if d.field_id else "", "decided_at": d.decided_at,
                 "url": reverse("admin:governance_systemofrecord_change", args=[d.pk])} for d in visible]
        return render_to_string("admin/governance/includes/systems_of_record.html", {
            "rows": rows, "hidden": redaction.hidden_phrase(hidden, "system of record") if hidden else ""})

    @admin.display(description="Conflicts")
    def conflicts(self, obj):
        """Where the registry contradicts the designations (entity_services.conflicts), among what the reader sees."""
        if obj is None or obj.pk is None:
            return "—"
        return render_to_string("admin/governance/includes/conflicts.html",
                                {"conflicts": entity_services.conflicts(obj.redactor.user, obj)})

    def get_queryset(self, request):
        # The entity-level designation (entity_services.authoritative), in the page's one query.
        active = SystemOfRecord.objects.filter(entity=OuterRef("pk"), status=DesignationStatus.ACTIVE,
                                               attribute__isnull=True)
        return super().get_queryset(request).annotate(
            authoritative_name=Subquery(active.visible_to(request.user).values("system__name")[:1]),
            has_authoritative=Exists(active))

    @admin.display(description="System of record")
    def authoritative_system(self, obj):
        if obj.authoritative_name:
            return obj.authoritative_name
        # There is one, but not one the reader may see: "—" would say there is none.
        return redaction.hidden_phrase(1, "system") if obj.has_authoritative else "—"


@admin.register(EntityAttribute)
class EntityAttributeAdmin(GovernanceAdmin):
    list_display = ["name", "entity", "is_identifier"]
    search_fields = ["name", "entity__name"]
    autocomplete_fields = ["entity"]
    list_select_related = ["entity"]


@admin.register(SystemOfRecord)
class SystemOfRecordAdmin(GovernanceAdmin):
    list_display = ["entity", "attribute", "system", "dataset", "field", "status", "decided_at"]
    list_filter = ["status", ("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["entity__name", "attribute__name", "system__name", "rationale"]
    autocomplete_fields = ["entity", "attribute", "system", "dataset", "field"]
    list_select_related = ["entity", "attribute", "system", "dataset", "field"]
    exclude = ["superseded_by"]  # shown as superseded_by_label: named for the reader
    readonly_fields = ["status", "proposed_by", "decided_by", "decided_at", "superseded_by_label", "superseded_at",
                       "created_at", "updated_at"]
    bulk_delete = False  # approved designations are history (the API refuses their DELETE)
    actions = ["approve_selected"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.proposed_by = request.user
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != DesignationStatus.PROPOSED:
            return False  # superseded, never overwritten: propose a new designation instead
        return super().has_change_permission(request, obj)

    def has_approve_permission(self, request) -> bool:
        return entity_services.can_approve_designation(request.user)  # the council, as the service decides

    @admin.display(description="Superseded by")
    def superseded_by_label(self, obj):
        if obj is None or obj.superseded_by_id is None:
            return "—"
        newer = SystemOfRecord.objects.select_related("entity", "attribute").get(pk=obj.superseded_by_id)
        return format_html('<a href="{}">{}</a>', reverse("admin:governance_systemofrecord_change", args=[newer.pk]),
                           designation_label(newer, obj.redactor.user))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The page names the designation by its system, as the reader may see it (not "system #5").
        designation = self.get_object(request, admin.utils.unquote(object_id))
        if designation is not None:
            extra_context = {**(extra_context or {}), "subtitle": designation_label(designation, request.user),
                             "designation_label": designation_label(designation, request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        designation = self.get_object(request, admin.utils.unquote(object_id))
        if designation is not None:
            extra_context = {**(extra_context or {}),
                             "title": f"Change history: {designation_label(designation, request.user)}"}
        return super().history_view(request, object_id, extra_context)

    @admin.action(description="Approve the selected proposed designations", permissions=["approve"])
    def approve_selected(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/governance/confirm_action.html", {
                **self.admin_site.each_context(request), "title": "Approve systems of record?",
                "objects": queryset, "action": "approve_selected", "opts": self.opts,
                "explanation": "Each approved designation becomes active; the active designation for the same "
                               "entity attribute is superseded.",
            })
        _run(request, [lambda d=d: entity_services.approve_system_of_record(d, actor=request.user)
                       for d in queryset], "approved")


class DraftOnlyMixin:
    """Versions are edited and deleted only as drafts; past that they are shown read-only."""

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != "draft":
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != "draft":
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the draft-only rule
        return actions

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as exc:
            messages.error(request, f"{exc.message} {json.dumps(exc.errors) if exc.errors else ''}")
            return redirect(request.path)


def _run(request, steps, verb: str) -> None:
    done = 0
    for step in steps:
        try:
            step()
            done += 1
        except Refused as exc:
            messages.error(request, exc.message)
    if done:
        messages.success(request, f"{done} {verb}.")


class StateInline(AccordInline):
    model = StateDefinition
    formset = HistoryKeepingFormSet
    fields = ["position", "name", "slug", "state_value", "owner_department", "scope"]
    autocomplete_fields = ["owner_department"]


class TransitionInline(AccordInline):
    model = StateTransition
    fk_name = "workflow"
    fields = ["from_state", "to_state", "description"]


@admin.register(StateWorkflow)
class StateWorkflowAdmin(GovernanceAdmin):
    list_display = ["name", "owner_department", "dataset", "state_field"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner_department", "dataset", "state_field"]
    inlines = [StateInline, TransitionInline]
    bulk_delete = False  # a workflow's states hold approved versions (history)
    reader_relations = ("state_field",)  # a hidden state field reads as none (the dataset hides the workflow)


class VersionInline(AccordInline):
    model = StateDefinitionVersion
    fields = ["number", "status", "definition_text", "approved_at"]
    readonly_fields = ["number", "status", "definition_text", "approved_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StateDefinition)
class StateDefinitionAdmin(GovernanceAdmin):
    list_display = ["name", "workflow", "scope", "owner_department", "approved"]
    list_filter = ["scope", ("workflow", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "workflow__name"]
    autocomplete_fields = ["workflow", "owner_department", "stakeholders"]
    bulk_delete = False  # a state's versions past the draft are history
    inlines = [VersionInline]

    @admin.display(description="Approved version")
    def approved(self, obj):
        version = obj.approved_version()
        return f"v{version.number}" if version else "—"


class ApprovalInline(AccordInline):
    model = StateApproval
    fields = ["department", "approved_by", "comment", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StateDefinitionVersion)
class StateDefinitionVersionAdmin(DraftOnlyMixin, GovernanceAdmin):
    """Drafts are written here; "Propose" and "Approve" act through the services."""

    list_display = ["definition", "number", "status", "proposed_at", "approved_at", "waiting_for"]
    list_filter = ["status", "definition__scope", ("definition__workflow", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["definition__name", "definition_text"]
    autocomplete_fields = ["definition"]
    list_select_related = ["definition__workflow", "definition__owner_department"]
    readonly_fields = ["number", "status", "criteria_text", "content_hash", "proposed_by", "proposed_at",
                       "approved_at", "superseded_at", "created_at", "updated_at"]
    inlines = [ApprovalInline]
    actions = ["propose_selected", "approve_selected"]

    def get_fields(self, request, obj=None):
        # A draft's criteria are edited rule by rule (the form's own fields, rendered by the change form
        # template); the JSON field stays for trees the rules cannot show and for whoever may not edit them.
        criteria = [] if self.edits_rules(request, obj) else ["criteria"]
        return ["definition", "definition_text", *criteria, *self.readonly_fields]

    def edits_rules(self, request, obj) -> bool:
        return (obj is not None and obj.status == VersionStatus.DRAFT and is_flat(obj.criteria)
                and "criteria" not in self.get_readonly_fields(request, obj))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if self.edits_rules(request, obj):
            return criteria_form_for(form, definition=obj.definition, user=request.user, criteria=obj.criteria)
        return form

    redacted_fields = ("criteria",)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)  # with criteria the user sees only in part
        if obj is not None and obj.status != VersionStatus.DRAFT:
            return list(dict.fromkeys(["definition", "definition_text", "criteria", *readonly]))
        if obj is not None:
            return list(dict.fromkeys(["definition", *readonly]))
        return readonly

    def shown_to(self, user, obj):
        shown = super().shown_to(user, obj)
        shown.criteria = redaction.criteria_for(user, obj)
        return shown

    @admin.display(description="Criteria in words")
    def criteria_text(self, obj):
        return redaction.describe_redacted(obj.criteria) if obj and obj.criteria else "—"  # obj: shown_to

    @admin.display(description="Waiting for")
    def waiting_for(self, obj):
        if obj.status != VersionStatus.PROPOSED:
            return ""
        return ", ".join(d.name for d in state_services.pending_departments(obj))

    change_list_template = "admin/governance/statedefinitionversion/change_list.html"

    def save_model(self, request, obj, form, change):
        if change:
            state_services.update_draft(obj, definition_text=obj.definition_text, criteria=obj.criteria,
                                        actor=request.user)
        else:
            created = state_services.create_draft(definition=obj.definition, definition_text=obj.definition_text,
                                                  criteria=obj.criteria, actor=request.user)
            for field in StateDefinitionVersion._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))

    @admin.action(description="Propose the selected drafts for approval")
    def propose_selected(self, request, queryset):
        _run(request, [lambda v=v: state_services.propose(v, actor=request.user) for v in queryset], "proposed")

    @admin.action(description="Approve the selected versions (for the departments you act for)")
    def approve_selected(self, request, queryset):
        proposed = queryset.filter(status=VersionStatus.PROPOSED)
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/governance/confirm_action.html", {
                **self.admin_site.each_context(request), "title": "Approve state definitions?",
                "objects": proposed, "action": "approve_selected", "opts": self.opts,
                "explanation": "Your approval is recorded for each department you act for that still has to "
                               "approve. A version is approved once every required department has.",
            })
        steps = []
        for version in proposed:
            for department in state_services.pending_departments(version):
                if state_services.can_approve_for(request.user, version, department):
                    steps.append(lambda v=version, d=department: state_services.approve(
                        v, department=d, actor=request.user))
        if not steps:
            messages.warning(request, "Nothing to approve that you may approve.")
            return None
        _run(request, steps, "approval(s) recorded")

    def get_urls(self):
        return [
            path("pending/", self.admin_site.admin_view(self.pending_view), name="governance_pending_approvals"),
            path("<int:pk>/diff/", self.admin_site.admin_view(self.diff_view), name="governance_version_diff"),
            *super().get_urls(),
        ]

    def pending_view(self, request):
        """Proposed versions waiting for each department the user can see."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        proposed = list(self.get_queryset(request).filter(status=VersionStatus.PROPOSED)
                        .select_related("definition__owner_department").prefetch_related("definition__stakeholders",
                                                                                          "approvals"))
        departments = Department.objects.visible_to(request.user).order_by("name")
        wanted = request.GET.get("department")
        if wanted:
            departments = departments.filter(slug=wanted)
        rows = []
        for department in departments:
            waiting = [v for v in proposed if department in state_services.pending_departments(v)]
            if waiting:
                rows.append({"department": department, "versions": waiting,
                             "can_act": acts_for(request.user, department)})
        return TemplateResponse(request, "admin/governance/pending.html", {
            **self.admin_site.each_context(request), "title": "Pending approvals by department", "rows": rows,
            "opts": self.opts,
        })

    def diff_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(self.get_queryset(request), pk=pk)
        others = self.get_queryset(request).filter(definition=version.definition).exclude(pk=pk).order_by("-number")
        against = others.filter(pk=request.GET.get("against")).first() if request.GET.get("against") else None
        against = against or others.filter(number__lt=version.number).first()
        result = state_services.diff(*sorted([against, version], key=lambda v: v.number)) if against else None
        if result is not None:
            result = redaction.state_diff_for(request.user, result, version.definition)
        return TemplateResponse(request, "admin/governance/diff.html", {
            **self.admin_site.each_context(request), "title": f"Compare {version}", "version": version,
            "others": others, "against": against, "diff": result, "opts": self.opts,
        })


class SignForm(forms.Form):
    """One party to sign for: a select of the unsigned parties the signer may sign for, none preselected
    for someone who may sign for several (a superuser chooses explicitly)."""

    department = forms.ModelChoiceField(queryset=Department.objects.none(), label="Sign for",
                                        empty_label="— choose the party you sign for —")
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def __init__(self, *args, parties: list, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.led = Department.led_ids_for(user)
        field = self.fields["department"]
        field.queryset = Department.objects.filter(pk__in=[party.pk for party in parties]).order_by("name")
        field.label_from_instance = lambda party: (
            party.name if party.pk in self.led else f"{party.name} — on its behalf (you do not lead it)")
        if len(parties) == 1 and parties[0].pk in self.led:
            field.initial = parties[0].pk  # a lead of one party: theirs, still shown before they sign

    def on_behalf(self, department) -> bool:
        return department.pk not in self.led


class SignatureInline(AccordInline):
    model = ContractSignature
    fields = ["department", "signed_by", "content_hash", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ContractVersion)
class ContractVersionAdmin(DraftOnlyMixin, GovernanceAdmin):
    list_display = ["contract", "version", "status", "change_class", "effective_from", "missing"]
    list_filter = ["status", "change_class"]
    search_fields = ["contract__name", "version"]
    autocomplete_fields = ["contract", "state_definitions"]
    list_select_related = ["contract__producer"]
    readonly_fields = ["terms_view", "status", "change_class", "changes_text", "content_hash", "proposed_at",
                       "effective_from", "activated_at", "ended_at", "created_by", "created_at", "updated_at"]
    inlines = [SignatureInline]
    actions = ["propose_selected", "sign_one"]
    reader_relations = ("state_definitions",)
    redacted_fields = ("terms", "changes")

    def get_fields(self, request, obj=None):
        # Terms read as tables; the JSON is shown only to whoever may edit it (a draft they see whole).
        editable = "terms" not in self.get_readonly_fields(request, obj)
        return ["contract", "version", *(["terms"] if editable else []), "state_definitions", *self.readonly_fields]

    @admin.display(description="Terms")
    def terms_view(self, obj):
        return render_to_string("admin/governance/includes/terms.html",
                                {"terms": terms_context(obj.terms if obj else None)})  # obj: shown_to

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)  # with terms the user sees only in part
        if obj is not None and obj.status != ContractStatus.DRAFT:
            return list(dict.fromkeys(["contract", "version", "terms", "state_definitions", *readonly]))
        return readonly

    def shown_to(self, user, obj):
        shown = super().shown_to(user, obj)
        shown.terms = shown.redactor.terms(obj.terms, contract_id=obj.contract_id)
        shown.changes = shown.redactor.changes(obj.changes, terms=obj.terms, contract_id=obj.contract_id)
        return shown

    @admin.display(description="Changes against the previous version")
    def changes_text(self, obj):
        return format_html_join("", "<div>{}</div>", (
            (redaction.hidden_phrase(c[redaction.PLACEHOLDER_KEY], "change") if redaction.is_placeholder(c)
             else f"{c['class']}: {c['change']}",) for c in obj.changes or []))

    @admin.display(description="Missing signatures")
    def missing(self, obj):
        if obj.status != ContractStatus.PROPOSED:
            return ""
        return ", ".join(d.name for d in contract_services.missing_signatures(obj))

    def save_model(self, request, obj, form, change):
        states = form.cleaned_data.get("state_definitions")
        if change:
            contract_services.update_draft(obj, actor=request.user, version_label=obj.version, terms=obj.terms,
                                           state_definitions=states)
        else:
            created = contract_services.create_version(contract=obj.contract, version=obj.version, terms=obj.terms,
                                                       state_definitions=states or [], actor=request.user)
            for field in ContractVersion._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change)  # state definitions were set by the service

    @admin.action(description="Propose the selected drafts (freeze and collect signatures)")
    def propose_selected(self, request, queryset):
        _run(request, [lambda v=v: contract_services.propose(v, actor=request.user) for v in queryset], "proposed")

    @admin.action(description="Sign the selected version for one party…")
    def sign_one(self, request, queryset):
        """A signature is one person's, for one party: the action opens the signing form of one version."""
        versions = list(queryset[:2])
        if len(versions) != 1:
            messages.warning(request, "Select one version: you sign one version for one party at a time.")
            return None
        return redirect("admin:governance_contractversion_sign", versions[0].pk)

    @staticmethod
    def signable_parties(user, version: ContractVersion) -> list:
        """The parties that have not signed ``version`` and that ``user`` may sign for (the service's rule)."""
        if version.status != ContractStatus.PROPOSED:
            return []
        return [party for party in contract_services.missing_signatures(version) if signs_for(user, party)]

    def get_urls(self):
        return [path("<int:pk>/sign/", self.admin_site.admin_view(self.sign_view),
                     name="governance_contractversion_sign"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, admin.utils.unquote(object_id))
        if version is not None and self.signable_parties(request.user, version):
            extra_context = {**(extra_context or {}),
                             "sign_url": reverse("admin:governance_contractversion_sign", args=[version.pk])}
        return super().change_view(request, object_id, form_url, extra_context)

    def sign_view(self, request, pk):
        """Sign one proposed version for one party, chosen explicitly; someone who does not lead the party
        (a superuser) signs on its behalf, and the form and the audit record say so."""
        version = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        change_url = reverse("admin:governance_contractversion_change", args=[version.pk])
        parties = self.signable_parties(request.user, version)
        form = SignForm(request.POST or None, parties=parties, user=request.user)
        if request.method == "POST" and form.is_valid():
            department = form.cleaned_data["department"]
            try:
                contract_services.sign(version, department=department, actor=request.user,
                                       comment=form.cleaned_data["comment"])
            except Refused as exc:
                form.add_error("department", exc.message)
            else:
                behalf = " on its behalf" if form.on_behalf(department) else ""
                messages.success(request, f"You signed version {version.version} of {version.contract} for "
                                          f"{department}{behalf}.")
                return redirect(change_url)
        return TemplateResponse(request, "admin/governance/sign.html", {
            **self.admin_site.each_context(request), "title": f"Sign {version}", "version": version,
            "form": form, "parties": parties, "missing": contract_services.missing_signatures(version),
            "change_url": change_url, "opts": self.opts, "original": version,
        })


class ContractVersionInline(AccordInline):
    model = ContractVersion
    fields = ["version", "status", "change_class", "effective_from", "activated_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DataContract)
class DataContractAdmin(DataFlowAdminMixin, GovernanceAdmin):
    list_display = ["name", "producer", "consumer_list", "status", "compliance_status", "last_checked_at"]
    list_filter = [("producer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["producer", "consumers", "datasets"]
    readonly_fields = ["overview", "compliance_status", "last_checked_at", "created_at", "updated_at"]
    inlines = [ContractVersionInline]
    actions = ["run_checks_now"]
    bulk_delete = False  # a contract's signed versions are history
    reader_relations = ("datasets",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Parties and datasets are fixed once a version is proposed: refused next to the field (issue 15).
        return contract_form_for(super().get_form(request, obj, change, **kwargs), request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        contract_services.follow_contract(form.instance, actor=request.user)  # a draft binds the new parties

    @admin.action(description="Run the checks of the selected contracts now")
    def run_checks_now(self, request, queryset):
        _run(request, [lambda c=c: compliance.request_run(c, trigger="manual", actor=request.user)
                       for c in queryset], "run(s) queued")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("producer").prefetch_related("consumers", "versions")

    @admin.display(description="Consumers")
    def consumer_list(self, obj):
        return ", ".join(c.name for c in obj.consumers.all())

    @admin.display(description="Status")
    def status(self, obj):
        versions = sorted(obj.versions.all(), key=lambda v: v.pk, reverse=True)
        active = next((v for v in versions if v.status == ContractStatus.ACTIVE), None)
        pending = next((v for v in versions if v.status in (ContractStatus.DRAFT, ContractStatus.PROPOSED)), None)
        text = f"active {active.version}" if active else "not active"
        return f"{text}; {pending.version} {pending.status}" if pending else text

    @admin.display(description="Overview")
    def overview(self, obj):
        """Parties, signatures of the current version, terms in brief, and incidents (none until checks run)."""
        if obj.pk is None:
            return "—"
        version = obj.active_version() or obj.versions.order_by("-id").first()
        if version is None:
            return "No version yet."
        signed = {s.department_id: s for s in version.signatures.select_related("signed_by")}
        parties = format_html_join("", "<li>{} ({}): {}</li>", (
            (party.name, "producer" if party.pk == obj.producer_id else "consumer",
             f"signed by {signed[party.pk].signed_by} on {signed[party.pk].created_at:%Y-%m-%d}"
             if party.pk in signed else "not signed") for party in obj.parties()))
        terms = terms_context(obj.redactor.terms(version.terms, contract_id=obj.pk))  # obj: the reader's copy
        fields = sum(len(o["fields"]) for o in terms["objects"])
        covers = (f"{_plural(len(terms['objects']), 'schema object')} with {_plural(fields, 'field')}, "
                  f"{_plural(len(terms['quality']), 'quality rule')}")
        url = reverse("admin:governance_contractversion_change", args=[version.pk])
        checked = f"last checked {obj.last_checked_at:%Y-%m-%d %H:%M} UTC" if obj.last_checked_at else "never checked"
        return format_html(
            '<p>Version <a href="{}">{}</a> — {}</p><ul>{}</ul><p>Terms: {}.</p><ul class="accord-service">{}</ul>'
            "<p>Compliance: {} ({}).</p><p>Incidents: {}</p>",
            url, version.version, version.get_status_display(), parties, covers,
            format_html_join("", "<li>{}</li>", ((line,) for line in terms["service"] or ["No service levels."])),
            obj.get_compliance_status_display(), checked, self._incidents(obj))

    @staticmethod
    def _incidents(obj):
        incidents = list(obj.incidents.order_by("-id")[:5])
        if not incidents:
            return "none"
        return format_html_join(", ", '<a href="{}">{}</a>', (
            (reverse("admin:governance_incident_change", args=[i.pk]), str(i)) for i in incidents))


@admin.register(StateTransition)
class StateTransitionAdmin(GovernanceAdmin):
    list_display = ["workflow", "from_state", "to_state"]
    search_fields = ["workflow__name", "from_state__name", "to_state__name", "description"]
    autocomplete_fields = ["workflow", "from_state", "to_state"]
    list_select_related = ["workflow", "from_state", "to_state"]




# --- compliance ----------------------------------------------------------------------------------


class CheckResultInline(GovernanceInline):
    """Read-only; lists the results the reader may see (CheckResult.objects.visible_to)."""

    model = CheckResult
    fields = ["key", "kind", "status", "violations", "observed", "threshold", "duration_ms", "message"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def shown_to(self, user, objs):
        messages = redaction.messages_for(user, objs)
        shown = [copy.copy(result) for result in objs]
        for result, message in zip(shown, messages, strict=True):
            result.message = message
        return shown


@admin.register(ComplianceRun)
class ComplianceRunAdmin(GovernanceAdmin):
    list_display = ["contract_version", "scheduled_for", "trigger", "status", "outcome", "summary_text"]
    list_filter = ["outcome", "status", "trigger", ("contract_version__contract", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contract_version__contract__name"]
    date_hierarchy = "scheduled_for"
    list_select_related = ["contract_version__contract"]
    inlines = [CheckResultInline]
    redacted_fields = ("summary",)

    def note_page(self, redactor, rows):
        redactor.note_runs(run.pk for run in rows)

    def shown_to(self, user, obj):
        shown = super().shown_to(user, obj)
        shown.summary = shown.redactor.run_summary(obj.summary, run_id=obj.pk)
        return shown

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_fields(self, request, obj=None):
        return [("summary_view" if f.name == "summary" else f.name) for f in ComplianceRun._meta.fields
                if f.name != "id"]

    @admin.display(description="Results")
    def summary_view(self, obj):
        return render_to_string("admin/governance/includes/run_summary.html", counts_context(obj.summary))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by the checks only

    def has_delete_permission(self, request, obj=None):
        return False  # history

    @admin.display(description="Results")
    def summary_text(self, obj):
        return counts_sentence(obj.redactor.run_summary(obj.summary, run_id=obj.pk))


@admin.register(Incident)
class IncidentAdmin(GovernanceAdmin):
    list_display = ["__str__", "contract", "status", "assignee", "ack_due_at", "escalation_level", "created_at"]
    list_filter = ["status", ("contract", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "contract__name", "resolution_note"]
    list_select_related = ["contract", "assignee"]
    actions = ["acknowledge_selected", "resolve_selected"]
    redacted_fields = ("summary",)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_fields(self, request, obj=None):
        return [("summary_view" if f.name == "summary" else f.name) for f in Incident._meta.fields if f.name != "id"]

    @admin.display(description="Summary")
    def summary_view(self, obj):
        return render_to_string("admin/governance/includes/incident_summary.html", incident_context(obj.summary))

    def shown_to(self, user, obj):
        shown = super().shown_to(user, obj)
        shown.summary = shown.redactor.incident_summary(obj.summary, run_id=obj.opened_by_run_id)
        return shown

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # changed only by acknowledging and resolving (the actions), as through the API

    def has_delete_permission(self, request, obj=None):
        return False  # history: resolved, never deleted

    @admin.action(description="Acknowledge the selected incidents")
    def acknowledge_selected(self, request, queryset):
        _run(request, [lambda i=i: compliance.acknowledge_incident(i, actor=request.user) for i in queryset],
             "acknowledged")

    @admin.action(description="Resolve the selected incidents (with a note)")
    def resolve_selected(self, request, queryset):
        note = request.POST.get("note", "").strip()
        if request.POST.get("confirmed") != "yes" or not note:
            return TemplateResponse(request, "admin/governance/confirm_action.html", {
                **self.admin_site.each_context(request), "title": "Resolve incidents?", "objects": queryset,
                "action": "resolve_selected", "opts": self.opts, "ask_note": True,
                "explanation": "Say how they were resolved; the note is kept on each incident and in the audit log.",
            })
        _run(request, [lambda i=i: compliance.resolve_incident(i, actor=request.user, note=note) for i in queryset],
             "resolved")


class DeliveryInline(AccordInline):
    """Read-only; a subscription's deliveries are its owner's (Delivery.private_to)."""

    model = Delivery
    fields = ["event_type", "event_id", "status", "attempts", "last_status_code", "last_error", "delivered_at"]
    readonly_fields = fields
    can_delete = False
    max_num = 0
    ordering = ["-id"]


@admin.register(NotificationSubscription)
class NotificationSubscriptionAdmin(GovernanceAdmin):
    list_display = ["name", "owner", "kind", "url", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "url", "owner__username"]
    autocomplete_fields = ["departments"]
    readonly_fields = ["owner", "created_at", "updated_at"]
    inlines = [DeliveryInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        if obj.kind != "webhook":  # a Slack-compatible hook is not signed: there is no secret to show
            return super().response_add(request, obj, post_url_continue)
        return secret_shown_once(
            request, self, obj, secret=obj.secret, title="Subscription created", secret_label="The signing secret",
            what=f"Deliveries to “{obj.name}” are signed with this secret (Standard Webhooks, "
                 "“webhook-signature”); your receiver verifies them with it.",
            if_lost="delete this subscription and create another.")


@admin.register(Delivery)
class DeliveryAdmin(GovernanceAdmin):
    list_display = ["event_type", "event_id", "subscription", "status", "attempts", "last_status_code",
                    "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "subscription__name"]
    list_select_related = ["subscription"]
    readonly_fields = ()
    actions = ["resend_selected"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by the sender only; "Re-send" asks for another attempt

    def has_delete_permission(self, request, obj=None):
        return False  # the API keeps deliveries too (read-only)

    @admin.action(description="Re-send the selected deliveries (same event id)")
    def resend_selected(self, request, queryset):
        _run(request, [lambda d=d: notifications.redeliver(d, actor=request.user) for d in queryset], "queued")
from governance import scorecard_admin  # noqa: E402, F401  (the scorecard's pages, snapshots and meetings)
