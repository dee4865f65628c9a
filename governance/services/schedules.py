"""Check schedules live in the database (django-celery-beat), so they are edited in
the admin and every edit is audited. One periodic task per contract with an active
version and a cron schedule, plus Accord's own housekeeping tasks."""

from __future__ import annotations

import datetime
import json
import zoneinfo

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from governance import terms as contract_terms
from governance.models import DataContract
from governance.services.common import acting_as

CONTRACT_TASK = "governance.tasks.run_scheduled_contract_checks"
HOUSEKEEPING = [
    # (name, task, every seconds)
    ("Accord: escalate overdue incidents", "governance.tasks.escalate_incidents", 300),
    ("Accord: retry notification deliveries", "governance.tasks.retry_due_notifications", 60),
    ("Accord: activate contract versions after their notice period", "governance.tasks.activate_due_contract_versions",
     3600),
    # Closes ended repeat windows, verifies the chain from its last checkpoint and, with a signing key, signs its head.
    ("Accord: audit checkpoint", "permissions.tasks.audit_checkpoint", 3600),
    # The day's scorecard snapshot, refreshed every hour (idempotent per day: the last run of a day stands).
    ("Accord: scorecard snapshot", "governance.tasks.take_scorecard_snapshot", 3600),
]


def task_name(contract: DataContract) -> str:
    return f"Accord: check contract {contract.slug}"


def crontab_for(expression: str) -> CrontabSchedule:
    """The (shared) crontab row of a five-field cron expression, in Celery's time zone."""
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
    crontab = crontab_for(expression)
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


# --- the tick a scheduled check belongs to ------------------------------------------------------------------------


def tick_for(contract: DataContract, at: datetime.datetime) -> datetime.datetime:
    """The schedule tick ``at`` belongs to: the last time at or before ``at`` that the contract's schedule fires.

    Beat sends the contract's task with its periodic task's args, nothing that names the tick; the task keys its
    run on this instead, so every delivery of one tick (a redelivery after a worker died, a second beat, a
    backlog drained late) finds the same run. The schedule is the periodic task's crontab (what beat runs, as
    edited in the admin), else the active version's ``schedule``; without either, the minute of ``at``.
    """
    version = contract.active_version()
    return periodic_tick(task_name(contract), (version.terms.get("schedule") if version else None) or "", at)


def periodic_tick(name: str, expression: str, at: datetime.datetime) -> datetime.datetime:
    """The last time at or before ``at`` that the periodic task ``name`` fires: its crontab as beat runs it (as
    edited in the admin), else the cron ``expression`` it was made from; without either, the minute of ``at``."""
    periodic = PeriodicTask.objects.filter(name=name).select_related("crontab").first()
    if periodic is not None and periodic.crontab is not None:
        crontab = periodic.crontab
        schedule = crontab.schedule  # celery's crontab, parsed as beat parses it
        zone = zoneinfo.ZoneInfo(str(crontab.timezone))
    else:
        if not expression or contract_terms.cron_problems(expression):
            return at.replace(second=0, microsecond=0)
        schedule = contract_terms.parse_cron(expression)
        zone = zoneinfo.ZoneInfo(settings.CELERY_TIMEZONE)
    return previous_fire(schedule, at, zone)


def previous_fire(schedule, at: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The last minute at or before ``at`` that celery's ``schedule`` (a crontab) matches, on the wall clock of
    ``zone``, as an aware UTC time.

    celery offers only the next run after a time; this walks back over the sets of minutes, hours, days and
    months it parsed (its public attributes), with celery's rule that a day matches when both its day of month
    and its day of week do. Whole months, days and hours that cannot match are skipped at once.
    """
    minutes, hours = sorted(schedule.minute), sorted(schedule.hour)
    wall = at.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    one_minute = datetime.timedelta(minutes=1)
    for _ in range(20_000):  # a crontab that parses fires at least once in 8 years: a few hundred steps
        if wall.month not in schedule.month_of_year:
            wall = wall.replace(day=1, hour=0, minute=0) - one_minute
        elif wall.day not in schedule.day_of_month or (wall.isoweekday() % 7) not in schedule.day_of_week:
            wall = wall.replace(hour=0, minute=0) - one_minute
        elif wall.hour not in schedule.hour:
            earlier = [hour for hour in hours if hour < wall.hour]
            wall = wall.replace(hour=earlier[-1], minute=59) if earlier else wall.replace(hour=0, minute=0) - one_minute
        elif wall.minute not in schedule.minute:
            earlier = [minute for minute in minutes if minute < wall.minute]
            wall = wall.replace(minute=earlier[-1]) if earlier else wall.replace(minute=0) - one_minute
        else:
            return wall.replace(tzinfo=zone).astimezone(datetime.UTC)
    return at.replace(second=0, microsecond=0)
