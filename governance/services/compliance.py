"""Compliance runs: executing a contract version's checks, recording results,
keeping the contract's status, and opening and resolving incidents."""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from catalog.models import DepartmentMembership
from governance.checks.metadata import datasets_by_schema_object, run_metadata_checks
from governance.choices import ContractStatus, VersionStatus
from governance.models import (
    CheckResult,
    ComplianceRun,
    ContractVersion,
    DataContract,
    EventType,
    Incident,
    StateWorkflow,
)
from governance.models.compliance import IncidentStatus, Outcome, RunStatus, RunTrigger
from governance.services import notifications
from governance.services.common import acting_as, acts_for, is_council, now, person, user_of
from permissions import context
from permissions.edit import can_change
from permissions.errors import Conflict, Invalid, NotAllowed


class SourceNotConfigured(Exception):
    pass


def dsn_for(system) -> str:
    """The connection string, read from the environment variable the system names; never stored."""
    if not system.connection_engine or not system.connection_env:
        raise SourceNotConfigured(f"{system} has no connection configured.")
    dsn = os.environ.get(system.connection_env, "")
    if not dsn:
        raise SourceNotConfigured(f"The environment variable {system.connection_env} (connection of {system}) "
                                  "is not set on this worker.")
    return dsn


def get_or_create_run(version: ContractVersion, *, scheduled_for: datetime.datetime, trigger: str,
                      actor) -> tuple[ComplianceRun, bool]:
    """The run for (version, time): created once, found again by a redelivered task.

    ``actor`` is who asks for it (``requested_by`` when a person), and what its record names."""
    existing = ComplianceRun.objects.filter(contract_version=version, scheduled_for=scheduled_for).first()
    if existing is not None:
        return existing, False
    try:
        with acting_as(actor), transaction.atomic():
            return ComplianceRun.objects.create(contract_version=version, scheduled_for=scheduled_for,
                                                trigger=trigger, requested_by=user_of(actor)), True
    except IntegrityError:  # another worker created it a moment ago
        return ComplianceRun.objects.get(contract_version=version, scheduled_for=scheduled_for), False


def request_run(contract: DataContract, *, trigger: str, actor) -> ComplianceRun:
    """Ask for a run of the contract's active version now (admin, API, command, schema drift).

    A run reads live sources and may open incidents: a person needs the right to change the
    contract (the producer's lead, the council); the system (a command, schema drift) may always ask."""
    user = user_of(actor)
    if user is not None and not can_change(user, contract):
        raise NotAllowed("Only the producer's lead or the council may run checks.")
    version = contract.active_version()
    if version is None:
        raise Conflict(f"{contract} has no active version to check.")
    run, _ = get_or_create_run(version, scheduled_for=now(), trigger=trigger, actor=actor)
    from governance import tasks

    transaction.on_commit(lambda: tasks.run_compliance_checks.delay(run.pk))
    return run


def _data_results(version: ContractVersion, at: datetime.datetime) -> list[dict]:
    """Data and state-conformance results for every covered dataset with a live source.

    Raises data_checks.SourceUnavailable when a source cannot be reached (the task retries).
    """
    from governance.checks import data as data_checks

    results: list[dict] = []
    mapping = datasets_by_schema_object(version)
    quality = version.terms.get("quality", []) or []
    # The definition versions pinned when the contract version was proposed, not later approvals (issue 15).
    pinned = {pin.definition_id: pin for pin in version.state_definition_versions.all()}
    approved_states = {
        state.pk: state for state in version.state_definitions.select_related("workflow")
        if state.pk in pinned or state.versions.filter(status=VersionStatus.APPROVED).exists()
    }
    for obj in version.terms.get("schema", []) or []:
        dataset = mapping.get(obj.get("name"))
        if dataset is None:
            continue
        columns_by_name = {spec["name"]: spec.get("physical_name") or spec["name"] for spec in obj.get("fields", [])}
        rules = []
        for index, rule in enumerate(quality):
            if rule.get("object") != obj.get("name"):
                continue
            field = rule.get("field")
            rules.append(data_checks.Rule(
                key=f"data:{obj['name']}:{field or '*'}:{rule['rule']}:{index}", rule=rule["rule"],
                field=columns_by_name.get(field, field) if field else None, params=rule.get("params") or {},
                severity=rule.get("severity")))
        workflows = StateWorkflow.objects.filter(dataset=dataset, state_field__isnull=False)
        states = {s.state_value: (pinned.get(s.pk) or s.approved_version()).criteria for s in approved_states.values()
                  if s.workflow.dataset_id == dataset.pk and s.state_value}
        if not rules and not states:
            continue
        try:
            dsn = dsn_for(dataset.system)
        except SourceNotConfigured as exc:
            for rule in rules:
                results.append(_error(rule.key, "data", rule.rule, dataset, rule.field or "", str(exc)))
            continue
        columns = dict(dataset.fields.values_list("name", "data_type"))
        try:
            results += _check_dataset(data_checks, dsn, dataset, columns, rules, states, workflows.first(), at)
        except data_checks.CheckSetupError as exc:
            # A permanent problem (a malformed DSN, a missing table or state column): an
            # error result for each rule of the dataset, not a retry.
            keys = [(r.key, r.rule, r.field or "") for r in rules] + [
                (f"state:{dataset.qualified_name}:{value}", "state_conformance", "") for value in states]
            results += [_error(key, "data" if not key.startswith("state:") else "state", rule, dataset, field,
                               str(exc)) for key, rule, field in keys]
    return results


