"""What every governance service shares: who acts, and what they may act for.

Every service that changes data takes ``actor``, a required keyword argument: a user, or
``permissions.context.Actor(system=...)`` for work the product does by itself (beat, a
task, a command). The service runs inside ``context.acting_as(actor)``, so its audit
records name that actor, and checks the actor's right to the workflow action itself, so
the API, the admin and commands get the same refusal.
"""

from __future__ import annotations

from django.utils import timezone

from catalog.models import Department
from permissions import context
from permissions.council import is_council
from permissions.errors import NotAllowed

__all__ = ["acting_as", "acts_for", "is_council", "now", "person", "user_of"]

acting_as = context.acting_as


def user_of(actor):
    """The user behind ``actor``, or ``None`` for a system component."""
    return context.as_actor(actor).user


def person(actor, *, to: str):
    """The user behind ``actor``; a system component is refused, because ``to`` (sign,
    approve…) records a person who answers for it."""
    user = user_of(actor)
    if user is None:
        raise NotAllowed(f"Only a person may {to}; {context.as_actor(actor).name} is a system component.")
    return user


def acts_for(user, department: Department) -> bool:
    """Whether ``user`` may act for ``department``: its lead (or a lead above it), or a superuser."""
    return bool(user.is_superuser or department.pk in Department.led_ids_for(user))


def signs_for(user, department: Department) -> bool:
    """Whether ``user`` may sign for ``department``: who acts for it, or a member of the DataOps
    council signing on its behalf (the signature's audit record says ``on_behalf``)."""
    from permissions.council import is_council

    return acts_for(user, department) or is_council(user)


def now():
    return timezone.now()
