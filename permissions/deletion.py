"""Deleting only what you can see.

Deleting an object also deletes (or is blocked by) the objects that depend on it.
When some of those are hidden from the person deleting, the deletion is refused
with a message that names none of them: otherwise the confirmation page, the
error, or the cascade itself would reveal or destroy what deny rules hide.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import router
from django.db.models.deletion import Collector, ProtectedError, RestrictedError

from permissions.errors import Conflict

HIDDEN_DEPENDENTS = ("Objects you cannot see depend on this one, so you cannot delete it; ask the DataOps council.")
REFERENCED = "This object is still referenced by other objects; reassign or delete those first."


def _visible(model, user, pks) -> set:
    manager = model._default_manager
    if not hasattr(manager, "visible_to"):
        return set(pks)
    return set(manager.visible_to(user).filter(pk__in=pks).values_list("pk", flat=True))


def hidden_dependents(objs, user) -> bool:
    """Whether deleting ``objs`` would touch or be blocked by rows hidden from ``user``."""
    if user.is_superuser or not objs:
        return False
    collector = Collector(using=router.db_for_write(type(objs[0])), origin=objs)
    try:
        collector.collect(list(objs))
    except (ProtectedError, RestrictedError) as exc:
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        by_model: dict = {}
        for obj in blocking:
            by_model.setdefault(type(obj), set()).add(obj.pk)
        return any(_visible(model, user, pks) != pks for model, pks in by_model.items())
    for model, instances in collector.data.items():
        pks = {obj.pk for obj in instances}
        if _visible(model, user, pks) != pks:
            return True
    return False


#: Other apps' reasons a deletion must not happen, whatever path asks (``register_guard``).
_GUARDS: list[Callable[[list], str | None]] = []


def register_guard(guard: Callable[[list], str | None]) -> None:
    """Add a check every deletion through the API and the admin asks: ``guard(objs)`` returns why
    deleting ``objs`` (and what would go with them) is refused, or ``None``. Governance registers
    one, so deleting a catalog object never deletes history that refers to it."""
    if guard not in _GUARDS:
        _GUARDS.append(guard)


def refusal(objs, user) -> str | None:
    """Why ``user`` may not delete ``objs``, or ``None``."""
    objs = list(objs)
    if hidden_dependents(objs, user):
        return HIDDEN_DEPENDENTS
    for guard in _GUARDS:
        reason = guard(objs)
        if reason:
            return reason
    return None


def ensure_deletable_by(objs, user) -> None:
    reason = refusal(objs, user)
    if reason:
        raise Conflict(reason)
