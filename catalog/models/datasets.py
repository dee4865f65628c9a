from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from catalog.choices import Classification, DatasetKind, Lifecycle
from permissions.access import AccessSpec
from permissions.models import AccordModel


def _validate_name_list(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError("Give a list of field names, e.g. [\"account_id\", \"created_at\"].")


class Dataset(AccordModel):
    """A table, view, SaaS object, report, file or topic held in a system."""

    system = models.ForeignKey("catalog.System", on_delete=models.PROTECT, related_name="datasets")
    qualified_name = models.CharField(
        max_length=255, help_text="Name inside its system, e.g. 'analytics.dim_customer' or 'Lead'."
    )
    name = models.CharField(max_length=255, help_text="Human-friendly name.")
    kind = models.CharField(max_length=16, choices=DatasetKind.choices, default=DatasetKind.TABLE)
    description = models.TextField(blank=True, help_text="What the dataset means and what it contains.")
    owner_department = models.ForeignKey(
        "catalog.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="datasets"
    )
    steward = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="stewarded_datasets"
    )
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.DRAFT)
    classification = models.CharField(
        max_length=16, choices=Classification.choices, default=Classification.INTERNAL
    )
    tags = models.ManyToManyField("catalog.Tag", blank=True, related_name="datasets")
    key_fields = models.JSONField(
        default=list, blank=True, validators=[_validate_name_list], help_text="Fields forming the key."
    )
    sort_order = models.JSONField(
        default=list, blank=True, validators=[_validate_name_list], help_text="Fields the data is sorted by."
    )
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True, help_text="Created in the source system.")
    published_at = models.DateTimeField(null=True, blank=True)
    source_modified_at = models.DateTimeField(null=True, blank=True, help_text="Last modified in the source.")
    archived_at = models.DateTimeField(null=True, blank=True)
    # Facts a harvest reads from the source itself (harvest/): the source is authoritative for them.
    source_description = models.TextField(blank=True, help_text="The source's own comment on the object.")
    unique_keys = models.JSONField(default=list, blank=True,
                                   help_text="Unique constraints in the source, each a list of field names in order.")
    removed_from_source_at = models.DateTimeField(
        null=True, blank=True, help_text="When a harvest found the object gone from its source (kept, not deleted).")

    access = AccessSpec(containers=("system",), classification="classification", tags="tags")
    edit_department = "owner_department"

    class Meta:
        ordering = ["system__name", "qualified_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "qualified_name"],
                name="dataset_qualified_name_unique_in_system",
                violation_error_message="A dataset with this qualified name is already registered in this system.",
            ),
            models.CheckConstraint(
                condition=models.Q(row_count__isnull=True) | models.Q(row_count__gte=0),
                name="dataset_row_count_not_negative",
                violation_error_message="Row count cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(size_bytes__isnull=True) | models.Q(size_bytes__gte=0),
                name="dataset_size_not_negative",
                violation_error_message="Size cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(lifecycle="retired") | models.Q(archived_at__isnull=True),
                name="dataset_archived_only_when_retired",
                violation_error_message="Only a retired dataset can have an archive time.",
            ),
        ]
        indexes = [
            models.Index(fields=["owner_department"], name="dataset_owner_dept_idx"),
            models.Index(fields=["lifecycle"], name="dataset_lifecycle_idx"),
            models.Index(fields=["classification"], name="dataset_classification_idx"),
        ]

    def __str__(self) -> str:
        # The system's name only when it is already loaded: naming a dataset (in an audit
        # record, say) must not cost a query.
        system = self._state.fields_cache.get("system")
        return f"{system.name}: {self.qualified_name}" if system is not None else self.qualified_name


class Field(AccordModel):
    """A column or attribute of a dataset, with its owner."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=255)
    data_type = models.CharField(max_length=120, help_text="Type as the source declares it, e.g. 'varchar(255)'.")
    nullable = models.BooleanField(default=True)
    is_key = models.BooleanField(default=False, help_text="Part of the dataset's key.")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True, help_text="What the field is supposed to store.")
    source_description = models.TextField(blank=True, help_text="The source's own comment on the column.")
    source_default = models.TextField(blank=True, help_text="The column's default expression in the source.")
    classification = models.CharField(
        max_length=16, choices=Classification.choices, default=Classification.INTERNAL
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_fields"
    )
    owner_department = models.ForeignKey(
        "catalog.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="owned_fields"
    )
    tags = models.ManyToManyField("catalog.Tag", blank=True, related_name="fields")

    access = AccessSpec(containers=("dataset",), classification="classification", tags="tags")
    audit_parent = "dataset"
    edit_container = "dataset"
    edit_department = "dataset.owner_department"

    class Meta:
        ordering = ["dataset_id", "position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "name"],
                name="field_name_unique_in_dataset",
                violation_error_message="This dataset already has a field with this name.",
            ),
            models.CheckConstraint(
                condition=~models.Q(is_key=True, nullable=True),
                name="field_key_not_nullable",
                violation_error_message="A key field cannot be nullable.",
            ),
        ]
        indexes = [
            models.Index(fields=["dataset", "position"], name="field_dataset_position_idx"),
            models.Index(fields=["owner"], name="field_owner_idx"),
            models.Index(fields=["owner_department"], name="field_owner_dept_idx"),
            models.Index(fields=["classification"], name="field_classification_idx"),
        ]

    def __str__(self) -> str:
        dataset = self._state.fields_cache.get("dataset")
        return f"{dataset.qualified_name}.{self.name}" if dataset is not None else self.name
