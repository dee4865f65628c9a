from __future__ import annotations

from django.utils import timezone

from catalog.models import Department
from permissions.council import is_council

__all__ = ["acts_for", "is_council", "now"]


def acts_for(user, department: Department) -> bool:
    """Whether ``user`` may act for ``department``: its lead (or a lead above it), or a superuser."""
    return bool(user.is_superuser or department.pk in Department.led_ids_for(user))


def now():
    return timezone.now()
