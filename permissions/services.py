"""Trust-layer services: tokens and access rules, each change audited."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from permissions import audit, context
from permissions.errors import NotAllowed
from permissions.models import ApiToken, AuditAction
from permissions.models.tokens import token_expiry


def may_manage_tokens_of(actor, owner) -> bool:
    """A token authenticates as its owner: people manage their own; superusers (and the
    system, ``Actor(system=...)``) anybody's."""
    user = context.as_actor(actor).user
    return user is None or user.is_superuser or user.pk == owner.pk


def _ensure_may_manage(actor, owner) -> None:
    if not may_manage_tokens_of(actor, owner):
        raise NotAllowed("Only a superuser may create or revoke someone else's API token.")


def create_token(*, user, name: str, actor, expires_at: datetime.datetime | None = None,
                 never_expires: bool = False) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it and the raw token, which is never stored.

    The expiry is ``token_expiry``'s: within ACCORD_TOKEN_MAX_LIFETIME_DAYS or a ValidationError;
    ``never_expires`` gets the maximum."""
    _ensure_may_manage(actor, user)
    expires_at = token_expiry(expires_at, longest=never_expires)
    raw, prefix, key_hash = ApiToken.generate()
    with context.acting_as(actor), transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=prefix, key_hash=key_hash, expires_at=expires_at)
        audit.record_event(
            AuditAction.TOKEN_CREATED, token,
            details={"user": user.get_username(), "name": name, "prefix": prefix,
                     "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return token, raw


def revoke_token(token: ApiToken, *, actor) -> ApiToken:
    with context.acting_as(actor), transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        _ensure_may_manage(actor, token.user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record_event(
                AuditAction.TOKEN_REVOKED, token,
                details={"user": token.user.get_username(), "name": token.name, "prefix": token.prefix},
            )
    return token
