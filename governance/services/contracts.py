"""Data contracts: versions, classification against the previous version, signatures, activation."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from catalog.models import Department
from governance import terms as contract_terms
from governance.choices import ChangeClass, ContractStatus, VersionStatus
from governance.models import ContractSignature, ContractVersion, DataContract, StateDefinitionVersion
from governance.models.contracts import BOUND_STATUSES
from governance.services.common import acting_as, acts_for, now, person, signs_for, user_of
from governance.services.schedules import sync_contract_schedule
from governance.services.states import definition_version_hash
from permissions import audit
from permissions.errors import Conflict, Invalid, NotAllowed
from permissions.models import AuditAction

OPEN = (ContractStatus.DRAFT, ContractStatus.PROPOSED)


def _invalid_terms(exc: contract_terms.TermsError) -> Invalid:
    return Invalid("The contract terms are not valid.", errors={
        (path if path == "version" else f"terms.{path}"): messages for path, messages in exc.as_dict().items()
    })


def version_hash(version: ContractVersion) -> str:
    """The hash a signature covers, recomputed from the stored rows.

    Scheme 2 covers the terms, the producer, the consumers, the covered datasets, the referenced
    state definitions and the content of the definition versions pinned for them (recomputed from
    their text and criteria, so a rewritten definition row shows too). Scheme 1 is what versions
    proposed before parties were part of a signature were hashed with; they keep it.
    """
    states = sorted(version.state_definitions.values_list("pk", flat=True)) if version.pk else []
    if version.hash_scheme == 1:
        return contract_terms.content_hash({"contract": version.contract_id, "version": version.version,
                                            "terms": version.terms, "states": states})
    coverage = _coverage(version) if version.pk else Coverage(version.producer_id, frozenset(), frozenset(), {})
    pinned = [] if not version.pk else [
        [pin.definition_id, pin.number, definition_version_hash(pin)]
        for pin in version.state_definition_versions.order_by("definition_id", "number")]
    return contract_terms.content_hash({
        "scheme": 2, "contract": version.contract_id, "version": version.version, "terms": version.terms,
        "producer": coverage.producer, "consumers": sorted(coverage.consumers), "datasets": sorted(coverage.datasets),
        "states": states, "state_versions": pinned,
    })


@dataclass(frozen=True)
class Coverage:
    """What a version binds besides its terms: parties, datasets, and a number for each state it refers to
    (the pinned version once proposed; for a draft, the version that proposing it now would pin)."""

    producer: int | None
    consumers: frozenset[int]
    datasets: frozenset[int]
    states: dict[int, int]


def _coverage(version: ContractVersion) -> Coverage:
    if version.status == ContractStatus.DRAFT:
        states = dict(StateDefinitionVersion.objects.filter(
            definition__in=version.state_definitions.all(), status=VersionStatus.APPROVED)
            .values_list("definition_id", "number"))
    else:
        states = dict(version.state_definition_versions.values_list("definition_id", "number"))
    return Coverage(version.producer_id, frozenset(version.consumers.values_list("pk", flat=True)),
                    frozenset(version.datasets.values_list("pk", flat=True)), states)


def _coverage_changes(old: Coverage, new: Coverage, result: contract_terms.Classification) -> None:
    """Parties, datasets and pinned definitions changed: at least additive; a removal is breaking."""
    names = dict(Department.objects.filter(pk__in=[*old.consumers, *new.consumers, old.producer, new.producer])
                 .values_list("pk", "name"))
    if old.producer != new.producer:
        result.add(ChangeClass.BREAKING, f"producer {names.get(old.producer)} replaced by {names.get(new.producer)}")
    for pk in sorted(old.consumers - new.consumers):
        result.add(ChangeClass.BREAKING, f"consumer {names.get(pk)} removed")
    for pk in sorted(new.consumers - old.consumers):
        result.add(ChangeClass.ADDITIVE, f"consumer {names.get(pk)} added")
    # Datasets and states by id: a change text is shown to readers who may not see them.
    for pk in sorted(old.datasets - new.datasets):
        result.add(ChangeClass.BREAKING, f"covered dataset #{pk} removed")
    for pk in sorted(new.datasets - old.datasets):
        result.add(ChangeClass.ADDITIVE, f"covered dataset #{pk} added")
    for pk in sorted(old.states.keys() - new.states.keys()):
        result.add(ChangeClass.BREAKING, f"state definition #{pk} no longer referenced")
    for pk in sorted(new.states.keys() - old.states.keys()):
        result.add(ChangeClass.ADDITIVE, f"state definition #{pk} referenced (v{new.states[pk]})")
    for pk in sorted(old.states.keys() & new.states.keys()):
        if old.states[pk] != new.states[pk]:
            result.add(ChangeClass.ADDITIVE, f"state definition #{pk} at v{new.states[pk]} (was v{old.states[pk]})")
    if result.changes:
        result.change_class = max((c["class"] for c in result.changes), key=CHANGE_RANK.__getitem__)


def previous_version(contract: DataContract, exclude: ContractVersion | None = None) -> ContractVersion | None:
    """The version a new one is compared with: the active one, else the latest superseded."""
    versions = contract.versions.exclude(pk=exclude.pk) if exclude is not None else contract.versions.all()
    return (versions.filter(status=ContractStatus.ACTIVE).first()
            or versions.filter(status=ContractStatus.SUPERSEDED).order_by("-activated_at", "-id").first())


CHANGE_RANK = {ChangeClass.COSMETIC: 0, ChangeClass.ADDITIVE: 1, ChangeClass.BREAKING: 2}


def _classify(version: ContractVersion, coverage: Coverage | None = None) -> None:
    """Classify ``version`` against the previous one: its terms and what it binds (``coverage``,
    read from the version's rows unless given)."""
    try:
        contract_terms.validate(version.terms)
        contract_terms.parse_semver(version.version)
        previous = previous_version(version.contract, exclude=version)
        if previous is None:
            version.change_class, version.changes = ChangeClass.INITIAL, []
            return
        result = contract_terms.classify(previous.terms, version.terms)
        if previous.producer_id is not None:  # versions migrated without parties compare on terms only
            _coverage_changes(_coverage(previous), coverage or _coverage(version), result)
        try:
            contract_terms.check_bump(previous.version, version.version, result.change_class)
        except contract_terms.TermsError as exc:
            # The refusal lists what makes the version that class, so a pipeline can say what to fix.
            refusal = _invalid_terms(exc)
            refusal.errors["changes"] = [f"{c['class']}: {c['change']}" for c in result.changes]
            raise refusal from exc
    except contract_terms.TermsError as exc:
        raise _invalid_terms(exc) from exc
    version.change_class, version.changes = result.change_class, result.changes


def create_version(*, contract: DataContract, version: str, terms: dict, actor, meta: dict | None = None,
                   residual: dict | None = None, state_definitions=(), producer: Department | None = None,
                   consumers=None, datasets=None) -> ContractVersion:
    """A new draft version; classified against the previous one and its semver bump checked.

    The draft binds ``producer``, ``consumers`` and ``datasets`` (by default the contract's). While the
    contract has no proposed or active version they are the contract's own, so naming others changes
    the contract too; otherwise they are what the parties will be asked to sign instead.
    """
    with acting_as(actor), transaction.atomic(), audit.batch():
        if contract.versions.filter(status__in=OPEN).exists():
            raise Conflict("This contract already has a draft or proposed version; finish or withdraw it first.")
        producer, consumers, datasets = _chosen_coverage(contract, producer, consumers, datasets)
        draft = ContractVersion(contract=contract, version=version, terms=terms, meta=meta or {},
                                residual=residual or {}, created_by=user_of(actor), producer=producer)
        states = _approved_states(state_definitions)
        _classify(draft, Coverage(producer.pk, frozenset(c.pk for c in consumers), frozenset(d.pk for d in datasets),
                                  dict(StateDefinitionVersion.objects.filter(
                                      definition__in=states, status=VersionStatus.APPROVED)
                                      .values_list("definition_id", "number"))))
        draft.full_clean(exclude=["terms", "meta", "residual", "changes"])
        draft.save()
        draft.state_definitions.set(states)
        _set_coverage(draft, producer, consumers, datasets)
        draft.content_hash = version_hash(draft)
        draft.save()
    return draft


def _chosen_coverage(contract: DataContract, producer, consumers, datasets) -> tuple:
    """The parties and datasets a draft binds: those named, the contract's for those not named."""
    producer = producer or contract.producer
    consumers = list(consumers) if consumers is not None else list(contract.consumers.all())
    datasets = list(datasets) if datasets is not None else list(contract.datasets.all())
    if producer in consumers:
        raise Invalid("The producer cannot also be a consumer.", errors={"consumers": [f"{producer} produces."]})
    if not consumers:
        raise Invalid("A contract needs at least one consumer department.",
                      errors={"consumers": ["Name at least one consuming department."]})
    return producer, consumers, datasets


def _set_coverage(version: ContractVersion, producer, consumers, datasets) -> None:
    """Bind the draft to these parties and datasets; while nothing is proposed or active, the contract's
    own follow (the contract shows what its current version binds)."""
    version.producer = producer
    version.consumers.set(consumers)
    version.datasets.set(datasets)
    contract = version.contract
    if not contract.versions.filter(status__in=BOUND_STATUSES).exists():
        _mirror(contract, version)


def _mirror(contract: DataContract, version: ContractVersion) -> None:
    """The contract's producer, consumers and datasets made those ``version`` binds."""
    contract = DataContract.objects.select_for_update().get(pk=contract.pk)
    if contract.producer_id != version.producer_id:
        contract.producer_id = version.producer_id
        contract.save()
    if set(contract.consumers.values_list("pk", flat=True)) != set(version.consumers.values_list("pk", flat=True)):
        contract.consumers.set(version.consumers.all())
    if set(contract.datasets.values_list("pk", flat=True)) != set(version.datasets.values_list("pk", flat=True)):
        contract.datasets.set(version.datasets.all())


def _approved_states(state_definitions) -> list:
    states = list(state_definitions)
    for state in states:
        if not StateDefinitionVersion.objects.filter(definition=state, status=VersionStatus.APPROVED).exists():
            raise Invalid(f"The contract relies on {state}, which has no approved definition yet.",
                          errors={"state_definitions": [f"{state} is not approved."]})
    return states


def update_draft(version: ContractVersion, *, actor, version_label: str | None = None, terms: dict | None = None,
                 state_definitions=None, producer: Department | None = None, consumers=None,
                 datasets=None) -> ContractVersion:
    """Edit a draft. Parties and datasets not named stay as they are, or follow the contract's while
    the contract has no proposed or active version (its own are then edited directly)."""
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = ContractVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != ContractStatus.DRAFT:
            raise Conflict(f"Version {version.version} is {version.status}; only a draft can be edited.")
        if version_label is not None:
            version.version = version_label
        if terms is not None:
            version.terms = terms
        if state_definitions is not None:
            version.state_definitions.set(_approved_states(state_definitions))
        if version.contract.versions.filter(status__in=BOUND_STATUSES).exists():
            # The contract shows what was signed: what the draft does not name stays as the draft has it.
            producer = producer or version.producer
            consumers = list(version.consumers.all()) if consumers is None else consumers
            datasets = list(version.datasets.all()) if datasets is None else datasets
        _set_coverage(version, *_chosen_coverage(version.contract, producer, consumers, datasets))
        _classify(version)
        version.content_hash = version_hash(version)
        version.save()
    return version


def check_contract_change(contract: DataContract, *, producer: Department | None = None, consumers=None,
                          datasets=None, seen_by=None) -> list[str]:
    """Which of the contract's parties and datasets the given values change; refused (409) while a version
    is proposed or active: the parties signed them, so they change through a new version they sign.

    ``seen_by``: the values come from a form that offered this user only what they may see (the admin),
    so they are compared with the stored ones that user sees."""
    stored = DataContract._base_manager.get(pk=contract.pk)
    changed = []

    def differs(chosen, related) -> bool:
        rows = related.all() if seen_by is None else related.model._default_manager.visible_to(seen_by).filter(
            pk__in=related.values("pk"))
        return {row.pk for row in chosen} != set(rows.values_list("pk", flat=True))

    if producer is not None and producer.pk != stored.producer_id:
        changed.append("producer")
    if consumers is not None and differs(consumers, stored.consumers):
        changed.append("consumers")
    if datasets is not None and differs(datasets, stored.datasets):
        changed.append("datasets")
    bound = stored.versions.filter(status__in=BOUND_STATUSES).order_by("-id").first()
    if changed and bound is not None:
        message = (f"Version {bound.version} of {stored} is {bound.status}: its parties signed its "
                   f"{', '.join(changed)}. Create a new draft version that names the new ones and have it signed.")
        raise Conflict(message, errors={name: [message] for name in changed})
    return changed


def follow_contract(contract: DataContract, *, actor) -> None:
    """A draft of a contract with no proposed or active version binds the contract's parties and datasets
    (for writers that changed the contract itself, e.g. the admin's form)."""
    with acting_as(actor), transaction.atomic(), audit.batch():
        if contract.versions.filter(status__in=BOUND_STATUSES).exists():
            return
        for draft in contract.versions.filter(status=ContractStatus.DRAFT):
            update_draft(draft, actor=actor)


def propose(version: ContractVersion, *, actor) -> ContractVersion:
    """Freeze the draft and open it for signatures."""
    _ensure_producer_side(actor, version, "propose a contract version")
    with acting_as(actor), transaction.atomic(), audit.batch():
        version = ContractVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != ContractStatus.DRAFT:
            raise Conflict(f"Version {version.version} is {version.status}; only a draft can be proposed.")
        if not version.contract.versions.filter(status__in=BOUND_STATUSES).exists():
            _set_coverage(version, *_chosen_coverage(version.contract, None, None, None))
        pins = _pins(version)
        _classify(version)  # the previous version (or an approved definition) may have changed since the draft
        version.status = ContractStatus.PROPOSED
        version.hash_scheme = 2
        version.state_definition_versions.set(pins)
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
        if version.status != ContractStatus.PROPOSED:
            raise Conflict(f"Version {version.version} is {version.status}; only a proposed version can be signed.")
        parties = version.parties()
        if department not in parties:
            names = ", ".join(p.name for p in parties)
            raise Invalid(f"{department} is not a party to this contract (parties: {names}).",
                          errors={"department": [f"Choose one of: {names}."]})
        if not signs_for(user, department):
            raise NotAllowed(f"Only a lead of {department} (or the DataOps council, on its behalf) may sign for it.")
        if version.signatures.filter(department=department).exists():
            raise Conflict(f"{department} has already signed version {version.version}.")
        current = version_hash(version)
        if current != version.content_hash:
            raise Conflict("The version's content changed after it was proposed; it cannot be signed.")
        with audit.batch():
            ContractSignature.objects.create(version=version, department=department, signed_by=user,
                                             content_hash=current, comment=comment)
        # Someone who acts for a department without leading it (a superuser) signs on its behalf.
        on_behalf = department.pk not in type(department).led_ids_for(user)
        audit.record_event(AuditAction.SIGN, version, details={"department": department.slug,
                                                               "content_hash": current, "on_behalf": on_behalf})
        activate_if_ready(version, actor=actor)
    return version


def missing_signatures(version: ContractVersion) -> list:
    signed = set(version.signatures.values_list("department_id", flat=True))
    return [party for party in version.parties() if party.pk not in signed]


def _pins(version: ContractVersion) -> list:
    """The approved version of every state the contract version refers to (pinned when it is proposed)."""
    states = list(version.state_definitions.all())
    pins = list(StateDefinitionVersion.objects.filter(definition__in=states, status=VersionStatus.APPROVED))
    unpinned = {state.pk for state in states} - {pin.definition_id for pin in pins}
    if unpinned:
        names = ", ".join(str(state) for state in states if state.pk in unpinned)
        raise Conflict(f"The version relies on {names}, which has no approved definition now.",
                       errors={"state_definitions": [f"Not approved: {names}."]})
    return pins


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
        if version.producer_id is not None:
            _mirror(version.contract, version)  # the contract shows what its active version binds
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


def verify(version: ContractVersion) -> dict:
    """Recompute ``version``'s hash from its stored rows and say, for each signature, whether it still
    matches: what ``verify_contract`` and ``GET …/contract-versions/<id>/verify/`` report."""
    if version.status == ContractStatus.DRAFT:
        raise Conflict(f"Version {version.version} is a draft: nothing is signed yet, so nothing can be verified.")
    recomputed = version_hash(version)
    pins = list(version.state_definition_versions.all())
    signatures = [
        {"department": s.department.slug, "signed_by": s.signed_by.get_username(), "signed_at": s.created_at,
         "content_hash": s.content_hash, "matches": s.content_hash == recomputed}
        for s in version.signatures.select_related("department", "signed_by").order_by("id")]
    missing = [party.slug for party in missing_signatures(version)]
    content_matches = recomputed == version.content_hash
    pins_match = all(pin.content_hash == definition_version_hash(pin) for pin in pins)
    return {
        "version": version.pk, "status": version.status, "hash_scheme": version.hash_scheme,
        "stored_hash": version.content_hash, "recomputed_hash": recomputed, "content_matches": content_matches,
        "pinned_definitions_match": pins_match, "missing_signatures": missing, "signatures": signatures,
        "ok": content_matches and pins_match and all(s["matches"] for s in signatures)
        and not (version.status == ContractStatus.ACTIVE and missing),
    }
