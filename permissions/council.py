"""The "DataOps council" group: holds the catalog's model permissions, reads and
manages deny rules, reads the audit log (and, later, approves governance changes).

Created (or completed) after every ``migrate``; membership is managed in the admin.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group, Permission

from permissions import context

# (app_label, codename prefixes) the council holds.
COUNCIL_PERMISSIONS = {
    "catalog": ("add_", "change_", "delete_", "view_"),
    "governance": ("add_", "change_", "delete_", "view_", "approve_"),
    "permissions": ("add_accessrule", "change_accessrule", "delete_accessrule", "view_accessrule",
                    "add_accessruleexception", "change_accessruleexception", "delete_accessruleexception",
                    "view_accessruleexception", "view_auditrecord", "view_apitoken"),
}


def is_council(user) -> bool:
    """A superuser, or a member of the DataOps council group."""
    return bool(user.is_superuser or user.groups.filter(name=settings.ACCORD_COUNCIL_GROUP).exists())


def council_permissions():
    wanted = Permission.objects.none()
    for app_label, prefixes in COUNCIL_PERMISSIONS.items():
        for prefix in prefixes:
            wanted |= Permission.objects.filter(content_type__app_label=app_label, codename__startswith=prefix)
    return wanted.exclude(codename__contains="objectpermission")


def ensure_council_group(**kwargs) -> None:
    with context.system_actor("migrate", reason="Ensure the DataOps council group and its permissions"):
        group, _ = Group.objects.get_or_create(name=settings.ACCORD_COUNCIL_GROUP)
        missing = council_permissions().exclude(pk__in=group.permissions.values("pk"))
        if missing.exists():
            group.permissions.add(*missing)
