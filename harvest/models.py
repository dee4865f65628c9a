"""Harvesting: per-System settings, runs, the schema changes (drift) they found, and the
relationships between fields that foreign keys declare (relationships, not lineage)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_celery_beat.validators import crontab_validator

from permissions.access import AccessSpec
from permissions.models import AccordModel
from permissions.querysets import RestrictedQuerySet


def _validate_patterns(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError('Give a list of patterns, e.g. ["analytics.*", "staging.stg_*"].')


def _validate_cron(value: str) -> None:
    if not value:
        return
    if len(value.split()) != 5:
        raise ValidationError("Give a cron expression of five fields: minute hour day-of-month month day-of-week.")
    crontab_validator(value)
    from governance.terms import cron_problems  # also what celery's crontab (beat) refuses: 30 February, day 7

    problems = cron_problems(value)
    if problems:
        raise ValidationError(problems)


class HarvestSettings(AccordModel):
    """What to harvest from a System and when: include/exclude patterns and a cron schedule.

    Patterns are shell-style (``fnmatch``) on ``schema.table`` (SQLite: the table name).
    Nothing included means everything; an exclusion always wins."""

    system = models.OneToOneField("catalog.System", on_delete=models.CASCADE, related_name="harvest_settings")
    include = models.JSONField(default=list, blank=True, validators=[_validate_patterns],
                               help_text='Patterns of schema.table to harvest, e.g. ["analytics.*"]; empty: all.')
    exclude = models.JSONField(default=list, blank=True, validators=[_validate_patterns],
                               help_text='Patterns of schema.table to skip, e.g. ["*.tmp_*"].')
    schedule = models.CharField(max_length=120, blank=True, validators=[_validate_cron],
                                help_text="Cron expression (five fields) of scheduled harvests; empty: by hand only.")

    access = AccessSpec(targetable=False, containers=("system",))
    audit_parent = "system"
    edit_container = "system"
    edit_department = "system.owner_department"

    class Meta:
        ordering = ["system__name"]
        verbose_name_plural = "harvest settings"

    def __str__(self) -> str:
        system = self._state.fields_cache.get("system")
        return f"Harvest of {system.name}" if system is not None else f"Harvest settings #{self.pk}"


class HarvestTrigger(models.TextChoices):
    MANUAL = "manual", "Manual (admin)"
    API = "api", "API"
    COMMAND = "command", "Command"
    SCHEDULED = "scheduled", "Scheduled"


class HarvestStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with warnings"
    FAILED = "failed", "Failed"


class HarvestRun(models.Model):
    """One reading of a System's live source.

    The run is the system's own bookkeeping, not audited itself: what it changed in the
    catalog is, under the actor ``system:harvest:<id>``. So a harvest that changes nothing
    leaves this row and no audit record. Unique per (system, scheduled time), so a
    redelivered scheduled task finds its run instead of starting another."""

    system = models.ForeignKey("catalog.System", on_delete=models.CASCADE, related_name="harvest_runs")
    trigger = models.CharField(max_length=16, choices=HarvestTrigger.choices)
    scheduled_for = models.DateTimeField(help_text="The schedule tick, or when the harvest was asked for.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    status = models.CharField(max_length=16, choices=HarvestStatus.choices, default=HarvestStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True,
                              help_text='Per kind (datasets, fields, relationships, lineage): '
                                        '{"added": n, "changed": n, "removed": n, "unchanged": n}.')
    warnings = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)

    objects = RestrictedQuerySet.as_manager()
    access = AccessSpec(targetable=False, containers=("system",))

    def messages_for(self, user, name: str) -> list[str]:
        """The run's ``warnings`` or ``errors`` as ``user`` may read them (``permissions.edit.source_messages``)."""
        from permissions.edit import source_messages

        return source_messages(user, getattr(self, name), name, self.system)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["system", "scheduled_for"], name="one_harvest_per_system_tick",
                                    violation_error_message="This system already has a harvest for this time."),
        ]

    def __str__(self) -> str:
        system = self._state.fields_cache.get("system")
        name = system.name if system is not None else f"system #{self.system_id}"
        return f"Harvest #{self.pk} of {name} ({self.status})"

    @property
    def actor_name(self) -> str:
        return f"harvest:{self.pk}"


