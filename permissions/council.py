"""The role groups and what each may do in the admin.

* The "DataOps council" (``ACCORD_COUNCIL_GROUP``) holds the catalog's and governance's model
  permissions, reads and manages deny rules and reads the audit log.
* "Department leads", "Stewards" and "Readers" hold view permissions only: what a lead or a
  steward may *change* is decided per object by ``permissions.edit`` (a lead acts for their
  department, a steward for the datasets and fields they own), and what a lead may approve or
  sign by the governance services. The groups let them in to browse and act; they never grant a
  change on somebody else's object.

The groups are created (or completed) after every ``migrate``. Leads and stewards are put in
(and taken out of) their group as their department memberships change (``sync_roles``), and
anyone in a role group is staff, so no permission is ever set up by hand; the council and
readers are chosen in the admin (Users → groups). Every change is the audited change of a user
(groups, ``is_staff``) in the transaction of the membership change that caused it.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save

from permissions import context

LEADS_GROUP = "Department leads"
STEWARDS_GROUP = "Stewards"
READERS_GROUP = "Readers"
# DepartmentMembership.role values (catalog.choices.DepartmentRole; the trust layer imports no domain app).
LEAD_ROLE, STEWARD_ROLE = "lead", "steward"

# (app_label, codename prefixes) the council holds.
COUNCIL_PERMISSIONS = {
    "catalog": ("add_", "change_", "delete_", "view_"),
    "governance": ("add_", "change_", "delete_", "view_", "approve_"),
    "harvest": ("add_", "change_", "delete_", "view_"),
    "ingest": ("add_", "change_", "delete_", "view_"),
    "permissions": ("add_accessrule", "change_accessrule", "delete_accessrule", "view_accessrule",
                    "add_accessruleexception", "change_accessruleexception", "delete_accessruleexception",
                    "view_accessruleexception", "view_auditrecord", "view_apitoken"),
    # Choosing a person (a steward, a field's owner, a member) in the admin's autocompletes.
    "auth": ("view_user",),
}
# Browsing the catalog and the governance registry (the rows are still narrowed by deny rules).
READER_PERMISSIONS = {"catalog": ("view_",), "governance": ("view_",), "harvest": ("view_",), "ingest": ("view_",)}
# Leads and stewards also choose people: a steward for a dataset, an owner for a field.
ROLE_PERMISSIONS = {
    READERS_GROUP: READER_PERMISSIONS,
    STEWARDS_GROUP: {**READER_PERMISSIONS, "auth": ("view_user",)},
    LEADS_GROUP: {**READER_PERMISSIONS, "auth": ("view_user",),
                  "governance": ("view_", "sign_contractversion")},
}
# Which department role puts a person in which group.
ROLE_GROUPS = {LEAD_ROLE: LEADS_GROUP, STEWARD_ROLE: STEWARDS_GROUP}


def is_council(user) -> bool:
    """A superuser, or a member of the DataOps council group."""
    return bool(user.is_superuser or user.groups.filter(name=settings.ACCORD_COUNCIL_GROUP).exists())


def _permissions(spec: dict[str, tuple[str, ...]]):
    wanted = Permission.objects.none()
    for app_label, prefixes in spec.items():
        for prefix in prefixes:
            wanted |= Permission.objects.filter(content_type__app_label=app_label, codename__startswith=prefix)
    return wanted.exclude(codename__contains="objectpermission")


def council_permissions():
    return _permissions(COUNCIL_PERMISSIONS)


def role_group_names() -> list[str]:
    return [settings.ACCORD_COUNCIL_GROUP, *ROLE_PERMISSIONS]


def _ensure_group(name: str, permissions) -> None:
    group, _ = Group.objects.get_or_create(name=name)
    missing = permissions.exclude(pk__in=group.permissions.values("pk"))
    if missing.exists():
        group.permissions.add(*missing)


def ensure_council_group(**kwargs) -> None:
    """post_migrate: the council and role groups exist and hold (at least) their permissions."""
    with context.system_actor("migrate", reason="Ensure the role groups and their permissions"):
        _ensure_group(settings.ACCORD_COUNCIL_GROUP, council_permissions())
        for name, spec in ROLE_PERMISSIONS.items():
            _ensure_group(name, _permissions(spec))


# --- leads and stewards follow their memberships ------------------------------------------------


def _membership_model():
    department = apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)
    return department._meta.get_field("memberships").related_model


def sync_roles(user) -> None:
    """Put ``user`` in the groups of the department roles they hold and out of the others
    (then ``sync_staff``). Runs in the caller's transaction and actor context."""
    roles = set(_membership_model()._base_manager.filter(user=user).values_list("role", flat=True))
    wanted = {ROLE_GROUPS[role] for role in roles if role in ROLE_GROUPS}
    held = set(user.groups.filter(name__in=ROLE_GROUPS.values()).values_list("name", flat=True))
    if wanted - held:
        user.groups.add(*Group.objects.filter(name__in=wanted - held))
    if held - wanted:
        user.groups.remove(*Group.objects.filter(name__in=held - wanted))
    sync_staff(user)


def sync_staff(user) -> None:
    """Anyone in a role group is staff (may sign in to the admin). Someone in none is staff no
    longer, unless they are a superuser or hold other groups or permissions of their own (staff
    set up by hand is left alone)."""
    user_model = get_user_model()
    user = user_model._base_manager.get(pk=user.pk)  # the stored flags, not a stale instance
    in_role = user.groups.filter(name__in=role_group_names()).exists()
    if in_role:
        wanted = True
    elif user.is_superuser or user.groups.exists() or user.user_permissions.exists():
        wanted = user.is_staff
    else:
        wanted = False
    if user.is_staff != wanted:
        user.is_staff = wanted
        user.save(update_fields=["is_staff"])


def _on_membership_saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        sync_roles(instance.user)


def _on_membership_deleted(sender, instance, origin=None, **kwargs) -> None:
    user_model = get_user_model()
    if isinstance(origin, user_model) and origin.pk == instance.user_id:
        return  # the person themselves is being deleted
    user = user_model._base_manager.filter(pk=instance.user_id).first()
    if user is not None:
        sync_roles(user)


def _on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    user_model = get_user_model()
    if not reverse:
        sync_staff(instance)
    elif pk_set:
        for user in user_model._base_manager.filter(pk__in=pk_set):
            sync_staff(user)


def connect() -> None:
    membership = _membership_model()
    post_save.connect(_on_membership_saved, sender=membership, dispatch_uid="accord_roles_membership_saved")
    post_delete.connect(_on_membership_deleted, sender=membership, dispatch_uid="accord_roles_membership_deleted")
    m2m_changed.connect(_on_groups_changed, sender=get_user_model().groups.through,
                        dispatch_uid="accord_roles_groups_changed")
