"""Catalog services: changes that span several rows, carried out atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model

from catalog.models import Dataset, Field, System, Tag
from catalog.signals import schema_changed
from permissions import audit, context
from permissions.errors import NotAllowed

# Dataset attributes a registration may set (everything but its identity and tags).
REGISTRABLE_DATASET_ATTRIBUTES = (
    "name", "kind", "description", "owner_department", "steward", "lifecycle", "classification",
    "key_fields", "sort_order", "row_count", "size_bytes", "source_created_at", "published_at",
    "source_modified_at", "archived_at",
)
REGISTRABLE_FIELD_ATTRIBUTES = (
    "data_type", "nullable", "is_key", "position", "description", "classification", "owner", "owner_department",
)


@dataclass
class RegistrationResult:
    dataset: Dataset
    dataset_created: bool = False
    dataset_changed: bool = False
    fields_created: list[str] = field(default_factory=list)
    fields_updated: list[str] = field(default_factory=list)
    fields_unchanged: list[str] = field(default_factory=list)
    fields_missing: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.dataset_created or self.dataset_changed or self.fields_created
            or self.fields_updated or self.fields_removed
        )


def _apply(instance, attributes: dict[str, Any]) -> bool:
    """Set the attributes that differ; say whether anything did.

    Related objects are compared by id, so an unchanged owner costs no query.
    """
    changed = False
    for name, value in attributes.items():
        if isinstance(value, Model) or (value is None and hasattr(instance, f"{name}_id")):
            if getattr(instance, f"{name}_id") == (value.pk if value is not None else None):
                continue
        elif getattr(instance, name) == value:
            continue
        setattr(instance, name, value)
        changed = True
    return changed


def _set_tags(instance, tags: list[Tag] | None) -> bool:
    if tags is None:
        return False
    wanted = {tag.pk for tag in tags}
    current = set(instance.tags.values_list("pk", flat=True))
    if wanted == current:
        return False
    instance.tags.set(tags)
    return True


def register_dataset(
    *,
    system: System,
    qualified_name: str,
    attributes: dict[str, Any],
    tags: list[Tag] | None,
    fields: list[dict[str, Any]],
    remove_missing: bool,
    actor,
) -> RegistrationResult:
    """Register or update a dataset and its fields in one transaction.

    Keyed by (system, qualified name). Only what differs is written, so sending
    the same payload twice changes nothing. Fields the dataset has but the payload
    lacks are reported as missing, and deleted only when ``remove_missing`` is set.
    Attributes absent from ``attributes`` are left as they are.
    Each dataset and field written gets one audit record naming ``actor`` (who
    registers: a user, or ``permissions.context.Actor(system=...)``). A user changes
    only fields they can see; the system sees every field.
    """
    viewer = context.as_actor(actor).user
    with context.acting_as(actor):
        try:
            result = _register(system, qualified_name, attributes, tags, fields, remove_missing, viewer)
        except IntegrityError:
            # Another registration of the same dataset won the race to create it;
            # ours now updates that row instead.
            result = _register(system, qualified_name, attributes, tags, fields, remove_missing, viewer)
    if not result.dataset_created and (result.fields_created or result.fields_updated or result.fields_removed):
        changes = {"created": result.fields_created, "updated": result.fields_updated,
                   "removed": result.fields_removed}
        transaction.on_commit(lambda: schema_changed.send(sender=Dataset, dataset=result.dataset, changes=changes))
    return result


def _register(system, qualified_name, attributes, tags, fields, remove_missing, viewer) -> RegistrationResult:
    with transaction.atomic(), audit.batch():
        dataset = Dataset.objects.select_for_update().filter(system=system, qualified_name=qualified_name).first()
        if dataset is None:
            dataset = Dataset(system=system, qualified_name=qualified_name, name=qualified_name)
            _apply(dataset, attributes)
            dataset.full_clean(exclude=["tags"])
            dataset.save()
            result = RegistrationResult(dataset=dataset, dataset_created=True)
        else:
            result = RegistrationResult(dataset=dataset)
            if _apply(dataset, attributes):
                dataset.full_clean(exclude=["tags"])
                dataset.save()
                result.dataset_changed = True
        if _set_tags(dataset, tags) and not result.dataset_created:
            result.dataset_changed = True

        existing = {f.name: f for f in Field.objects.select_for_update().filter(dataset=dataset)}
        if viewer is not None and not viewer.is_superuser:
            visible = set(Field.objects.visible_to(viewer).filter(dataset=dataset).values_list("name", flat=True))
            if any(spec["name"] in existing and spec["name"] not in visible for spec in fields):
                raise NotAllowed("This registration would change fields you cannot see; ask the DataOps council.")
            existing = {name: field for name, field in existing.items() if name in visible}
        seen: set[str] = set()
        for position, spec in enumerate(fields):
            spec = dict(spec)
            name = spec.pop("name")
            field_tags = spec.pop("tags", None)
            spec.setdefault("position", position)
            seen.add(name)
            current = existing.get(name)
            if current is None:
                current = Field(dataset=dataset, name=name)
                _apply(current, spec)
                _validate_field(current)
                current.save()
                _set_tags(current, field_tags)
                result.fields_created.append(name)
            elif _apply(current, spec):
                _validate_field(current)
                current.save()
                _set_tags(current, field_tags)
                result.fields_updated.append(name)
            elif _set_tags(current, field_tags):
                result.fields_updated.append(name)
            else:
                result.fields_unchanged.append(name)
        missing = sorted(set(existing) - seen)
        if remove_missing and missing:
            Field.objects.filter(dataset=dataset, name__in=missing).delete()
            result.fields_removed = missing
        else:
            result.fields_missing = missing
        return result


def _validate_field(candidate: Field) -> None:
    """Run the model's rules on one field, naming the field in the error."""
    try:
        # Names are unique within the payload (checked by the caller) and the
        # existing rows are locked above, so the uniqueness query can be skipped.
        candidate.full_clean(exclude=["tags", "dataset"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationError({"fields": [f"{candidate.name}: {message}" for message in exc.messages]}) from exc
