"""State definitions: drafting, proposing, approving (by department), diffing."""

from __future__ import annotations

import difflib

from django.db import transaction

from governance.choices import StateScope, VersionStatus
from governance.models import StateApproval, StateDefinition, StateDefinitionVersion
from governance.services.common import acting_as, acts_for, now, person, user_of
from governance.terms import content_hash
from permissions import audit
from permissions.edit import can_change
from permissions.errors import Conflict, Invalid, NotAllowed
from permissions.models import AuditAction


def dataset_fields(definition: StateDefinition, actor=None) -> dict[str, str]:
    """The fields criteria may name: the workflow's dataset's, those ``actor`` may see when a person acts
    (so an error never lists, and a criterion never confirms, a field the writer may not see)."""
    from catalog.models import Field
    from permissions.visibility import visibility_filter

    fields = definition.workflow.dataset.fields.all()
    user = user_of(actor) if actor is not None else None
    if user is not None:
        fields = fields.filter(visibility_filter(Field, user))
    return dict(fields.values_list("name", "data_type"))


def validate_criteria(definition: StateDefinition, tree: dict, actor=None) -> None:
    from governance import criteria as criteria_language

    if not tree:
        return
    try:
        criteria_language.validate(tree, dataset_fields(definition, actor))
    except criteria_language.CriteriaError as exc:
        errors: dict[str, list[str]] = {}
        for path, message in exc.errors:
            errors.setdefault(f"criteria.{path}" if path else "criteria", []).append(message)
        raise Invalid("The entry criteria are not valid for the workflow's dataset.", errors=errors) from exc


def definition_version_hash(version: StateDefinitionVersion) -> str:
    """The hash of a version's meaning (its text and criteria), recomputed from the row."""
    return content_hash({"definition_text": version.definition_text, "criteria": version.criteria})


_hash = definition_version_hash


def create_draft(*, definition: StateDefinition, definition_text: str, criteria: dict, actor
                 ) -> StateDefinitionVersion:
    validate_criteria(definition, criteria, actor)
    with acting_as(actor), transaction.atomic(), audit.batch():
        last = definition.versions.select_for_update().order_by("-number").first()
        version = StateDefinitionVersion(definition=definition, number=(last.number + 1) if last else 1,
                                         definition_text=definition_text, criteria=criteria or {})
        version.content_hash = _hash(version)
        version.save()
    return version


def update_draft(version: StateDefinitionVersion, *, definition_text: str | None = None,
                 criteria: dict | None = None, actor) -> StateDefinitionVersion:
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = StateDefinitionVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != VersionStatus.DRAFT:
            raise Conflict(f"Version {version.number} is {version.status}; only a draft can be edited. "
                           "Create a new draft instead.")
        if criteria is not None:
            validate_criteria(version.definition, criteria, actor)
            version.criteria = criteria
        if definition_text is not None:
            version.definition_text = definition_text
        version.content_hash = _hash(version)
        version.save()
    return version


def propose(version: StateDefinitionVersion, *, actor) -> StateDefinitionVersion:
    user = person(actor, to="propose a state definition")
    if not can_change(user, version):
        raise NotAllowed("You may not propose this state definition.")
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = StateDefinitionVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != VersionStatus.DRAFT:
            raise Conflict(f"Version {version.number} is {version.status}; only a draft can be proposed.")
        if not version.definition_text.strip():
            raise Invalid("A proposed state needs its definition in words.",
                          errors={"definition_text": ["This field may not be blank."]})
        version.status = VersionStatus.PROPOSED
        version.proposed_by = user
        version.proposed_at = now()
        version.save()
    return version


def can_approve_for(user, version: StateDefinitionVersion, department) -> bool:
    definition = version.definition
    if department not in definition.approving_departments():
        return False
    if acts_for(user, department):
        return True
    # The council holds governance approvals for domain states (not for the
    # sign-off of each stakeholder of an enterprise state).
    return definition.scope == StateScope.DOMAIN and user.has_perm("governance.approve_statedefinitionversion")


def pending_departments(version: StateDefinitionVersion) -> list:
    approved = set(version.approvals.values_list("department_id", flat=True))
    return [d for d in version.definition.approving_departments() if d.pk not in approved]