def _check_dataset(data_checks, dsn, dataset, columns, rules, states, workflow, at) -> list[dict]:
    results: list[dict] = []
    timeout = settings.ACCORD_CHECK_STATEMENT_TIMEOUT_MS
    with data_checks.open_source(dsn, statement_timeout_ms=timeout) as source:
        for result in data_checks.run_data_checks(source, table=dataset.qualified_name, columns=columns,
                                                  rules=rules, now=at):
            results.append({"key": result.key, "kind": "data", "rule": result.rule, "dataset": dataset,
                            "field": result.field or "", "status": result.status, "observed": result.observed,
                            "threshold": result.threshold or "", "violations": result.violations,
                            "duration_ms": result.duration_ms, "message": result.message})
        if states and workflow is not None:
            started = time.perf_counter()
            counts = data_checks.run_state_conformance(
                source, table=dataset.qualified_name, columns=columns, state_column=workflow.state_field.name,
                states=states, now=at)
            for value, count in counts.items():
                violations = count["violations"]
                results.append({
                    "key": f"state:{dataset.qualified_name}:{value}", "kind": "state", "rule": "state_conformance",
                    "dataset": dataset, "field": workflow.state_field.name,
                    "status": Outcome.FAIL if violations else Outcome.PASS,
                    "observed": {"claimed": count["claimed"]}, "threshold": "= 0", "violations": violations,
                    "duration_ms": count.get("duration_ms", (time.perf_counter() - started) * 1000),
                    "message": f"{violations} of {count['claimed']} rows claiming {value!r} do not meet its "
                               "approved criteria." if violations else f"Every row claiming {value!r} conforms.",
                })
    return results


def _error(key, kind, rule, dataset, field, message) -> dict:
    return {"key": key, "kind": kind, "rule": rule, "dataset": dataset, "field": field, "status": Outcome.ERROR,
            "observed": None, "threshold": "", "violations": None, "duration_ms": 0.0, "message": message}


def execute(run: ComplianceRun, *, actor) -> ComplianceRun:
    """Run every check of ``run`` and record one set of results.

    Safe to call again for the same run (a redelivered task): a completed run is
    left alone, and results are replaced, never appended. Raises
    ``data_checks.SourceUnavailable`` (after recording it on the run) so the caller
    can retry later.
    """
    with acting_as(actor):
        return _execute(run, actor)


def _execute(run: ComplianceRun, actor) -> ComplianceRun:
    with transaction.atomic():
        run = ComplianceRun.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.COMPLETED:
            return run
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now()
        run.save()
    version = ContractVersion.objects.select_related("contract__producer").get(pk=run.contract_version_id)
    at = now()
    results = [{"key": r.key, "kind": "metadata", "rule": r.rule, "dataset": r.dataset, "field": r.field,
                "status": r.status, "observed": r.observed, "threshold": r.threshold, "violations": r.violations,
                "duration_ms": r.duration_ms, "message": r.message} for r in run_metadata_checks(version)]
    from governance.checks.data import SourceUnavailable

    try:
        results += _data_results(version, at)
    except SourceUnavailable as exc:
        record_unavailable(run, str(exc), actor=actor)
        raise
    return finish(run, results, actor=actor)


