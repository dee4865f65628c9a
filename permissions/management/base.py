"""Management commands that change data run under an explicit system actor."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from permissions import context


class AuditedCommand(BaseCommand):
    """A command whose writes are audited as ``system:<component>`` with a reason.

    Subclasses set ``audit_component`` and ``audit_reason`` and implement
    ``handle_audited``. When the caller already set an actor (a test, another
    command), that actor is kept.
    """

    audit_component = "command"
    audit_reason = ""

    def handle(self, *args, **options):
        current = context.current()
        if current is not None and current.resolved_actor() is not None and current.request is None:
            return self.handle_audited(*args, **options)
        with context.system_actor(self.audit_component, reason=self.audit_reason or self.help):
            return self.handle_audited(*args, **options)

    def handle_audited(self, *args, **options):
        raise AssertionError(f"{type(self).__name__} must implement handle_audited()")
