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
    answers 401; a client address with too many recent failures answers 429.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        client_ip = request.META.get("REMOTE_ADDR")
        if throttling.too_many_failures(client_ip):
            raise exceptions.Throttled(throttling.retry_after(), "Too many failed authentication attempts.")
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The token contains invalid characters.") from exc
        token = ApiToken.objects.usable().select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.user.is_active:
            self._reject(raw)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def _reject(self, raw: str):
        shown = raw[: len(TOKEN_PREFIX) + 6] if raw.startswith(TOKEN_PREFIX) else "(not an Accord token)"
        audit.record_event(AuditAction.TOKEN_REJECTED, object_type="permissions.apitoken", object_repr=shown,
                           actor_name="anonymous", details={"prefix": shown})
        raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for the browsable API (CSRF enforced on writes)."""
