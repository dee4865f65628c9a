"""Business entities and their systems of record."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from governance.choices import DesignationStatus
from permissions.access import AccessSpec
from permissions.models import AccordModel


class BusinessEntity(AccordModel):
    """A business object (Lead, Account, Customer, Invoice…) in a bounded context."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    bounded_context = models.CharField(max_length=120, help_text="e.g. Sales, Billing, Support")
    description = models.TextField(blank=True)
    owner_department = models.ForeignKey(
        "catalog.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="business_entities"
    )
    datasets = models.ManyToManyField(
        "catalog.Dataset", blank=True, related_name="business_entities",
        help_text="Datasets that hold records of this entity (authoritative or copies).",
    )

    access = AccessSpec(targetable=False)
    edit_department = "owner_department"

    class Meta:
        ordering = ["bounded_context", "name"]
        verbose_name_plural = "business entities"
        constraints = [
            models.UniqueConstraint(
                fields=["bounded_context", "name"], name="entity_name_unique_in_context",
                violation_error_message="This bounded context already has an entity with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bounded_context}.{self.name}"


class EntityAttribute(AccordModel):
    """An attribute of an entity that can have its own system of record ("customer id")."""

    entity = models.ForeignKey(BusinessEntity, on_delete=models.CASCADE, related_name="attributes")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_identifier = models.BooleanField(default=False)

    access = AccessSpec(targetable=False)
    audit_parent = "entity"
    edit_container = "entity"

    class Meta:
        ordering = ["entity_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "name"], name="attribute_name_unique_in_entity",
                violation_error_message="This entity already has an attribute with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity.name}.{self.name}" if self.entity_id else self.name


class SystemOfRecord(AccordModel):
    """A designation: this system (and dataset, field) is authoritative for the
    entity, or for one attribute of it.

    At most one designation is active per entity attribute (and per entity as a
    whole), enforced by partial unique indexes. A change is a new *proposed*
    designation that the council approves; the old one is then superseded, never
    overwritten, so the history stays.
    """

    entity = models.ForeignKey(BusinessEntity, on_delete=models.CASCADE, related_name="designations")
    attribute = models.ForeignKey(
        EntityAttribute, null=True, blank=True, on_delete=models.CASCADE, related_name="designations",
        help_text="Empty: authoritative for the entity as a whole.",
    )
    system = models.ForeignKey("catalog.System", on_delete=models.PROTECT, related_name="designations")
    dataset = models.ForeignKey(
        "catalog.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="designations"
    )
    field = models.ForeignKey(
        "catalog.Field", null=True, blank=True, on_delete=models.PROTECT, related_name="designations"
    )
    status = models.CharField(max_length=16, choices=DesignationStatus.choices, default=DesignationStatus.PROPOSED)
    rationale = models.TextField(help_text="Why this system is authoritative.")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    access = AccessSpec(targetable=False, containers=("system", "dataset", "field"))
    audit_parent = "entity"
    edit_container = "entity"

    class Meta:
        ordering = ["entity_id", "attribute_id", "-id"]
        verbose_name = "system-of-record designation"
        constraints = [
            models.UniqueConstraint(
                fields=["entity"], condition=Q(status="active", attribute__isnull=True),
                name="one_active_sor_per_entity",
                violation_error_message="This entity already has an active system of record.",
            ),
            models.UniqueConstraint(
                fields=["entity", "attribute"], condition=Q(status="active", attribute__isnull=False),
                name="one_active_sor_per_attribute",
                violation_error_message="This attribute already has an active system of record.",
            ),
        ]
        permissions = [("approve_systemofrecord", "Can approve system-of-record designations")]

    def __str__(self) -> str:
        # Also used while a cascade deletes the attribute or entity first: ids then stand in.
        entity = BusinessEntity._base_manager.filter(pk=self.entity_id).first() or f"entity #{self.entity_id}"
        attribute = (EntityAttribute._base_manager.filter(pk=self.attribute_id).values_list("name", flat=True)
                     .first() or f"attribute #{self.attribute_id}") if self.attribute_id else None
        target = f"{entity}.{attribute}" if attribute else str(entity)
        return f"{target} → system #{self.system_id} ({self.status})"

    def clean(self) -> None:
        errors = {}
        if self.attribute_id and self.entity_id and self.attribute.entity_id != self.entity_id:
            errors["attribute"] = "The attribute must belong to the entity."
        if self.dataset_id and self.system_id and self.dataset.system_id != self.system_id:
            errors["dataset"] = "The dataset must be in the designated system."
        if self.field_id and (not self.dataset_id or self.field.dataset_id != self.dataset_id):
            errors["field"] = "The field must belong to the designated dataset."
        if errors:
            raise ValidationError(errors)
