"""Data contracts: versions, classification against the previous version, signatures, activation."""

from __future__ import annotations

import datetime

from django.db import transaction

from governance import terms as contract_terms
from governance.choices import ChangeClass, ContractStatus, VersionStatus
from governance.models import ContractSignature, ContractVersion, DataContract
from governance.services.common import acting_as, acts_for, now, person, user_of
from governance.services.schedules import sync_contract_schedule
from permissions import audit
from permissions.errors import Conflict, Invalid, NotAllowed
from permissions.models import AuditAction

OPEN = (ContractStatus.DRAFT, ContractStatus.PROPOSED)


def _invalid_terms(exc: contract_terms.TermsError) -> Invalid:
    return Invalid("The contract terms are not valid.", errors={
        (path if path == "version" else f"terms.{path}"): messages for path, messages in exc.as_dict().items()
    })


def version_hash(version: ContractVersion) -> str:
    return contract_terms.content_hash({
        "contract": version.contract_id, "version": version.version, "terms": version.terms,
        "states": sorted(version.state_definitions.values_list("pk", flat=True)) if version.pk else [],
    })


def previous_version(contract: DataContract, exclude: ContractVersion | None = None) -> ContractVersion | None:
    """The version a new one is compared with: the active one, else the latest superseded."""
    versions = contract.versions.exclude(pk=exclude.pk) if exclude is not None else contract.versions.all()
    return (versions.filter(status=ContractStatus.ACTIVE).first()
            or versions.filter(status=ContractStatus.SUPERSEDED).order_by("-activated_at", "-id").first())


def _classify(version: ContractVersion) -> None:
    try:
        contract_terms.validate(version.terms)
        contract_terms.parse_semver(version.version)
        previous = previous_version(version.contract, exclude=version)
        if previous is None:
            version.change_class, version.changes = ChangeClass.INITIAL, []
            return
        result = contract_terms.classify(previous.terms, version.terms)
        contract_terms.check_bump(previous.version, version.version, result.change_class)
    except contract_terms.TermsError as exc:
        raise _invalid_terms(exc) from exc
    version.change_class, version.changes = result.change_class, result.changes


def create_version(*, contract: DataContract, version: str, terms: dict, actor, meta: dict | None = None,
                   residual: dict | None = None, state_definitions=()) -> ContractVersion:
    """A new draft version; classified against the previous one and its semver bump checked."""
    with acting_as(actor), transaction.atomic(), audit.batch():
        if contract.versions.filter(status__in=OPEN).exists():
            raise Conflict("This contract already has a draft or proposed version; finish or withdraw it first.")
        draft = ContractVersion(contract=contract, version=version, terms=terms, meta=meta or {},
                                residual=residual or {}, created_by=user_of(actor))
        _classify(draft)
        draft.full_clean(exclude=["terms", "meta", "residual", "changes"])
        draft.save()
        _set_states(draft, state_definitions)
        draft.content_hash = version_hash(draft)
        draft.save()
    return draft


def _set_states(version: ContractVersion, state_definitions) -> None:
    from governance.models import StateDefinitionVersion

    states = list(state_definitions)
    for state in states:
        if not StateDefinitionVersion.objects.filter(definition=state, status=VersionStatus.APPROVED).exists():
            raise Invalid(f"The contract relies on {state}, which has no approved definition yet.",
                          errors={"state_definitions": [f"{state} is not approved."]})
    version.state_definitions.set(states)


def update_draft(version: ContractVersion, *, actor, version_label: str | None = None, terms: dict | None = None,
                 state_definitions=None) -> ContractVersion:
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = ContractVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != ContractStatus.DRAFT:
            raise Conflict(f"Version {version.version} is {version.status}; only a draft can be edited.")
        if version_label is not None:
            version.version = version_label
        if terms is not None:
            version.terms = terms
        _classify(version)
        if state_definitions is not None:
            _set_states(version, state_definitions)
        version.content_hash = version_hash(version)
        version.save()
    return version


def propose(version: ContractVersion, *, actor) -> ContractVersion:
    """Freeze the draft and open it for signatures."""
    _ensure_producer_side(actor, version, "propose a contract version")
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = ContractVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != ContractStatus.DRAFT:
            raise Conflict(f"Version {version.version} is {version.status}; only a draft can be proposed.")
        _classify(version)  # the previous version may have changed since the draft was written
        version.status = ContractStatus.PROPOSED
        version.proposed_at = now()
        notice = int(version.terms.get("notice_period_days") or 0)
        if version.change_class == ChangeClass.BREAKING and notice:
            version.effective_from = version.proposed_at + datetime.timedelta(days=notice)
        version.content_hash = version_hash(version)
        version.save()
    return version


