"""Compliance runs end to end on a real SQLite source: results, idempotency, retries,
incidents (open, escalate, resolve), triggers, history."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from governance.checks.data import SourceUnavailable
from governance.models import CheckResult, ComplianceRun, Incident
from governance.services import compliance
from permissions.context import Actor
from permissions.models import AuditRecord
from tests.governance.compliance_fixtures import build_contract, write_source

pytestmark = pytest.mark.django_db
CHECKS = Actor(system="tests")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return build_contract(tmp_path, monkeypatch)


def run_now(version, trigger="manual"):
    run, _ = compliance.get_or_create_run(version, scheduled_for=timezone.now(), trigger=trigger, actor=CHECKS)
    return compliance.execute(run, actor=CHECKS)


def results_by_rule(run):
    return {r.key: r for r in run.results.all()}


def test_failing_run_finds_every_planted_violation_and_opens_an_incident(setup):
    run = run_now(setup["version"])
    assert run.status == "completed" and run.outcome == "fail"
    results = {(r.kind, r.rule, r.field): r for r in run.results.all()}
    assert results[("data", "not_null", "email")].violations == 3
    assert results[("data", "accepted_values", "status")].violations == 2
    assert results[("data", "unique", "lead_id")].status == "pass"
    assert results[("data", "row_count", "")].status == "pass"
    state = results[("state", "state_conformance", "status")]
    # 4 planted low scores, plus row 1: it claims "mql" but has no email (49 odd rows claim mql; row 3 is bogus).
    assert (state.status, state.violations, state.observed["claimed"]) == ("fail", 5, 49)
    assert {r.rule for r in run.results.filter(kind="metadata")} >= {
        "fields_present", "types_compatible", "fields_owned", "system_of_record", "state_definitions_approved",
        "signatures_current"}
    assert all(r.status == "pass" for r in run.results.filter(kind="metadata"))
    contract = setup["contract"]
    contract.refresh_from_db()
    assert contract.compliance_status == "failing"
    incident = Incident.objects.get(contract=contract)
    assert (incident.status, incident.assignee, incident.opened_by_run) == ("open", setup["sam"], run)
    assert incident.ack_due_at > timezone.now()
    # Results carry counts, never the data itself.
    text = " ".join(f"{r.observed} {r.message}" for r in run.results.all())
    assert "example.com" not in text and "bogus" not in text


def test_passing_again_resolves_the_incident(setup):
    run_now(setup["version"])
    write_source(setup["source"], null_emails=0, bad_statuses=0, unqualified_mqls=0)
    second = run_now(setup["version"])
    assert second.outcome == "pass"
    incident = Incident.objects.get(contract=setup["contract"])
    assert (incident.status, incident.resolved_by_run) == ("resolved", second)
    setup["contract"].refresh_from_db()
    assert setup["contract"].compliance_status == "compliant"
    third = run_now(setup["version"])
    assert third.outcome == "pass" and Incident.objects.count() == 1


def test_a_run_executed_twice_keeps_one_set_of_results(setup):
    run, created = compliance.get_or_create_run(setup["version"], scheduled_for=timezone.now(), trigger="scheduled",
                                                actor=CHECKS)
    again, created_again = compliance.get_or_create_run(setup["version"], scheduled_for=run.scheduled_for,
                                                        trigger="scheduled", actor=CHECKS)
    assert created and not created_again and again.pk == run.pk
    compliance.execute(run, actor=CHECKS)
    count = CheckResult.objects.filter(run=run).count()
    compliance.execute(run, actor=CHECKS)  # a redelivered task: the completed run is left alone
    run.status = "running"  # a worker died after the results were written but before... replay the run
    run.save()
    compliance.execute(run, actor=CHECKS)
    assert CheckResult.objects.filter(run=run).count() == count
    assert ComplianceRun.objects.filter(contract_version=setup["version"]).count() == 1


def test_source_down_gives_an_error_result_then_recovers(setup, monkeypatch, tmp_path):
    monkeypatch.setenv("ACCORD_TEST_LEADS_DSN", f"sqlite:///{tmp_path / 'missing.sqlite3'}")
    run, _ = compliance.get_or_create_run(setup["version"], scheduled_for=timezone.now(), trigger="scheduled",
                                          actor=CHECKS)
    with pytest.raises(SourceUnavailable) as error:
        compliance.execute(run, actor=CHECKS)
    assert "missing.sqlite3" in str(error.value)
    run.refresh_from_db()
    assert run.status == "retrying" and run.last_error
    assert [(r.key, r.status) for r in run.results.all()] == [("source:unavailable", "error")]
    monkeypatch.setenv("ACCORD_TEST_LEADS_DSN", f"sqlite:///{setup['source']}")
    run = compliance.execute(run, actor=CHECKS)
    assert run.status == "completed" and run.outcome == "fail" and run.attempts == 2
    assert not run.results.filter(key="source:unavailable").exists()


def test_unset_connection_is_an_error_result_not_a_crash(setup, monkeypatch):
    monkeypatch.delenv("ACCORD_TEST_LEADS_DSN")
    run = run_now(setup["version"])
    errors = run.results.filter(status="error", kind="data")
    assert errors.exists() and "ACCORD_TEST_LEADS_DSN" in errors.first().message
    assert run.outcome == "fail" or run.outcome == "error"


def test_escalation_notifies_again_then_hands_to_the_lead(setup):
    run_now(setup["version"])
    incident = Incident.objects.get()
    first = compliance.escalate_overdue(at=incident.ack_due_at + datetime.timedelta(minutes=1), actor=CHECKS)
    incident.refresh_from_db()
    assert [i.pk for i in first] == [incident.pk]
    assert (incident.escalation_level, incident.assignee) == (1, setup["sam"])
    compliance.escalate_overdue(at=incident.ack_due_at + datetime.timedelta(minutes=1), actor=CHECKS)
    incident.refresh_from_db()
    assert (incident.escalation_level, incident.assignee) == (2, setup["maria"])
    assert AuditRecord.objects.filter(object_type="governance.incident", object_id=str(incident.pk),
                                      action="update").count() >= 2


def test_acknowledge_and_resolve_by_hand_through_the_api(setup):
    run_now(setup["version"])
    incident = Incident.objects.get()
    outsider = APIClient()
    outsider.force_authenticate(setup["sofia"])  # the consumer's lead: not the producer's incident to handle
    assert outsider.post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 403
    client = APIClient()
    client.force_authenticate(setup["sam"])
    assert client.post(f"/api/v1/incidents/{incident.pk}/acknowledge/").json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/incidents/{incident.pk}/resolve/", {}, format="json").status_code == 400
    resolved = client.post(f"/api/v1/incidents/{incident.pk}/resolve/", {"note": "Backfilled emails"}, format="json")
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolution_note"] == "Backfilled emails"
    assert client.post(f"/api/v1/incidents/{incident.pk}/resolve/", {"note": "x"}, format="json").status_code == 409


def test_api_trigger_and_history(setup, django_capture_on_commit_callbacks):
    consumer = APIClient()
    consumer.force_authenticate(setup["sofia"])  # a consumer's lead reads results but does not run checks
    assert consumer.post(f"/api/v1/contracts/{setup['contract'].pk}/check/").status_code == 403
    client = APIClient()
    client.force_authenticate(setup["maria"])  # the producer's lead
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/contracts/{setup['contract'].pk}/check/")
    assert response.status_code == 202, response.content
    run = ComplianceRun.objects.get(pk=response.json()["id"])
    assert (run.trigger, run.status, run.requested_by) == ("api", "completed", setup["maria"])
    listing = client.get("/api/v1/compliance-runs/", {"contract": setup["contract"].pk,
                                                       "since": (timezone.now() - datetime.timedelta(hours=1))
                                                       .isoformat()}).json()
    assert [row["id"] for row in listing["results"]] == [run.pk]
    detail = client.get(f"/api/v1/compliance-runs/{run.pk}/").json()
    assert {r["rule"] for r in detail["results"]} >= {"not_null", "accepted_values", "state_conformance"}
    contract = client.get(f"/api/v1/contracts/{setup['contract'].pk}/").json()
    assert contract["active_version"] == "1.0.0"


def test_check_contracts_command(setup):
    with pytest.raises(CommandError, match="not compliant"):
        call_command("check_contracts", "--all", stdout=open("/dev/null", "w"))  # noqa: SIM115
    write_source(setup["source"], null_emails=0, bad_statuses=0, unqualified_mqls=0)
    call_command("check_contracts", "--contract", "handoff", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ComplianceRun.objects.filter(trigger="command").count() == 2
    with pytest.raises(CommandError, match="nope"):
        call_command("check_contracts", "--contract", "nope")


def test_schema_change_of_a_covered_dataset_triggers_a_run(setup, django_capture_on_commit_callbacks):
    client = APIClient()
    client.force_authenticate(setup["maria"])
    payload = {"system": "warehouse", "qualified_name": "leads", "fields": [
        {"name": "lead_id", "data_type": "integer"}, {"name": "email", "data_type": "text"},
        {"name": "status", "data_type": "varchar(32)"}, {"name": "score", "data_type": "integer"}]}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/datasets/register/", payload, format="json")
    assert response.status_code == 200, response.content
    assert ComplianceRun.objects.filter(trigger="schema_drift").count() == 1


def test_scheduled_task_is_one_run_per_tick(setup):
    from governance import tasks

    tick = timezone.now().replace(second=0, microsecond=0).isoformat()
    tasks.run_scheduled_contract_checks.apply(args=[setup["contract"].pk, tick])
    tasks.run_scheduled_contract_checks.apply(args=[setup["contract"].pk, tick])
    assert ComplianceRun.objects.filter(trigger="scheduled").count() == 1


def test_the_contract_schedule_lives_in_the_beat_database(setup):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Accord: check contract handoff")
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("0", "6", True)
    assert AuditRecord.objects.filter(object_type="django_celery_beat.periodictask", object_id=str(task.pk),
                                      action="create").exists()
