from __future__ import annotations

import datetime
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from permissions.querysets import RestrictedQuerySet

TOKEN_PREFIX = "accord_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough to make a leaked
    # table useless; a password hash would only slow every API call.
    return hashlib.sha256(raw.encode()).hexdigest()


def max_lifetime() -> datetime.timedelta:
    return datetime.timedelta(days=settings.ACCORD_TOKEN_MAX_LIFETIME_DAYS)


def token_expiry(requested: datetime.datetime | None = None, *, longest: bool = False,
                 now: datetime.datetime | None = None) -> datetime.datetime:
    """The expiry of a token created ``now``: ``requested`` if it is within the maximum lifetime
    (``ACCORD_TOKEN_MAX_LIFETIME_DAYS``), else a ValidationError naming the limit; without one,
    ``ACCORD_TOKEN_DEFAULT_DAYS`` from now, or the maximum when ``longest`` (a token asked to never
    expire). Never None: every token expires."""
    now = now or timezone.now()
    limit = now + max_lifetime()
    if requested is None:
        return limit if longest else min(limit, now + datetime.timedelta(days=settings.ACCORD_TOKEN_DEFAULT_DAYS))
    if requested <= now:
        raise ValidationError("The expiry must be in the future.", code="expired")
    if requested > limit:
        raise ValidationError(
            "Tokens expire at most %(days)d days after they are created (ACCORD_TOKEN_MAX_LIFETIME_DAYS): "
            "give an expiry before %(limit)s, or none for the default.",
            code="too_long", params={"days": settings.ACCORD_TOKEN_MAX_LIFETIME_DAYS,
                                     "limit": limit.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")})
    return requested


class ApiTokenQuerySet(RestrictedQuerySet):
    def usable(self) -> ApiTokenQuerySet:
        """Neither revoked nor expired. Whatever its expiry, a token lives at most the maximum lifetime
        from its creation (tokens made before the limit, or while it was longer, included)."""
        now = timezone.now()
        unexpired = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        return self.filter(unexpired, revoked_at__isnull=True, created_at__gt=now - max_lifetime())


class ApiToken(models.Model):
    """A named, per-user API token. Only its hash is stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'dbt nightly run'.")
    prefix = models.CharField(max_length=16, db_index=True, editable=False, help_text="Identifies the token.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()
    private_to = "user"  # permissions.visibility: its user's (and superusers') only

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"], condition=models.Q(revoked_at__isnull=True),
                name="apitoken_active_name_unique",
                violation_error_message="You already have an active token with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return (self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
                and (self.created_at is None or self.created_at > now - max_lifetime()))

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new raw token, its display prefix and its hash."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(TOKEN_PREFIX) + 6], hash_token(raw)