def sign(version: ContractVersion, *, department, actor, comment: str = "") -> ContractVersion:
    """Sign ``version`` for ``department``: the signature covers the version's content hash.

    When every party has signed and the notice period (for a breaking version) is
    over, the version becomes active and the previous active version is superseded.
    """
    user = person(actor, to="sign a contract")
    with acting_as(actor), transaction.atomic():
        version = ContractVersion.objects.select_for_update().select_related("contract").get(pk=version.pk)
        contract = version.contract
        if version.status != ContractStatus.PROPOSED:
            raise Conflict(f"Version {version.version} is {version.status}; only a proposed version can be signed.")
        parties = contract.parties()
        if department not in parties:
            names = ", ".join(p.name for p in parties)
            raise Invalid(f"{department} is not a party to this contract (parties: {names}).",
                          errors={"department": [f"Choose one of: {names}."]})
        if not acts_for(user, department):
            raise NotAllowed(f"Only a lead of {department} may sign for it.")
        if version.signatures.filter(department=department).exists():
            raise Conflict(f"{department} has already signed version {version.version}.")
        current = version_hash(version)
        if current != version.content_hash:
            raise Conflict("The version's content changed after it was proposed; it cannot be signed.")
        with audit.batch():
            ContractSignature.objects.create(version=version, department=department, signed_by=user,
                                             content_hash=current, comment=comment)
        audit.record_event(AuditAction.SIGN, version, details={"department": department.slug,
                                                               "content_hash": current})
        activate_if_ready(version, actor=actor)
    return version


def missing_signatures(version: ContractVersion) -> list:
    signed = set(version.signatures.values_list("department_id", flat=True))
    return [party for party in version.contract.parties() if party.pk not in signed]


def activate_if_ready(version: ContractVersion, *, actor, at: datetime.datetime | None = None) -> bool:
    """Activate a fully signed version whose notice period is over. Idempotent.

    No right is checked: activation follows from the parties' signatures and the date; ``actor``
    (the last signer, or the system once the notice period ends) is who the records name."""
    at = at or now()
    if version.status != ContractStatus.PROPOSED or missing_signatures(version):
        return False
    if version.effective_from and version.effective_from > at:
        return False
    with acting_as(actor), audit.batch():
        previous = ContractVersion.objects.select_for_update().filter(
            contract=version.contract, status=ContractStatus.ACTIVE).exclude(pk=version.pk).first()
        if previous is not None:
            previous.status = ContractStatus.SUPERSEDED
            previous.ended_at = at
            previous.save()
        version.status = ContractStatus.ACTIVE
        version.activated_at = at
        version.save()
    sync_contract_schedule(version.contract, actor=actor)
    return True


def activate_due_versions(*, actor, at: datetime.datetime | None = None) -> list[ContractVersion]:
    """Activate the signed versions whose notice period has ended (run on a schedule)."""
    activated = []
    for version in ContractVersion.objects.filter(status=ContractStatus.PROPOSED, effective_from__lte=at or now()):
        with transaction.atomic():
            locked = ContractVersion.objects.select_for_update().get(pk=version.pk)
            if activate_if_ready(locked, actor=actor, at=at):
                activated.append(locked)
    return activated


def terminate(version: ContractVersion, *, actor, reason: str) -> ContractVersion:
    if not reason.strip():
        raise Invalid("Say why the contract is terminated.", errors={"reason": ["This field may not be blank."]})
    _ensure_producer_side(actor, version, "terminate a contract")
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = ContractVersion.objects.select_for_update().get(pk=version.pk)
        if version.status not in (ContractStatus.ACTIVE, ContractStatus.PROPOSED):
            raise Conflict(f"Version {version.version} is {version.status}; it cannot be terminated.")
        version.status = ContractStatus.TERMINATED
        version.ended_at = now()
        version.save()
        sync_contract_schedule(version.contract, actor=actor)
        audit.record_event(AuditAction.UPDATE, version, reason=reason, details={"terminated": True})
    return version


def _ensure_producer_side(actor, version: ContractVersion, what: str) -> None:
    user = person(actor, to=what)
    if not acts_for(user, version.contract.producer) and not user.has_perm("governance.change_contractversion"):
        raise NotAllowed(f"Only the producer's lead (or the council) may {what}.")
