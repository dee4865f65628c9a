"""Drift: a harvest that finds nothing new writes nothing; one that finds changes records them,
classifies them against the active contract covering the dataset, sends the catalog's
``schema_changed`` signal (governance then notifies and checks) and opens an incident when the
contract's schema terms break. The source is the compliance tests' SQLite warehouse."""

from __future__ import annotations

import re
import sqlite3

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Field
from catalog.signals import schema_changed
from governance.models import ComplianceRun, Incident
from governance.models.compliance import RunTrigger
from harvest import services
from harvest.models import ChangeKind, Compatibility, HarvestStatus, SchemaChange
from permissions.models import AuditRecord
from tests.governance.compliance_fixtures import build_contract, write_source

pytestmark = pytest.mark.django_db

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?:\s+INTO|\s+FROM)?\s+\"?(\w+)", re.IGNORECASE)


@pytest.fixture
def world(tmp_path, monkeypatch):
    built = build_contract(tmp_path, monkeypatch)
    built["system"] = built["dataset"].system
    write_source(built["source"], null_emails=0, bad_statuses=0, unqualified_mqls=0)  # checks pass until drift
    return built


def _alter(path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def _writes(queries) -> list[tuple[str, str]]:
    return [(m.group(1).upper(), m.group(2)) for q in queries for m in [WRITE.match(q["sql"])] if m]


def test_a_harvest_that_finds_nothing_new_writes_nothing_but_its_run(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.harvest(world["system"])
    records, changes = AuditRecord.objects.count(), SchemaChange.objects.count()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True) as later:
        run = services.harvest(world["system"])
    assert run.status == HarvestStatus.SUCCEEDED, run.errors
    assert {table for _, table in _writes(queries)} == {"harvest_harvestrun"}, _writes(queries)
    assert (AuditRecord.objects.count(), SchemaChange.objects.count()) == (records, changes)
    assert later == []  # no signal, no checks, no notification
    assert run.counts["fields"] == {"added": 0, "changed": 0, "removed": 0, "unchanged": 4}
    assert run.counts["datasets"]["unchanged"] == 1


def test_drift_is_recorded_classified_signalled_and_a_breaking_one_opens_an_incident(
        world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.harvest(world["system"])  # the source's own types (TEXT for varchar(255)...)
    assert not Incident.objects.exists()  # compatible drift: checked (and passing), no incident
    signals = []

    def receiver(sender, dataset, changes, **kwargs):
        signals.append((dataset.pk, changes))

    _alter(world["source"], "ALTER TABLE leads DROP COLUMN email", "ALTER TABLE leads ADD COLUMN region varchar(8)")
    schema_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.harvest(world["system"])
    finally:
        schema_changed.disconnect(receiver)
    assert run.status == HarvestStatus.SUCCEEDED, run.errors
    found = {(c.kind, c.field_name, c.compatibility, tuple(c.contracts)) for c in SchemaChange.objects.filter(run=run)}
    assert found == {
        (ChangeKind.FIELD_REMOVED, "email", Compatibility.BREAKING, (world["contract"].pk,)),
        (ChangeKind.FIELD_ADDED, "region", Compatibility.COMPATIBLE, ()),
    }
    assert not Field.objects.filter(dataset=world["dataset"], name="email").exists()
    assert [(pk, c["removed"], c["created"], c["harvest_run"]) for pk, c in signals] == [
        (world["dataset"].pk, ["email"], ["region"], run.pk)]
    drift_runs = ComplianceRun.objects.filter(contract_version=world["version"], trigger=RunTrigger.SCHEMA_DRIFT,
                                              scheduled_for__gte=run.started_at)
    assert drift_runs.count() == 1  # governance's receiver asked for the checks, once
    incident = Incident.objects.get(contract=world["contract"])
    assert incident.title == f"Breaking schema drift: {world['contract'].name}"
    assert incident.opened_by_run == drift_runs.get()
    assert incident.summary["breaking_changes"][0]["field"] == "email"
    assert AuditRecord.objects.filter(actor_name=f"system:harvest:{run.pk}", object_type="catalog.field").exists()


def test_type_and_nullability_drift(world, django_capture_on_commit_callbacks):
    _alter(world["source"], "DROP TABLE leads",
           "CREATE TABLE leads (lead_id integer NOT NULL, email varchar(255), status varchar(32) NOT NULL, "
           "score integer)")
    with django_capture_on_commit_callbacks(execute=True):
        services.harvest(world["system"])
    _alter(world["source"], "DROP TABLE leads",
           "CREATE TABLE leads (lead_id integer NOT NULL, email varchar(120), status varchar(32), score bigint)")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.harvest(world["system"])
    found = {(c.kind, c.field_name, c.compatibility) for c in SchemaChange.objects.filter(run=run)}
    assert found == {
        (ChangeKind.TYPE_NARROWED, "email", Compatibility.BREAKING),
        (ChangeKind.NULLABILITY_CHANGED, "status", Compatibility.BREAKING),  # a required field made nullable
        (ChangeKind.TYPE_WIDENED, "score", Compatibility.COMPATIBLE),
    }
