"""Data-state workflows: what "MQL" or "active customer" means, versioned and approved."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.choices import StateScope, VersionStatus
from governance.models.base import FrozenContentMixin
from permissions.access import AccessSpec
from permissions.models import AccordModel


class StateWorkflow(AccordModel):
    """A lifecycle such as "Lead lifecycle", over one dataset whose rows move through its states."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    owner_department = models.ForeignKey("catalog.Department", on_delete=models.PROTECT, related_name="workflows")
    dataset = models.ForeignKey(
        "catalog.Dataset", on_delete=models.PROTECT, related_name="state_workflows",
        help_text="The dataset whose fields the entry criteria are written over.",
    )
    state_field = models.ForeignKey(
        "catalog.Field", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The column in which records claim their state (used by conformance checks).",
    )

    access = AccessSpec(targetable=False, containers=("dataset",))
    edit_department = "owner_department"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StateDefinition(AccordModel):
    """One state of a workflow (Raw, MQL, SQL…): who owns its meaning and who must agree to it."""

    workflow = models.ForeignKey(StateWorkflow, on_delete=models.CASCADE, related_name="states")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120)
    state_value = models.CharField(
        max_length=120, blank=True, help_text="The value records carry in the workflow's state field."
    )
    position = models.PositiveIntegerField(default=0)
    owner_department = models.ForeignKey("catalog.Department", on_delete=models.PROTECT, related_name="states")
    scope = models.CharField(max_length=16, choices=StateScope.choices, default=StateScope.DOMAIN)
    stakeholders = models.ManyToManyField(
        "catalog.Department", blank=True, related_name="stakeholder_states",
        help_text="Departments that must each sign off an enterprise state.",
    )

    access = AccessSpec(targetable=False, containers=("workflow",))
    audit_parent = "workflow"
    edit_department = "owner_department"

    class Meta:
        ordering = ["workflow_id", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "slug"], name="state_slug_unique_in_workflow",
                                    violation_error_message="This workflow already has a state with this slug."),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name}: {self.name}" if self.workflow_id else self.name

    def approving_departments(self) -> list:
        """Whose approval a version needs: the owner (domain) or every stakeholder (enterprise)."""
        if self.scope == StateScope.ENTERPRISE:
            stakeholders = list(self.stakeholders.all())
            return stakeholders or [self.owner_department]
        return [self.owner_department]

    def approved_version(self):
        return self.versions.filter(status=VersionStatus.APPROVED).first()


class StateTransition(AccordModel):
    workflow = models.ForeignKey(StateWorkflow, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.ForeignKey(StateDefinition, on_delete=models.CASCADE, related_name="transitions_out")
    to_state = models.ForeignKey(StateDefinition, on_delete=models.CASCADE, related_name="transitions_in")
    description = models.TextField(blank=True)

    access = AccessSpec(targetable=False, containers=("workflow",))
    audit_parent = "workflow"
    edit_container = "workflow"

    class Meta:
        ordering = ["workflow_id", "from_state__position", "to_state__position"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_state=models.F("to_state")), name="transition_not_to_itself",
                                   violation_error_message="A transition goes from one state to another."),
            models.UniqueConstraint(fields=["from_state", "to_state"], name="transition_unique",
                                    violation_error_message="This transition already exists."),
        ]

    def __str__(self) -> str:
        return f"{self.from_state.name} → {self.to_state.name}"


class StateDefinitionVersion(FrozenContentMixin, AccordModel):
    """A version of a state's meaning: text plus machine-checkable entry criteria.

    draft → proposed → approved → superseded. Only drafts change; an approved
    version is immutable (the service refuses, and ``save`` refuses too).
    """

    definition = models.ForeignKey(StateDefinition, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    definition_text = models.TextField(help_text="What the state means, in words.")
    criteria = models.JSONField(default=dict, blank=True, help_text="Entry criteria (governance.criteria).")
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    access = AccessSpec(targetable=False, containers=("definition",))
    audit_parent = "definition"
    edit_container = "definition"
    frozen_fields = ("definition_text", "criteria", "number", "definition_id")
    frozen_statuses = (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)

    class Meta:
        ordering = ["definition_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "number"], name="state_version_number_unique",
                                    violation_error_message="This state already has a version with this number."),
            models.UniqueConstraint(fields=["definition"], condition=Q(status="approved"),
                                    name="one_approved_state_version",
                                    violation_error_message="A state has at most one approved version."),
        ]
        permissions = [("approve_statedefinitionversion", "Can approve state definitions (council)")]

    def __str__(self) -> str:
        return f"{self.definition} v{self.number} ({self.status})"


class StateApproval(AccordModel):
    """A department's approval of a proposed version, given by someone who acts for it."""

    version = models.ForeignKey(StateDefinitionVersion, on_delete=models.CASCADE, related_name="approvals")
    department = models.ForeignKey("catalog.Department", on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_hash = models.CharField(max_length=64)
    comment = models.TextField(blank=True)

    access = AccessSpec(targetable=False, containers=("version",))
    audit_parent = "version"

    class Meta:
        ordering = ["version_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "department"], name="one_approval_per_department",
                                    violation_error_message="This department has already approved this version."),
        ]

    def __str__(self) -> str:
        return f"{self.department} approved {self.version}"
