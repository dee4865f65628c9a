from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from catalog.choices import DepartmentRole
from permissions.access import AccessSpec, request_scoped
from permissions.models import AccordModel


def _tree() -> dict[int, int | None]:
    return dict(Department._base_manager.values_list("id", "parent_id"))


class Department(AccordModel):
    """An org unit (Marketing, Sales, Finance…), optionally inside another."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")),
                name="department_not_own_parent",
                violation_error_message="A department cannot be its own parent.",
            ),
        ]

    access = AccessSpec(targetable=False)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def subject_ids_for(cls, user) -> list[int]:
        """The departments a rule about a department reaches ``user`` through:
        those they belong to and every department above those."""
        # order_by(): the default ordering would join departments and users for nothing.
        own = set(DepartmentMembership._base_manager.filter(user=user).order_by().values_list(
            "department_id", flat=True))
        if not own:
            return []
        parents = _tree()
        found = set()
        for department_id in own:
            node = department_id
            while node is not None and node not in found:
                found.add(node)
                node = parents.get(node)
        return sorted(found)

    @classmethod
    def led_ids_for(cls, user) -> set[int]:
        """The departments ``user`` acts for as a lead: those they lead and everything below."""
        return request_scoped(user, "led_departments", lambda: cls._led_ids(user))

    @classmethod
    def _led_ids(cls, user) -> set[int]:
        led = set(DepartmentMembership._base_manager.filter(user=user, role=DepartmentRole.LEAD).order_by()
                  .values_list("department_id", flat=True))
        if led:
            children: dict[int, list[int]] = {}
            for department_id, parent_id in _tree().items():
                children.setdefault(parent_id, []).append(department_id)
            stack = list(led)
            while stack:
                for child in children.get(stack.pop(), []):
                    if child not in led:
                        led.add(child)
                        stack.append(child)
        return led

    def ancestor_ids(self) -> list[int]:
        ids: list[int] = []
        node = self.parent
        while node is not None and node.pk not in ids:
            ids.append(node.pk)
            node = node.parent
        return ids

    def clean(self) -> None:
        if self.pk and self.parent_id and (self.parent_id == self.pk or self.pk in self.parent.ancestor_ids()):
            raise ValidationError({"parent": "A department cannot sit inside itself or one of its sub-departments."})


class DepartmentMembership(AccordModel):
    """A person's role in a department."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_memberships")
    role = models.CharField(max_length=16, choices=DepartmentRole.choices, default=DepartmentRole.MEMBER)

    access = AccessSpec(targetable=False)
    audit_parent = "department"

    class Meta:
        ordering = ["department__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "user"],
                name="membership_unique_per_department",
                violation_error_message="This person already belongs to this department.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.department}"
