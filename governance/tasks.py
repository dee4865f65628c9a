"""Celery tasks. Each takes ids, re-reads its objects, is safe to run twice, and
runs under an explicit system actor so its changes are audited."""

from __future__ import annotations

import datetime

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from governance.checks import data as data_checks
from governance.models import ComplianceRun, DataContract
from governance.models.compliance import RunTrigger
from governance.services import compliance, notifications, schedules
from governance.services.common import now
from permissions.context import system_actor


def _retry_countdown(retries: int) -> int:
    return settings.ACCORD_CHECK_RETRY_BASE_SECONDS * 2 ** retries


def _execute(task, run_id: int, actor, *, retry_kwargs: dict | None = None) -> str:
    """Execute the run; while its source is down, retry (``retry_kwargs``: what the retry must carry, e.g. the
    tick) until the last retry, which ends the run as an error: a run never stays "retrying"."""
    run = ComplianceRun.objects.get(pk=run_id)
    try:
        run = compliance.execute(run, actor=actor)
    except data_checks.SourceUnavailable as exc:
        if task.request.retries >= settings.ACCORD_CHECK_MAX_RETRIES:
            compliance.record_unavailable(run, str(exc), actor=actor, final=True)
            return "error"
        kwargs = {**(task.request.kwargs or {}), **(retry_kwargs or {})}
        raise task.retry(exc=exc, countdown=_retry_countdown(task.request.retries), kwargs=kwargs) from exc
    except SoftTimeLimitExceeded:
        compliance.record_unavailable(run, "The checks ran past their time limit.", actor=actor, final=True)
        return "error"
    return run.outcome


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None,
             soft_time_limit=settings.ACCORD_CHECK_TIME_LIMIT_SECONDS,
             time_limit=settings.ACCORD_CHECK_TIME_LIMIT_SECONDS + 60)
def run_compliance_checks(self, run_id: int) -> str:
    """Run (or finish) one compliance run. Redelivery after a crash completes the same run."""
    with system_actor("compliance-checks", reason=f"Compliance run {run_id}") as audit_context:
        return _execute(self, run_id, audit_context.actor)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None,
             soft_time_limit=settings.ACCORD_CHECK_TIME_LIMIT_SECONDS,
             time_limit=settings.ACCORD_CHECK_TIME_LIMIT_SECONDS + 60)
def run_scheduled_contract_checks(self, contract_id: int, tick: str | None = None) -> str:
    """Beat's entry point (the periodic task's args: the contract id): one run per contract and schedule tick.

    Beat names no tick, so the first delivery takes the last time the contract's schedule fired
    (``schedules.tick_for``): a redelivery of the same tick finds the same time, hence the same run (unique per
    version and time). Retries carry that tick (``tick``), so a retry minutes later resumes the same run too."""
    with system_actor("scheduler", reason=f"Scheduled checks of contract {contract_id}") as audit_context:
        contract = DataContract.objects.filter(pk=contract_id).first()
        if contract is None:
            return "no contract"
        scheduled_for = datetime.datetime.fromisoformat(tick) if tick else schedules.tick_for(contract, now())
        # A retry resumes the tick's run even when another version became active meanwhile.
        run = ComplianceRun.objects.filter(contract_version__contract=contract, scheduled_for=scheduled_for).first()
        if run is None:
            version = contract.active_version()
            if version is None:
                return "no active version"
            run, _ = compliance.get_or_create_run(version, scheduled_for=scheduled_for,
                                                  trigger=RunTrigger.SCHEDULED, actor=audit_context.actor)
        return _execute(self, run.pk, audit_context.actor, retry_kwargs={"tick": scheduled_for.isoformat()})


@shared_task(acks_late=True)
def escalate_incidents() -> int:
    with system_actor("incident-escalation",
                      reason="Escalate incidents whose acknowledgement is overdue") as audit_context:
        return len(compliance.escalate_overdue(actor=audit_context.actor))


@shared_task(acks_late=True)
def deliver_notification(delivery_id: int) -> str:
    with system_actor("notifications", reason=f"Deliver notification {delivery_id}"):
        return notifications.deliver(delivery_id).status


@shared_task(acks_late=True)
def retry_due_notifications() -> int:
    with system_actor("notifications", reason="Retry due notification deliveries"):
        return len(notifications.retry_due())


@shared_task(acks_late=True)
def activate_due_contract_versions() -> int:
    from governance.services.contracts import activate_due_versions

    with system_actor("contracts", reason="Activate contract versions whose notice period ended") as audit_context:
        return len(activate_due_versions(actor=audit_context.actor))


@shared_task(acks_late=True)
def take_scorecard_snapshot() -> int:
    """Today's scorecard snapshot of the organisation and every department (rerun: replaced), and pruning."""
    from governance import scorecard

    with system_actor("scorecard", reason="Daily scorecard snapshot"):
        return scorecard.take_snapshots()
