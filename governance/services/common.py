from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from catalog.models import Department


def acts_for(user, department: Department) -> bool:
    """Whether ``user`` may act for ``department``: its lead (or a lead above it), or a superuser."""
    return bool(user.is_superuser or department.pk in Department.led_ids_for(user))


def is_council(user) -> bool:
    return bool(user.is_superuser or user.groups.filter(name=settings.ACCORD_COUNCIL_GROUP).exists())


def now():
    return timezone.now()
