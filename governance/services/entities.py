"""Systems of record: proposing, approving (superseding the old) and asking who is authoritative."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from catalog.models import Dataset, LineageEdge
from governance.choices import DesignationStatus
from governance.models import BusinessEntity, EntityAttribute, SystemOfRecord
from governance.services.common import acting_as, now, person, user_of
from permissions import audit
from permissions.errors import Conflict, NotAllowed
from permissions.models import AuditAction


def propose_system_of_record(*, entity: BusinessEntity, attribute: EntityAttribute | None, system, dataset=None,
                             field=None, rationale: str, actor) -> SystemOfRecord:
    designation = SystemOfRecord(entity=entity, attribute=attribute, system=system, dataset=dataset, field=field,
                                 rationale=rationale, proposed_by=user_of(actor), status=DesignationStatus.PROPOSED)
    designation.full_clean()
    with acting_as(actor), transaction.atomic(), audit.batch():
        designation.save()
    return designation


def can_approve_designation(user) -> bool:
    return bool(user.is_superuser or user.has_perm("governance.approve_systemofrecord"))


def _ensure_council(actor, what: str):
    user = person(actor, to=what)
    if not can_approve_designation(user):
        raise NotAllowed(f"Only the DataOps council may {what}.")
    return user


def approve_system_of_record(designation: SystemOfRecord, *, actor, reason: str = "") -> SystemOfRecord:
    """Make a proposed designation active; the active one for the same entity
    attribute (if any) is superseded in the same transaction, never overwritten."""
    user = _ensure_council(actor, "approve a system of record")
    with acting_as(actor), transaction.atomic():
        designation = SystemOfRecord.objects.select_for_update().get(pk=designation.pk)
        if designation.status != DesignationStatus.PROPOSED:
            raise Conflict(f"Only a proposed designation can be approved; this one is {designation.status}.")
        current = SystemOfRecord.objects.select_for_update().filter(
            entity=designation.entity, attribute=designation.attribute, status=DesignationStatus.ACTIVE
        ).first()
        at = now()
        with audit.batch():
            if current is not None:
                current.status = DesignationStatus.SUPERSEDED
                current.superseded_at = at
                current.superseded_by = designation
                current.save()
            designation.status = DesignationStatus.ACTIVE
            designation.decided_by = user
            designation.decided_at = at
            designation.save()
        audit.record_event(AuditAction.APPROVE, designation, reason=reason or None,
                           details={"superseded": current.pk if current else None})
    return designation


def reject_system_of_record(designation: SystemOfRecord, *, actor, reason: str) -> SystemOfRecord:
    user = _ensure_council(actor, "reject a system of record")
    with acting_as(actor, reason=reason), transaction.atomic(), audit.batch():
        designation = SystemOfRecord.objects.select_for_update().get(pk=designation.pk)
        if designation.status != DesignationStatus.PROPOSED:
            raise Conflict(f"Only a proposed designation can be rejected; this one is {designation.status}.")
        designation.status = DesignationStatus.REJECTED
        designation.decided_by = user
        designation.decided_at = now()
        designation.save()
    return designation


def authoritative(entity: BusinessEntity, attribute: EntityAttribute | None = None) -> SystemOfRecord | None:
    """The active designation for the attribute, falling back to the entity's."""
    active = SystemOfRecord.objects.filter(entity=entity, status=DesignationStatus.ACTIVE)
    if attribute is not None:
        found = active.filter(attribute=attribute).first()
        if found is not None:
            return found
    return active.filter(attribute__isnull=True).first()


def conflicts(user, entity: BusinessEntity | None = None) -> list[dict]:
    """Where the registry contradicts the designations, among what ``user`` may see.

    * a dataset registered for an entity outside the entity's system of record;
    * lineage feeding a dataset of the entity from a non-authoritative copy.
    """
    found: list[dict] = []
    entities = BusinessEntity.objects.visible_to(user)
    if entity is not None:
        entities = entities.filter(pk=entity.pk)
    visible_datasets = Dataset.objects.visible_to(user).select_related("system")
    visible_designations = SystemOfRecord.objects.visible_to(user)
    for item in entities:
        designation = authoritative(item)
        if designation is None or not visible_designations.filter(pk=designation.pk).exists():
            continue
        entity_datasets = list(visible_datasets.filter(business_entities=item))
        copies = [d for d in entity_datasets if d.system_id != designation.system_id]
        for dataset in copies:
            found.append({"kind": "copy_outside_system_of_record", "entity": str(item), "dataset": dataset.pk,
                          "dataset_name": str(dataset),
                          "message": f"{dataset} holds {item.name} records but {designation.system} is authoritative."})
        authoritative_ids = {d.pk for d in entity_datasets if d.system_id == designation.system_id}
        if designation.dataset_id:
            authoritative_ids = {designation.dataset_id}
        edges = LineageEdge.objects.visible_to(user).filter(
            Q(source__in=[d.pk for d in copies]), Q(target__in=[d.pk for d in entity_datasets])
        ).exclude(source__in=authoritative_ids).select_related("source", "target")
        for edge in edges:
            found.append({"kind": "lineage_from_copy", "entity": str(item), "edge": edge.pk,
                          "message": f"{edge.target} is fed from {edge.source}, a copy; "
                                     f"{designation.system} is authoritative for {item.name}."})
    return found
