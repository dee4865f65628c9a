"""Celery tasks of the trust layer (beat runs them: governance.services.schedules.HOUSEKEEPING)."""

from __future__ import annotations

from celery import shared_task

from permissions import audit, checkpoints
from permissions.context import system_actor
from permissions.models import AuditCheckpoint, CheckpointKind


@shared_task(acks_late=True)
def audit_checkpoint() -> str:
    """Chain the counts of ended repeat windows, verify the chain from its last verified point and, with a
    signing key configured, sign and publish its head. Safe to run twice: a head already signed is not
    signed again."""
    with system_actor("audit-checkpoint", reason="Scheduled audit checkpoint") as ctx:
        if checkpoints.signer() is None:
            audit.close_event_windows()
            result = checkpoints.verify()
            state = "verified" if result.ok else f"BROKEN at record #{result.broken_seq}: {result.problem}"
            return f"{state}; no signing key configured, nothing signed"
        head = audit.chain_head()["seq"]
        if AuditCheckpoint.objects.filter(kind=CheckpointKind.SIGNED, seq=head).exists() and \
                not audit.AuditEventWindow.objects.exists():
            return f"head #{head} is already signed"
        try:
            return str(checkpoints.make_checkpoint(actor=ctx.actor))
        except checkpoints.CheckpointError as exc:
            return str(exc)
