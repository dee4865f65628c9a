"""The trust layer in the admin: deny rules (with exceptions and explain), API
tokens (shown once), and a read-only audit log."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Prefetch, Q, Value
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from permissions import audit
from permissions.access import explain, targetable_models
from permissions.admin_base import AccordInline, AccordModelAdmin
from permissions.models import AccessRule, AccessRuleException, ApiToken, AuditRecord, TargetKind
from permissions.models.tokens import token_expiry
from permissions.services import create_token, may_manage_tokens_of, revoke_token


def hidden_target(user, prefix: str = "") -> Q:
    """The rules (reached through ``prefix``, e.g. ``"rule__"``) whose target object ``user``
    may not see: for them the admin shows the kind of object, never its name or id."""
    condition = Q(pk__in=[])
    for model in targetable_models():
        visible = model._default_manager.visible_to(user).filter(pk=OuterRef(f"{prefix}target_id"))
        condition |= Q(**{f"{prefix}target_type": ContentType.objects.get_for_model(model)}) & ~Exists(visible)
    return Q(**{f"{prefix}target_kind": TargetKind.OBJECT}) & condition


def with_target_hidden(queryset, user, prefix: str = ""):
    """``queryset`` annotated with ``target_hidden`` (see ``hidden_target``)."""
    if user.is_superuser:
        return queryset.annotate(target_hidden=Value(False, output_field=BooleanField()))
    return queryset.annotate(target_hidden=ExpressionWrapper(hidden_target(user, prefix), BooleanField()))


def rule_label(rule: AccessRule, target_hidden: bool) -> str:
    """A rule's label for a reader: its target by name if they see it (``str(rule)`` never names it)."""
    if target_hidden:
        return f"Deny {rule.subject_label()} → 1 {rule.target_type.name} you cannot see"
    return f"Deny {rule.subject_label()} → {rule.target_label()}"


def opted_out_of(user, *, viewer) -> list[dict]:
    """What ``user`` is opted out of: each active deny rule that applies to them with no
    exception lifting it, its target as ``viewer`` may name it, and its reason."""
    from permissions.access import rules_applying_to

    rules = with_target_hidden(
        rules_applying_to(user).select_related("target_type", "target_tag", "subject_department",
                                               "subject_group", "subject_user"), viewer)
    return [{"rule": rule.pk, "label": rule_label(rule, rule.target_hidden), "reason": rule.reason,
             "expires_at": rule.expires_at,
             "exceptions": [exc.subject_label() for exc in rule.exceptions.all()]}
            for rule in rules.prefetch_related(Prefetch(
                "exceptions", queryset=AccessRuleException.objects.active().select_related(
                    "subject_department", "subject_group", "subject_user"))).order_by("pk")]


def _is_autocomplete(request) -> bool:
    return request.path == reverse("admin:autocomplete")


class ExceptionInline(AccordInline):
    model = AccessRuleException
    fields = ["subject_kind", "subject_department", "subject_group", "subject_user", "reason", "expires_at"]
    autocomplete_fields = ["subject_department", "subject_user"]
    show_change_link = False


class ExplainForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))
    object_type = forms.ChoiceField(choices=())
    object_id = forms.IntegerField(min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["object_type"].choices = [
            (m._meta.label_lower, m._meta.verbose_name.capitalize()) for m in targetable_models()
        ]


@admin.register(AccessRule)
class AccessRuleAdmin(AccordModelAdmin):
    list_display = ["id", "rule_for_reader", "reason", "expires_at", "created_by"]
    list_filter = ["subject_kind", "target_kind", "classification"]
    search_fields = ["reason", "subject_user__username", "subject_group__name", "subject_department__name"]
    autocomplete_fields = ["subject_department", "subject_user", "target_tag"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [ExceptionInline]
    fieldsets = [
        ("Who is opted out", {"fields": ["subject_kind", "subject_department", "subject_group", "subject_user"]}),
        ("Of what", {"fields": ["target_kind", "target_type", "target_id", "classification", "target_tag"]}),
        ("Why and until when", {"fields": ["reason", "expires_at", "created_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return with_target_hidden(super().get_queryset(request), request.user)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _is_autocomplete(request):  # an autocomplete answers with labels: none for a hidden target
            queryset = queryset.filter(target_hidden=False)
        return queryset, may_have_duplicates

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.target_hidden:
            return fieldsets
        # Neither the object's name nor its id: the target is shown (and kept) as it is.
        return [(title, {**options, "fields": [name for name in options["fields"]
                                               if name not in ("target_type", "target_id")]
                         + (["target_for_reader"] if "target_id" in options["fields"] else [])})
                for title, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "target_for_reader"] if obj is not None and obj.target_hidden else readonly

    @admin.display(description="Rule")
    def rule_for_reader(self, obj):
        return rule_label(obj, obj.target_hidden)

    @admin.display(description="Target")
    def target_for_reader(self, obj):
        return f"1 {obj.target_type.name} you cannot see"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            if instance.pk is None:
                instance.created_by = request.user
            instance.save()
        for deleted in formset.deleted_objects:
            deleted.delete()
        formset.save_m2m()

    def get_urls(self):
        return [path("explain/", self.admin_site.admin_view(self.explain_view), name="permissions_explain"),
                *super().get_urls()]

    def explain_view(self, request: HttpRequest):
        """Anyone signed in to the admin may explain their own access (as through the API);
        those who read the rules, anybody's."""
        about_anyone = self.has_view_permission(request)
        form = ExplainForm(request.GET or None, initial={"user": request.user.pk})
        if not about_anyone:
            form.fields["user"].queryset = get_user_model().objects.filter(pk=request.user.pk)
        result = None
        if form.is_valid():
            model = {m._meta.label_lower: m for m in targetable_models()}[form.cleaned_data["object_type"]]
            obj = model._default_manager.visible_to(request.user).filter(pk=form.cleaned_data["object_id"]).first()
            if obj is None:
                form.add_error("object_id", "No such object.")
            else:
                result = explain(form.cleaned_data["user"], obj)
                if not about_anyone:
                    result.pop("not_applicable", None)  # rules about other people are not theirs to read
        subject = (getattr(form, "cleaned_data", None) or {}).get("user") or request.user
        context = {**self.admin_site.each_context(request), "title": "Explain access", "form": form,
                   "result": result, "opts": self.model._meta, "subject": subject,
                   "opted_out": opted_out_of(subject, viewer=request.user)}
        return TemplateResponse(request, "admin/permissions/explain.html", context)


@admin.register(AccessRuleException)
class AccessRuleExceptionAdmin(AccordModelAdmin):
    list_display = ["id", "rule_for_reader", "subject_kind", "reason", "expires_at"]
    list_filter = ["subject_kind"]
    search_fields = ["reason", "rule__reason", "subject_user__username"]
    autocomplete_fields = ["rule", "subject_department", "subject_user"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    list_select_related = ["rule__target_type", "rule__subject_department", "rule__subject_group",
                           "rule__subject_user"]

    def get_queryset(self, request):
        return with_target_hidden(super().get_queryset(request), request.user, prefix="rule__")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return ["rule_for_reader" if name == "rule" else name for name in fields]  # read-only page
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "rule":
            # The chosen rule's label (the autocomplete offers only rules with a visible target).
            user = request.user
            formfield.label_from_instance = lambda rule: rule_label(
                rule, with_target_hidden(AccessRule.objects.filter(pk=rule.pk), user)
                .values_list("target_hidden", flat=True).first())
        return formfield

    @admin.display(description="Rule")
    def rule_for_reader(self, obj):
        return rule_label(obj.rule, obj.target_hidden)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class _ShownOnce(str):
    """A secret in a template context: rendered as itself, never in a repr. Django's template engine logs the
    whole context at DEBUG when a variable is missing, so a plain string would reach the logs."""

    def __repr__(self) -> str:
        return "'<secret, shown once>'"


def secret_shown_once(request, model_admin, obj, *, secret: str, title: str, what: str, secret_label: str,
                      if_lost: str) -> TemplateResponse:
    """The answer to the POST that made ``secret``: the one page that shows it. Nothing else carries it (no
    message, session, redirect or log line), and the page is not to be cached."""
    opts = model_admin.opts
    context = {
        **model_admin.admin_site.each_context(request), "opts": opts, "title": title, "subtitle": None,
        "what": what, "secret": _ShownOnce(secret), "secret_label": secret_label, "if_lost": if_lost,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        "change_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]),
    }
    response = TemplateResponse(request, "admin/secret_shown_once.html", context)
    add_never_cache_headers(response)
    return response


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields:  # a token's own page shows it read-only
            self.fields["expires_at"].help_text = (
                f"Empty: {settings.ACCORD_TOKEN_DEFAULT_DAYS} days from now. At most "
                f"{settings.ACCORD_TOKEN_MAX_LIFETIME_DAYS} days from now (ACCORD_TOKEN_MAX_LIFETIME_DAYS).")

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        return None if value is None else token_expiry(value)


@admin.register(ApiToken)
class ApiTokenAdmin(AccordModelAdmin):
    """Tokens are their user's (superusers: everyone's; ``ApiToken.private_to``)."""

    form = ApiTokenForm
    readonly_fields = ()
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "name", "prefix", "expires_at", "last_used_at", "revoked_at", "created_at"] if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # A token authenticates as its user: only superusers may mint one for someone else.
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_autocomplete_fields(self, request):
        return ["user"] if request.user.is_superuser else []

    def save_model(self, request, obj, form, change):
        if change:
            return  # tokens are immutable; revoke and create a new one instead
        owner = form.cleaned_data["user"]
        if not may_manage_tokens_of(request.user, owner):
            raise PermissionDenied
        token, raw = create_token(user=owner, name=form.cleaned_data["name"],
                                  expires_at=form.cleaned_data.get("expires_at"), actor=request.user)
        for name in ("pk", "prefix", "key_hash", "created_at", "expires_at"):
            setattr(obj, name, getattr(token, name))
        obj.raw_token = raw  # for response_add, on this instance of this request only

    def response_add(self, request, obj, post_url_continue=None):
        expires = timezone.localtime(obj.expires_at).strftime("%Y-%m-%d %H:%M %Z")
        return secret_shown_once(
            request, self, obj, secret=obj.raw_token, title="API token created", secret_label="The token",
            what=f"The token “{obj.name}” for {obj.user} (prefix {obj.prefix}) works until {expires}. Send it "
                 "as “Authorization: Bearer <token>”.",
            if_lost="revoke this token and create another.")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        for token in queryset:
            revoke_token(token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditRecord)
class AuditRecordAdmin(AccordModelAdmin):
    """Read-only: the database refuses changes anyway, and the admin offers none."""

    list_display = ["seq", "timestamp", "action", "actor_name", "object_type", "object_repr", "request_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_repr", "object_id", "request_id", "client_request_id", "reason"]
    date_hierarchy = "timestamp"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditRecord._meta.fields if f.name != "changes"] + ["changes_pretty"]
    exclude = ["changes"]

    @admin.display(description="Changes")
    def changes_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, default=str))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "chain_head": audit.chain_head()}
        return super().changelist_view(request, extra_context)
