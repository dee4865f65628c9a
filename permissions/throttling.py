"""Refusing clients that keep failing to authenticate.

Failures are counted from the audit log itself (failed logins and rejected tokens
from one client address within a window), so the limit holds across every web
process without a shared cache.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from permissions.models import AuditAction, AuditRecord

FAILURES = (AuditAction.LOGIN_FAILED, AuditAction.TOKEN_REJECTED)


def too_many_failures(client_ip: str | None) -> bool:
    if not client_ip:
        return False
    since = timezone.now() - datetime.timedelta(seconds=settings.ACCORD_AUTH_FAILURE_WINDOW)
    recent = AuditRecord.objects.filter(action__in=FAILURES, client_ip=client_ip, timestamp__gte=since)
    return recent[: settings.ACCORD_AUTH_FAILURE_LIMIT].count() >= settings.ACCORD_AUTH_FAILURE_LIMIT


def retry_after() -> int:
    return int(settings.ACCORD_AUTH_FAILURE_WINDOW)
