"""The self-service page: every active user, staff or not, signs in (Django's login) and sees
their API tokens (create with a name and an expiry, revoke) and what waits for them (state
definitions to approve, contracts to sign), with links to where they act.

Tokens are created and revoked through ``permissions.services`` (audited there). A new token
is shown once, on the page answering the POST that made it: never in a message, the session,
a cookie or a redirect, and that page is not to be cached.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from permissions.admin import _ShownOnce, opted_out_of
from permissions.models import ApiToken
from permissions.models.tokens import token_expiry
from permissions.services import create_token, revoke_token

LOGIN_URL = "accord-login"


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “dbt nightly run”.")
    expires_at = forms.DateTimeField(
        required=False, label="Expires at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"Empty: {settings.ACCORD_TOKEN_DEFAULT_DAYS} days from now; at most "
                  f"{settings.ACCORD_TOKEN_MAX_LIFETIME_DAYS} days from now.")

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        return None if value is None else token_expiry(value)


def _active_only(view):
    """Signed in and active (an account deactivated since is treated as signed out)."""
    @login_required(login_url=LOGIN_URL)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_active:
            return redirect(LOGIN_URL)
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def pending_for(user) -> dict[str, list[dict]]:
    """What waits for ``user``: proposed state-definition versions they may approve for a
    department that has not yet, and proposed contract versions a department they act for has
    not signed. Read through the governance services, from what the user may see."""
    # The governance app sits above the trust layer; this page is the one place that shows both.
    from governance.choices import ContractStatus, VersionStatus
    from governance.models import ContractVersion, StateDefinitionVersion
    from governance.services import contracts as contract_services
    from governance.services import states as state_services
    from governance.services.common import acts_for

    approvals = []
    versions = (StateDefinitionVersion.objects.visible_to(user).filter(status=VersionStatus.PROPOSED)
                .select_related("definition").order_by("definition__name", "number"))
    for version in versions:
        departments = [d for d in state_services.pending_departments(version)
                       if state_services.can_approve_for(user, version, d)]
        if departments:
            approvals.append({"version": version, "departments": departments,
                              "url": reverse("admin:governance_statedefinitionversion_change", args=[version.pk])})
    signatures = []
    contracts = (ContractVersion.objects.visible_to(user).filter(status=ContractStatus.PROPOSED)
                 .select_related("contract").order_by("contract__name", "version"))
    for version in contracts:
        departments = [d for d in contract_services.missing_signatures(version) if acts_for(user, d)]
        if departments:
            signatures.append({"version": version, "departments": departments,
                               "url": reverse("admin:governance_contractversion_sign", args=[version.pk])})
    return {"approvals": approvals, "signatures": signatures}


def _page(request: HttpRequest, form: TokenForm, *, new_token: ApiToken | None = None, raw: str = "",
          status: int = 200) -> TemplateResponse:
    user = request.user
    context = {
        **admin.site.each_context(request), "title": "Your account", "form": form,
        "tokens": ApiToken.objects.filter(user=user).order_by("-created_at"),
        "new_token": new_token, "secret": _ShownOnce(raw) if raw else None,
        "pending": pending_for(user), "opted_out": opted_out_of(user, viewer=user),
        "explain_url": reverse("admin:permissions_explain") if user.is_staff else None,
    }
    response = TemplateResponse(request, "accord/self/home.html", context, status=status)
    add_never_cache_headers(response)
    return response


@require_GET
@_active_only
def home(request: HttpRequest) -> HttpResponse:
    """Your tokens, what waits for you, and what you are opted out of."""
    return _page(request, TokenForm())


@require_POST
@_active_only
def create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid() and ApiToken.objects.filter(user=request.user, name=form.cleaned_data["name"],
                                                   revoked_at__isnull=True).exists():
        form.add_error("name", "You already have a token with this name; choose another or revoke that one.")
    if not form.is_valid():
        return _page(request, form, status=400)
    token, raw = create_token(user=request.user, name=form.cleaned_data["name"],
                              expires_at=form.cleaned_data.get("expires_at"), actor=request.user)
    return _page(request, TokenForm(), new_token=token, raw=raw)


@require_POST
@_active_only
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404  # someone else's token is as missing as one that does not exist
    revoke_token(token, actor=request.user)
    messages.success(request, f"Revoked the token “{token.name}” ({token.prefix}…).")
    return redirect("accord-self")
