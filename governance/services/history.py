"""Governance history is never deleted: approved designations, definition versions past the draft
and their definitions, contract versions past the draft, signatures, approvals, incidents and runs
are retired or superseded instead.

Deleting an object also deletes what depends on it (a contract its versions and signatures, a
state definition its versions and its place in contract versions), so the rule is checked over
everything a deletion would remove, as Django's deletion collector finds it. The API's DELETE and
the admin's delete both ask ``kept_history`` and refuse with the same message.
"""

from __future__ import annotations

from django.db import router
from django.db.models import Q
from django.db.models.deletion import Collector, ProtectedError, RestrictedError

from governance.choices import ContractStatus, DesignationStatus, VersionStatus
from governance.models import (
    CheckResult,
    ComplianceRun,
    ContractSignature,
    ContractVersion,
    Incident,
    StateApproval,
    StateDefinitionVersion,
    SystemOfRecord,
)
from permissions.errors import Conflict


def _history_rules() -> dict:
    """Model → the rows of it that are history (``Q()``: all of them)."""
    return {
        SystemOfRecord: Q(status__in=[DesignationStatus.ACTIVE, DesignationStatus.SUPERSEDED]),
        StateDefinitionVersion: ~Q(status=VersionStatus.DRAFT),
        StateApproval: Q(),
        ContractVersion: ~Q(status=ContractStatus.DRAFT),
        ContractSignature: Q(),
        # A contract version's reference to a state definition: deleting the definition would
        # change what the version covers without a new version or signature.
        ContractVersion.state_definitions.through: Q(),
        # What a proposed or signed version covers and who its parties are: deleting a dataset
        # or a department would change what was signed underneath the signatures.
        ContractVersion.datasets.through: ~Q(contractversion__status=ContractStatus.DRAFT),
        ContractVersion.consumers.through: ~Q(contractversion__status=ContractStatus.DRAFT),
        ComplianceRun: Q(),
        CheckResult: Q(),
        Incident: Q(),
    }


MESSAGES = {
    SystemOfRecord: "an approved system-of-record designation",
    StateDefinitionVersion: "a state definition version past the draft",
    StateApproval: "a department's approval of a state definition",
    ContractVersion: "a contract version past the draft",
    ContractSignature: "a contract signature",
    ComplianceRun: "a compliance run",
    CheckResult: "a compliance check result",
    Incident: "an incident",
}


def kept_history(objs) -> str | None:
    """Why deleting ``objs`` is refused (it would delete governance history), or ``None``."""
    objs = list(objs)
    if not objs:
        return None
    rules = _history_rules()
    collector = Collector(using=router.db_for_write(type(objs[0])), origin=objs)
    blocking = []
    try:
        collector.collect(objs)
    except (ProtectedError, RestrictedError) as exc:
        # The database refuses the deletion anyway; when what blocks it is history (a run an
        # incident was opened by), say so rather than offering a delete that cannot happen.
        blocking = list(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
    by_model: dict = {}
    for obj in blocking:
        by_model.setdefault(type(obj), set()).add(obj.pk)
    for model, instances in collector.data.items():
        by_model.setdefault(model, set()).update(obj.pk for obj in instances)
    candidates = [(model, model._base_manager.filter(pk__in=pks)) for model, pks in by_model.items()]
    candidates += [(queryset.model, queryset) for queryset in collector.fast_deletes]
    for model, queryset in candidates:
        rule = rules.get(model)
        if rule is not None and queryset.filter(rule).exists():
            what = MESSAGES.get(model, "a contract version's reference to a state definition")
            if model in (ContractVersion.datasets.through, ContractVersion.consumers.through):
                what = "what a proposed or signed contract version covers (its datasets and parties)"
            return (f"Deleting this would delete {what}, which is history and is never deleted; "
                    "retire or supersede it instead (a new version, a new designation).")
    return None


def ensure_no_history(objs) -> None:
    reason = kept_history(objs)
    if reason:
        raise Conflict(reason)