def record_unavailable(run: ComplianceRun, message: str, *, actor, final: bool = False) -> ComplianceRun:
    """A source is down: the run shows an error result now; it is retried unless ``final``."""
    with acting_as(actor), transaction.atomic():
        run = ComplianceRun.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.COMPLETED:
            return run
        run.last_error = message[:2000]
        CheckResult.objects.filter(run=run).delete()
        CheckResult.objects.create(run=run, key="source:unavailable", kind="data", rule="source_available",
                                   status=Outcome.ERROR, message=message[:2000])
        if final:
            return _complete(run, Outcome.ERROR, {"error": 1}, actor)
        run.status = RunStatus.RETRYING
        run.save()
    return run


def finish(run: ComplianceRun, results: list[dict], *, actor) -> ComplianceRun:
    with acting_as(actor), transaction.atomic():
        run = ComplianceRun.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.COMPLETED:
            return run  # another delivery of the same task finished first
        CheckResult.objects.filter(run=run).delete()
        CheckResult.objects.bulk_create([CheckResult(run=run, **_jsonable(result)) for result in results])
        counts = {status: sum(1 for r in results if r["status"] == status) for status in Outcome.values}
        outcome = Outcome.FAIL if counts["fail"] else Outcome.ERROR if counts["error"] else Outcome.PASS
        return _complete(run, outcome, counts, actor)


def _jsonable(result: dict) -> dict:
    observed = result.get("observed")
    if isinstance(observed, (datetime.datetime, datetime.date)):
        observed = observed.isoformat()
    return {**result, "observed": observed, "message": (result.get("message") or "")[:2000]}


def _complete(run: ComplianceRun, outcome: str, counts: dict, actor) -> ComplianceRun:
    run.status = RunStatus.COMPLETED
    run.outcome = outcome
    run.finished_at = now()
    run.summary = counts
    run.last_error = "" if outcome != Outcome.ERROR else run.last_error
    run.save()
    _update_contract(run, actor)
    return run


STATUS_FOR = {Outcome.PASS: "compliant", Outcome.FAIL: "failing", Outcome.ERROR: "error"}


def _update_contract(run: ComplianceRun, actor) -> None:
    """Keep the contract's status; open an incident when it starts failing, resolve it when it passes."""
    contract = DataContract.objects.select_for_update().get(pk=run.contract_version.contract_id)
    version = run.contract_version
    if version.status != ContractStatus.ACTIVE:
        return  # a run of an old version says nothing about the contract now
    if contract.last_checked_at and contract.last_checked_at > run.scheduled_for:
        return  # a newer run already decided the status
    previous, current = contract.compliance_status, STATUS_FOR[run.outcome]
    contract.compliance_status = current
    contract.last_checked_at = run.scheduled_for
    contract.save()
    unresolved = Incident.objects.filter(contract=contract).exclude(status=IncidentStatus.RESOLVED).first()
    if current == "failing" and unresolved is None:
        incident = open_incident(contract, run, actor=actor)
        notifications.emit(EventType.CONTRACT_BREACHED, contract=contract, run=run, incident=incident)
        notifications.emit(EventType.INCIDENT_OPENED, contract=contract, run=run, incident=incident)
    elif current == "compliant" and unresolved is not None:
        resolve_incident(unresolved, run=run, actor=actor, note="Checks pass again.")
        notifications.emit(EventType.CONTRACT_RESTORED, contract=contract, run=run, incident=unresolved)
    elif current == "compliant" and previous == "failing":
        notifications.emit(EventType.CONTRACT_RESTORED, contract=contract, run=run)


def _steward_of(department):
    for role in ("steward", "lead"):
        membership = DepartmentMembership.objects.filter(department=department, role=role).select_related(
            "user").order_by("id").first()
        if membership is not None:
            return membership.user
    return None


