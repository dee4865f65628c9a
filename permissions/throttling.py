"""Refusing credentials that keep failing, without refusing anybody else's.

django-axes counts failures per (credential, client address): an account name for the
admin's sign-in, ``token:<prefix>`` for an API token (its first characters, which are not
secret). After ``ACCORD_AUTH_FAILURE_LIMIT`` failures of one credential from one address,
that credential is refused from that address (429 with ``Retry-After``) until
``ACCORD_AUTH_FAILURE_WINDOW`` seconds have passed since its last failure; a success resets
its count. Another account, another token, or the same one from another address is never
refused because of those failures. Counts live in the database (axes' ``AccessAttempt``),
so they hold across every web process. The client address is ``permissions.clientip``'s.

Every failure is also in the audit log (``login_failed``, ``token_rejected``).
"""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponse, JsonResponse


def token_credentials(prefix: str) -> dict:
    """What axes counts an API token's failures under: its prefix, never the token."""
    return {"username": f"token:{prefix}"}


def token_allowed(request, prefix: str) -> bool:
    return AxesProxyHandler.is_allowed(request, token_credentials(prefix))


def token_failed(request, prefix: str, *, sender) -> None:
    """Count a rejected token (axes listens to Django's ``user_login_failed``)."""
    user_login_failed.send(sender=sender, credentials=token_credentials(prefix), request=request)


def retry_after() -> int:
    return int(settings.ACCORD_AUTH_FAILURE_WINDOW)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """axes' lockout answer (``AXES_LOCKOUT_CALLABLE``): 429 with ``Retry-After``, JSON on the API."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": "Too many failed authentication attempts with this credential "
                                           "from your address. Try again later."}, status=429)
    else:
        response = HttpResponse("Too many failed sign-in attempts for this account from your address. "
                                "Try again later.", status=429, content_type="text/plain")
    response["Retry-After"] = str(retry_after())
    return response
