from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from permissions.querysets import RestrictedQuerySet

TOKEN_PREFIX = "accord_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough to make a leaked
    # table useless; a password hash would only slow every API call.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(RestrictedQuerySet):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        unexpired = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        return self.filter(unexpired, revoked_at__isnull=True)


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
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new raw token, its display prefix and its hash."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(TOKEN_PREFIX) + 6], hash_token(raw)