def approve(version: StateDefinitionVersion, *, department, actor, comment: str = "") -> StateDefinitionVersion:
    """Record ``department``'s approval; when every required department has approved,
    the version becomes the approved one and the previous approved version is superseded."""
    user = person(actor, to="approve a state definition")
    with acting_as(actor), transaction.atomic():
        version = StateDefinitionVersion.objects.select_for_update().select_related("definition").get(pk=version.pk)
        if version.status != VersionStatus.PROPOSED:
            raise Conflict(f"Version {version.number} is {version.status}; only a proposed version can be approved.")
        required = version.definition.approving_departments()
        if department not in required:
            names = ", ".join(d.name for d in required)
            raise Invalid(f"{department} is not asked to approve this state (approvers: {names}).",
                          errors={"department": [f"Choose one of: {names}."]})
        if not can_approve_for(user, version, department):
            raise NotAllowed(f"You may not approve for {department}: that takes a lead of the department"
                             + (" or the DataOps council." if version.definition.scope == StateScope.DOMAIN else "."))
        if version.approvals.filter(department=department).exists():
            raise Conflict(f"{department} has already approved version {version.number}.")
        with audit.batch():
            StateApproval.objects.create(version=version, department=department, approved_by=user,
                                         content_hash=version.content_hash, comment=comment)
        audit.record_event(AuditAction.APPROVE, version, details={"department": department.slug,
                                                                  "content_hash": version.content_hash})
        if not pending_departments(version):
            _make_approved(version)
    return version


def _make_approved(version: StateDefinitionVersion) -> None:
    at = now()
    with audit.batch():
        previous = StateDefinitionVersion.objects.select_for_update().filter(
            definition=version.definition, status=VersionStatus.APPROVED).first()
        if previous is not None:
            previous.status = VersionStatus.SUPERSEDED
            previous.superseded_at = at
            previous.save()
        version.status = VersionStatus.APPROVED
        version.approved_at = at
        version.save()
    _notify_contracts(version)


def _notify_contracts(version: StateDefinitionVersion) -> None:
    """Tell the parties of every proposed or active contract version that pinned an earlier version of
    this definition: their checks keep the pinned one until they sign a new contract version.

    Runs inside the approval's transaction: the audit events with it, the webhooks after commit."""
    from governance.models import ContractVersion, EventType
    from governance.models.contracts import BOUND_STATUSES
    from governance.services import notifications

    affected = (ContractVersion.objects.filter(status__in=BOUND_STATUSES,
                                               state_definition_versions__definition=version.definition_id)
                .exclude(state_definition_versions=version).select_related("contract", "producer").distinct())
    for contract_version in affected:
        pinned = contract_version.state_definition_versions.get(definition=version.definition_id)
        details = {"event": EventType.DEFINITION_CHANGED_UNDER_CONTRACT.value, "definition": version.definition_id,
                   "definition_version": version.pk, "approved_number": version.number,
                   "pinned_version": pinned.pk, "pinned_number": pinned.number,
                   "contract_version": contract_version.pk, "version": contract_version.version}
        audit.record_event(AuditAction.UPDATE, contract_version, details=details,
                           reason=f"A newer approved version (v{version.number}) of a state definition this "
                                  f"contract version pinned at v{pinned.number}; it changes only through a new "
                                  "contract version that the parties sign.")
        parties = [party.pk for party in contract_version.parties()]
        notifications.emit(EventType.DEFINITION_CHANGED_UNDER_CONTRACT, contract=contract_version.contract,
                           details={key: value for key, value in details.items() if key != "event"}, parties=parties)


def diff(old: StateDefinitionVersion, new: StateDefinitionVersion) -> dict:
    """What changed between two versions of the same state."""
    if old.definition_id != new.definition_id:
        raise Invalid("Only versions of the same state can be compared.")
    text = list(difflib.unified_diff(old.definition_text.splitlines(), new.definition_text.splitlines(),
                                     f"v{old.number}", f"v{new.number}", lineterm=""))
    return {
        "from": old.number, "to": new.number,
        "definition_text": text,
        "criteria_changed": old.criteria != new.criteria,
        "criteria": {"from": old.criteria, "to": new.criteria,
                     "from_text": _describe(old.criteria), "to_text": _describe(new.criteria)},
    }


def _describe(tree: dict) -> str:
    from governance import criteria as criteria_language

    return criteria_language.describe(tree) if tree else "(no criteria)"