def open_incident(contract: DataContract, run: ComplianceRun, *, actor) -> Incident:
    failing = list(run.results.filter(status=Outcome.FAIL).values_list("key", flat=True)[:20])
    with acting_as(actor):
        return Incident.objects.create(
            contract=contract, opened_by_run=run, title=f"{contract.name} is failing its checks",
            summary={"failing_rules": failing, "counts": run.summary}, assignee=_steward_of(contract.producer),
            ack_due_at=now() + datetime.timedelta(hours=settings.ACCORD_INCIDENT_ACK_HOURS))


def resolve_incident(incident: Incident, *, run: ComplianceRun | None = None, actor, note: str) -> Incident:
    """Resolve by hand (a person who may handle the incident) or by a passing run (the system)."""
    if not note.strip():
        raise Invalid("Say how the incident was resolved.", errors={"note": ["This field may not be blank."]})
    user = user_of(actor)
    with acting_as(actor), transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status == IncidentStatus.RESOLVED:
            raise Conflict(f"Incident #{incident.pk} is already resolved.")
        if user is not None and not may_handle(user, incident):
            raise NotAllowed("Only the assignee, the producer's steward or lead, or the council resolves incidents.")
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now()
        incident.resolved_by_run = run
        incident.resolution_note = note
        incident.save()
        notifications.emit(EventType.INCIDENT_RESOLVED, contract=incident.contract, run=run, incident=incident)
    return incident


def may_handle(user, incident: Incident) -> bool:
    """Whether ``user`` may acknowledge or resolve ``incident``."""
    if user.pk == incident.assignee_id or is_council(user) or acts_for(user, incident.contract.producer):
        return True
    return DepartmentMembership.objects.filter(user=user, department=incident.contract.producer,
                                               role="steward").exists()


def acknowledge_incident(incident: Incident, *, actor) -> Incident:
    user = person(actor, to="acknowledge an incident")
    with acting_as(actor), transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status != IncidentStatus.OPEN:
            raise Conflict(f"Incident #{incident.pk} is {incident.status}; only an open incident is acknowledged.")
        if not may_handle(user, incident):
            raise NotAllowed("Only the assignee, the producer's steward or lead, or the council acknowledges.")
        incident.status = IncidentStatus.ACKNOWLEDGED
        incident.acknowledged_at = now()
        incident.acknowledged_by = user
        incident.save()
    return incident


def escalate_overdue(at: datetime.datetime | None = None, *, actor) -> list[Incident]:
    """Open incidents whose acknowledgement is overdue: first notify again, then
    hand them to the producer department's lead."""
    with acting_as(actor):
        return _escalate_overdue(at or now())


def _escalate_overdue(at: datetime.datetime) -> list[Incident]:
    escalated = []
    for incident_id in Incident.objects.filter(status=IncidentStatus.OPEN, ack_due_at__lt=at).values_list(
            "pk", flat=True):
        with transaction.atomic():
            incident = Incident.objects.select_for_update().select_related("contract__producer").get(pk=incident_id)
            if incident.status != IncidentStatus.OPEN or not incident.ack_due_at or incident.ack_due_at >= at:
                continue
            incident.escalation_level += 1
            incident.last_escalated_at = at
            incident.ack_due_at = at + datetime.timedelta(hours=settings.ACCORD_INCIDENT_ACK_HOURS)
            if incident.escalation_level >= 2:
                lead = DepartmentMembership.objects.filter(department=incident.contract.producer,
                                                           role="lead").select_related("user").first()
                if lead is not None:
                    incident.assignee = lead.user
            with context.reason(f"Acknowledgement overdue: escalation level {incident.escalation_level}"):
                incident.save()
            notifications.emit(EventType.INCIDENT_ESCALATED, contract=incident.contract, incident=incident)
            escalated.append(incident)
    return escalated


def schema_drift(dataset, *, changes: dict[str, Any], actor) -> list[ComplianceRun]:
    """A covered dataset's schema changed: check every active contract covering it."""
    runs = []
    with acting_as(actor):
        for contract in DataContract.objects.filter(datasets=dataset,
                                                    versions__status=ContractStatus.ACTIVE).distinct():
            notifications.emit(EventType.SCHEMA_DRIFT, contract=contract, details={"dataset": dataset.pk, **changes})
            runs.append(request_run(contract, trigger=RunTrigger.SCHEMA_DRIFT, actor=actor))
    return runs


