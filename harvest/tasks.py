"""Celery tasks of harvesting: ids in, the run re-read, safe to run twice (one run per System
and time, ``HarvestRun``'s unique key)."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils.dateparse import parse_datetime

from catalog.models import System
from harvest import services
from harvest.models import HarvestTrigger


@shared_task(acks_late=True, reject_on_worker_lost=True)
def harvest_system(system_id: int, *, trigger: str = HarvestTrigger.MANUAL, requested_by_id: int | None = None,
                   scheduled_for: str | None = None) -> str:
    """Harvest one System. ``scheduled_for`` (ISO time) names the run, so a redelivery finishes
    the same run instead of starting another."""
    from django.contrib.auth import get_user_model

    system = System.objects.get(pk=system_id)
    requested_by = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    at: datetime.datetime | None = parse_datetime(scheduled_for) if scheduled_for else None
    return services.harvest(system, trigger=trigger, requested_by=requested_by, scheduled_for=at).status
