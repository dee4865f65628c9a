"""The scorecard's daily snapshots and the council's meeting dates (governance.scorecard)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from permissions.access import AccessSpec
from permissions.models import AccordModel
from permissions.querysets import RestrictedQuerySet


class SnapshotQuerySet(RestrictedQuerySet):
    def visible_to(self, user, *, inside: tuple[str, ...] = ()) -> SnapshotQuerySet:
        """Snapshots are computed over everything, so they are read only by people whom no active deny
        rule opts out of anything (superusers, and everyone while no rule applies to them): a past
        number could otherwise count what the reader may not see (docs/scorecard.md, "Snapshots")."""
        from governance.scorecard import sees_everything

        rows = super().visible_to(user, inside=inside)
        return rows if sees_everything(user) else rows.none()


class ScorecardSnapshot(models.Model):
    """One day's scorecard facts for the organisation (``department`` empty) or one department.

    Written by the daily beat task (``governance.tasks.take_scorecard_snapshot``) with full
    visibility; a rerun the same day replaces the day's facts (unique per day and scope). Derived
    bookkeeping like a harvest run: not audited row by row, never edited by people."""

    day = models.DateField()
    department = models.ForeignKey("catalog.Department", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="scorecard_snapshots",
                                   help_text="Empty: the whole organisation.")
    facts = models.JSONField(default=dict, help_text="The counts the scorecard's metrics are computed from.")
    computed_at = models.DateTimeField()

    objects = SnapshotQuerySet.as_manager()
    access = AccessSpec(targetable=False)

    class Meta:
        ordering = ["-day", "department_id"]
        constraints = [
            models.UniqueConstraint(fields=["day", "department"], condition=Q(department__isnull=False),
                                    name="one_scorecard_snapshot_per_department_day",
                                    violation_error_message="This department already has a snapshot for this day."),
            models.UniqueConstraint(fields=["day"], condition=Q(department__isnull=True),
                                    name="one_scorecard_snapshot_per_organisation_day",
                                    violation_error_message="The organisation already has a snapshot for this day."),
        ]
        indexes = [models.Index(fields=["department", "day"], name="scorecard_snapshot_scope_idx")]

    def __str__(self) -> str:
        department = self._state.fields_cache.get("department")
        scope = department.name if department is not None else (
            "Organisation" if self.department_id is None else f"department #{self.department_id}")
        return f"Scorecard of {scope} on {self.day:%Y-%m-%d}"


class CouncilMeeting(AccordModel):
    """A meeting of the DataOps council: the scorecard shows each metric's change since the last one held."""

    held_on = models.DateField(unique=True, help_text="The day of the meeting.")
    notes = models.TextField(blank=True)

    access = AccessSpec(targetable=False)

    class Meta:
        ordering = ["-held_on"]

    def __str__(self) -> str:
        return f"Council meeting of {self.held_on:%Y-%m-%d}"
