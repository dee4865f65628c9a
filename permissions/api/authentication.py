"""API authentication: per-user Bearer tokens for tooling, sessions for people."""

from __future__ import annotations

import datetime

from django.utils import timezone
from rest_framework import authentication, exceptions

from permissions import audit, throttling
from permissions.models import ApiToken, AuditAction
from permissions.models.tokens import TOKEN_PREFIX, hash_token

# last_used_at is written at most this often per token, to keep reads read-only.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``: a named, expiring, revocable token.

    A bad, expired or revoked token is audited (by prefix, never the token) and
    answers 401. Once a token prefix has failed too often from the client's address, a
    failing token with that prefix answers 429 from that address
    (``permissions.throttling``); a valid token is never refused for others' failures.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The token contains invalid characters.") from exc
        prefix = shown_prefix(raw)
        # The token is looked up first: a valid token is accepted whatever others sent with
        # its prefix (which is not secret); only a failing one is throttled and counted.
        token = ApiToken.objects.usable().select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.user.is_active:
            if not throttling.token_allowed(request, prefix):
                raise exceptions.Throttled(throttling.retry_after(), "Too many failed authentication attempts "
                                                                     "with this token from your address.")
            self._reject(request, prefix)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def _reject(self, request, prefix: str):
        audit.record_event(AuditAction.TOKEN_REJECTED, object_type="permissions.apitoken", object_repr=prefix,
                           actor_name="anonymous", details={"prefix": prefix})
        throttling.token_failed(request, prefix, sender=type(self))
        raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def shown_prefix(raw: str) -> str:
    """The part of a presented token that may be shown and counted: an Accord token's prefix
    (``ApiToken.prefix``), never more."""
    return raw[: len(TOKEN_PREFIX) + 6] if raw.startswith(TOKEN_PREFIX) else "(not an Accord token)"


class SessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for the browsable API (CSRF enforced on writes)."""
