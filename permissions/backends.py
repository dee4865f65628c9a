"""An authentication backend for edit rights that follow ownership (department leads act
for their department). Users and passwords are Django's ``ModelBackend``'s."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings


class DepartmentLeadBackend:
    """A lead of a department (or of one above it) holds the change and delete
    permissions on objects owned by that department.

    A model opts in by naming its owning department in ``edit_department``
    (a field name, or a dotted path through a container such as ``dataset.owner_department``).
    """

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user, perm: str, obj=None) -> bool:
        if obj is None or not user.is_active or not hasattr(obj, "edit_department"):
            return False
        app_label, _, codename = perm.partition(".")
        action = codename.split("_", 1)[0]
        if app_label != obj._meta.app_label or codename != f"{action}_{obj._meta.model_name}":
            return False
        if action not in ("change", "delete", "view"):
            return False
        department_id = owning_department_id(obj)
        if department_id is None:
            return False
        department_model = apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)
        return department_id in department_model.led_ids_for(user)

    def get_all_permissions(self, user, obj=None) -> set[str]:
        return set()


def owning_department_id(obj) -> int | None:
    target = obj
    *path, last = obj.edit_department.split(".")
    for name in path:
        target = getattr(target, name, None)
        if target is None:
            return None
    return getattr(target, f"{last}_id", None)
