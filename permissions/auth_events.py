"""Logins, logouts and failed logins go to the audit log."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from permissions import audit
from permissions.models import AuditAction


def on_login(sender, request, user, **kwargs) -> None:
    audit.record_event(AuditAction.LOGIN, user, actor_name=user.get_username(), actor_id=user.pk)


def on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit.record_event(AuditAction.LOGOUT, user, actor_name=user.get_username(), actor_id=user.pk)


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    from permissions.api.authentication import BearerTokenAuthentication

    if sender is BearerTokenAuthentication:
        return  # a rejected token: audited as token_rejected where it was rejected
    username = str(credentials.get("username", ""))[:150]  # never the password
    audit.record_event(AuditAction.LOGIN_FAILED, object_type="auth.user", object_repr=username,
                       actor_name="anonymous", details={"username": username})


def connect() -> None:
    user_logged_in.connect(on_login, dispatch_uid="accord_audit_login")
    user_logged_out.connect(on_logout, dispatch_uid="accord_audit_logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="accord_audit_login_failed")
