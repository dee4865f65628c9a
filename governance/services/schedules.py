"""Check schedules live in the database (django-celery-beat), so they are edited in
the admin and every edit is audited. One periodic task per contract with an active
version and a cron schedule, plus Accord's own housekeeping tasks."""

from __future__ import annotations

import json

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from governance.models import DataContract
from governance.services.common import acting_as

CONTRACT_TASK = "governance.tasks.run_scheduled_contract_checks"
HOUSEKEEPING = [
    # (name, task, every seconds)
    ("Accord: escalate overdue incidents", "governance.tasks.escalate_incidents", 300),
    ("Accord: retry notification deliveries", "governance.tasks.retry_due_notifications", 60),
    ("Accord: activate contract versions after their notice period", "governance.tasks.activate_due_contract_versions",
     3600),
]


def task_name(contract: DataContract) -> str:
    return f"Accord: check contract {contract.slug}"


def _crontab(expression: str) -> CrontabSchedule:
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week,
        timezone=settings.CELERY_TIMEZONE)
    return schedule


def sync_contract_schedule(contract: DataContract, *, actor) -> PeriodicTask | None:
    """Create, update or disable the contract's periodic check to match its active version."""
    with acting_as(actor):
        return _sync(contract)


def _sync(contract: DataContract) -> PeriodicTask | None:
    version = contract.active_version()
    expression = (version.terms.get("schedule") if version else None) or ""
    existing = PeriodicTask.objects.filter(name=task_name(contract)).first()
    if not expression:
        if existing is not None and existing.enabled:
            existing.enabled = False
            existing.save()
        return existing
    crontab = _crontab(expression)
    args = json.dumps([contract.pk])
    if existing is None:
        return PeriodicTask.objects.create(name=task_name(contract), task=CONTRACT_TASK, crontab=crontab, args=args,
                                           description=f"Compliance checks of {contract.name} ({expression})")
    if existing.crontab_id != crontab.pk or existing.args != args or not existing.enabled:
        existing.crontab, existing.args, existing.enabled = crontab, args, True
        existing.save()
    return existing


def ensure_housekeeping_tasks(*, actor) -> None:
    with acting_as(actor):
        for name, task, seconds in HOUSEKEEPING:
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
            if not PeriodicTask.objects.filter(name=name).exists():
                PeriodicTask.objects.create(name=name, task=task, interval=interval)
