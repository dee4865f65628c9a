"""Scheduled harvests: one django-celery-beat periodic task per System whose harvest settings
have a cron ``schedule``, kept in step with the settings whenever they are saved or deleted (in
the same transaction, under the same actor, so the audit log shows who scheduled what).

Beat sends the task with the System's id only; the task keys its run on the tick the schedule
last fired (``tick_for``), so every delivery of one tick finds the same ``HarvestRun``."""

from __future__ import annotations

import datetime
import json

from django_celery_beat.models import PeriodicTask

from catalog.models import System
from governance.services.schedules import crontab_for, periodic_tick
from harvest.models import HarvestSettings

HARVEST_TASK = "harvest.tasks.run_scheduled_harvest"


def task_name(system: System) -> str:
    return f"Accord: harvest {system.slug}"


def sync_harvest_schedule(config: HarvestSettings, *, deleted: bool = False) -> PeriodicTask | None:
    """Create, update, disable (no schedule) or delete (``deleted``) the System's periodic harvest
    to match ``config``. Writes
    only what differs; the periodic task's own writes are audited under the current actor."""
    args = json.dumps([config.system_id])
    existing = PeriodicTask.objects.filter(task=HARVEST_TASK, args=args).first()
    if deleted:  # the settings (or their System) are gone: so is the schedule
        if existing is not None:
            existing.delete()
        return None
    system, expression = config.system, (config.schedule or "").strip()
    if not expression:
        if existing is not None and existing.enabled:
            existing.enabled = False
            existing.save()
        return existing
    crontab = crontab_for(expression)
    _free(task_name(system), args)
    if existing is None:
        return PeriodicTask.objects.create(
            name=task_name(system), task=HARVEST_TASK, crontab=crontab, args=args,
            description=f"Harvest of {system.name} ({expression})")
    wanted = {"crontab_id": crontab.pk, "enabled": True, "name": task_name(system),
              "description": f"Harvest of {system.name} ({expression})"}
    if any(getattr(existing, key) != value for key, value in wanted.items()):
        for key, value in wanted.items():
            setattr(existing, key, value)
        existing.save()
    return existing


def _free(name: str, args: str) -> None:
    """Periodic task names are unique: a task another System still holds under this name (its slug
    changed since its settings were saved, and this System took the old slug) is renamed with its
    System's id, until its own settings are next saved."""
    for stale in PeriodicTask.objects.filter(task=HARVEST_TASK, name=name).exclude(args=args):
        stale.name = f"{name} (system #{', '.join(map(str, json.loads(stale.args or '[]')))})"[:200]
        stale.save()


def tick_for(system: System, at: datetime.datetime) -> datetime.datetime:
    """The schedule tick ``at`` belongs to: the last time at or before ``at`` that the System's
    periodic harvest fires (its crontab as edited in the admin, else the settings' schedule)."""
    periodic = PeriodicTask.objects.filter(task=HARVEST_TASK, args=json.dumps([system.pk])).first()
    config = HarvestSettings.objects.filter(system=system).first()
    name = periodic.name if periodic is not None else task_name(system)
    return periodic_tick(name, config.schedule if config else "", at)
