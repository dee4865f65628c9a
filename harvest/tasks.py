"""Celery tasks of harvesting: ids in, the run re-read, safe to run twice (one run per System
and time, ``HarvestRun``'s unique key)."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import System
from harvest import schedules, services
from harvest.models import HarvestTrigger
from permissions.context import system_actor

now = timezone.now  # the scheduled task's clock; tests move it


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


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_scheduled_harvest(system_id: int, tick: str | None = None) -> str:
    """Beat's entry point (the periodic task's args: the System's id): one harvest per System and
    schedule tick. Beat names no tick, so the task takes the last time the System's schedule fired
    (``schedules.tick_for``): every delivery of one tick (a redelivery after a worker died, a
    second beat, a backlog drained late) finds the same run, which a finished harvest does not repeat."""
    with system_actor("scheduler", reason=f"Scheduled harvest of system {system_id}"):
        system = System.objects.filter(pk=system_id).first()
        if system is None:
            return "no such system"
        scheduled_for = datetime.datetime.fromisoformat(tick) if tick else schedules.tick_for(system, now())
        return services.harvest(system, trigger=HarvestTrigger.SCHEDULED, scheduled_for=scheduled_for).status