class ChangeKind(models.TextChoices):
    DATASET_ADDED = "dataset_added", "Dataset added"
    DATASET_REMOVED = "dataset_removed", "Dataset removed from source"
    DATASET_RESTORED = "dataset_restored", "Dataset back in source"
    FIELD_ADDED = "field_added", "Field added"
    FIELD_REMOVED = "field_removed", "Field removed"
    TYPE_WIDENED = "type_widened", "Type widened"
    TYPE_NARROWED = "type_narrowed", "Type narrowed"
    TYPE_CHANGED = "type_changed", "Type changed"
    NULLABILITY_CHANGED = "nullability_changed", "Nullability changed"
    KEY_CHANGED = "key_changed", "Key changed"


class Compatibility(models.TextChoices):
    BREAKING = "breaking", "Breaking (an active contract's schema terms)"
    COMPATIBLE = "compatible", "Compatible"


class SchemaChangeQuerySet(RestrictedQuerySet):
    def visible_to(self, user, *, inside: tuple[str, ...] = ()) -> SchemaChangeQuerySet:
        """The changes of datasets and fields the user sees; a change about a field that a deny rule
        hid from somebody when the harvest removed it (``field_restricted``: the field is gone, so
        whom it was hidden from can no longer be told) only to the council."""
        from permissions.council import is_council

        rows = super().visible_to(user, inside=inside)
        return rows if user is not None and is_council(user) else rows.exclude(field_restricted=True)


class SchemaChange(models.Model):
    """One difference a harvest found (drift), classified against the active contracts
    covering the dataset. Written in bulk with its run; not audited one by one (the catalog
    changes it describes are)."""

    run = models.ForeignKey(HarvestRun, on_delete=models.CASCADE, related_name="changes")
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="schema_changes")
    field = models.ForeignKey("catalog.Field", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    field_name = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=24, choices=ChangeKind.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    compatibility = models.CharField(max_length=16, choices=Compatibility.choices, default=Compatibility.COMPATIBLE)
    contracts = models.JSONField(default=list, blank=True,
                                 help_text="Ids of the active contracts whose schema terms the change breaks.")
    field_restricted = models.BooleanField(
        default=False, help_text="About a removed field that a deny rule hid from somebody: shown to the council only.")
    detected_at = models.DateTimeField(auto_now_add=True)

    objects = SchemaChangeQuerySet.as_manager()
    access = AccessSpec(targetable=False, containers=("run", "dataset", "field"))

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-detected_at"], name="schema_change_dataset_idx")]

    def __str__(self) -> str:
        # The dataset's name only when it is loaded already: naming a change must not cost a query.
        dataset = self._state.fields_cache.get("dataset")
        where = f".{self.field_name}" if self.field_name else ""
        return f"{self.get_kind_display()}: {dataset.qualified_name if dataset else f'dataset #{self.dataset_id}'}" \
               f"{where}"


class FieldRelationship(AccordModel):
    """A foreign key in the source: ``from_field`` refers to ``to_field`` (one row per column
    pair of the constraint, in order). A relationship, not lineage. Replaced by each harvest."""

    system = models.ForeignKey("catalog.System", on_delete=models.CASCADE, related_name="+")
    constraint_name = models.CharField(max_length=255)
    from_field = models.ForeignKey("catalog.Field", on_delete=models.CASCADE, related_name="references_out")
    to_field = models.ForeignKey("catalog.Field", on_delete=models.CASCADE, related_name="references_in")
    position = models.PositiveIntegerField(default=0)

    access = AccessSpec(targetable=False, containers=("from_field", "to_field"))
    audit_parent = "from_field"

    class Meta:
        ordering = ["system_id", "constraint_name", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["from_field", "to_field", "constraint_name"],
                                    name="field_relationship_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.constraint_name} ({self.from_field_id} → {self.to_field_id})"
