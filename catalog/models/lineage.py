from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from permissions.access import AccessSpec
from permissions.models import AccordModel


class LineageOrigin(models.TextChoices):
    DRAWN = "", "Drawn by people"
    VIEW_DEFINITION = "view_definition", "Harvested: parsed from the view's definition"
    VIEW_DEPENDENCY = "view_dependency", "Harvested: the source's dependency records (definition did not parse)"
    DBT = "dbt", "Ingested from dbt: a model's dependencies (and its compiled SQL)"
    OPENLINEAGE = "openlineage", "Ingested from OpenLineage: a completed run's inputs and outputs"


#: The origins a harvest of the source itself writes (and replaces); other origins' edges it leaves alone.
HARVEST_ORIGINS = (LineageOrigin.VIEW_DEFINITION, LineageOrigin.VIEW_DEPENDENCY)


class LineageEdge(AccordModel):
    """Data flows from ``source`` to ``target`` (optionally field to field)."""

    source = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="downstream_edges")
    target = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="upstream_edges")
    source_field = models.ForeignKey(
        "catalog.Field", null=True, blank=True, on_delete=models.CASCADE, related_name="downstream_edges"
    )
    target_field = models.ForeignKey(
        "catalog.Field", null=True, blank=True, on_delete=models.CASCADE, related_name="upstream_edges"
    )
    transformation = models.TextField(blank=True, help_text="How the target is derived from the source.")
    origin = models.CharField(max_length=16, choices=LineageOrigin.choices, blank=True, default="",
                              help_text="Empty when people drew the edge; a harvest or an ingestion replaces the "
                                        "edges it made.")
    job = models.CharField(max_length=500, blank=True,
                           help_text="What moves the data, as the ingestion names it (a dbt node's unique id).")
    last_run_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When the job last completed a run along this edge (OpenLineage).")

    # An edge is seen only when both ends (and any mapped fields) are.
    access = AccessSpec(targetable=False, containers=("source", "target", "source_field", "target_field"))
    edit_container = "target"  # who may change the target dataset documents where it comes from
    edit_department = "target.owner_department"

    class Meta:
        ordering = ["source_id", "target_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")),
                name="lineage_no_self_loop",
                violation_error_message="A dataset cannot feed itself: source and target must differ.",
            ),
            models.CheckConstraint(
                condition=models.Q(source_field__isnull=True, target_field__isnull=True)
                | models.Q(source_field__isnull=False, target_field__isnull=False),
                name="lineage_field_mapping_complete",
                violation_error_message="A field mapping needs both a source field and a target field.",
            ),
            models.UniqueConstraint(
                fields=["source", "target"],
                condition=models.Q(source_field__isnull=True),
                name="lineage_dataset_edge_unique",
                violation_error_message="This dataset-level lineage edge already exists.",
            ),
            models.UniqueConstraint(
                fields=["source", "target", "source_field", "target_field"],
                condition=models.Q(source_field__isnull=False),
                name="lineage_field_edge_unique",
                violation_error_message="This field-level lineage edge already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"

    def clean(self) -> None:
        errors = {}
        if self.source_field_id and self.source_id and self.source_field.dataset_id != self.source_id:
            errors["source_field"] = "The source field must belong to the source dataset."
        if self.target_field_id and self.target_id and self.target_field.dataset_id != self.target_id:
            errors["target_field"] = "The target field must belong to the target dataset."
        if errors:
            raise ValidationError(errors)
