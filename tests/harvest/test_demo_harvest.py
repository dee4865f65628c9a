"""The demo warehouse is harvested by ``load_demo --harvest`` (what ``make run`` runs): the first
harvest finds the catalog demo as registered (no drift, nothing removed) and adds what only the
source knows (positions, unique keys, foreign keys); the planted drift, a contracted column
dropped from the leads table, is found by the second as a breaking change with an incident on
the hand-off contract; a rerun writes nothing new."""

from __future__ import annotations

import io
import sqlite3

import pytest
from django.core.management import call_command

from catalog.demo import DATASETS, WAREHOUSE
from catalog.models import Dataset, Field, LineageEdge
from governance.demo import DRIFT_COLUMN, DRIFT_TABLE, WAREHOUSE_FORMAT, write_demo_warehouse
from governance.models import ComplianceRun, DataContract, Incident
from harvest.models import ChangeKind, Compatibility, FieldRelationship, HarvestRun, HarvestStatus, SchemaChange
from ingest.demo import demo_dbt_tables
from permissions.models import AuditRecord

pytestmark = pytest.mark.django_db

WAREHOUSE_SPECS = {spec["qualified_name"]: spec for spec in DATASETS if spec["system"] == WAREHOUSE}


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "demo_warehouse.sqlite3"
    monkeypatch.setenv("ACCORD_DEMO_WAREHOUSE_DSN", f"sqlite:///{path}")
    return path


def _load(capture) -> str:
    out = io.StringIO()
    with capture(execute=True):  # the drift's signal and incident come after commit
        call_command("load_demo", "--harvest", stdout=out)
    return out.getvalue()


def _columns(path, table: str) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
    finally:
        db.close()


def test_the_first_harvest_finds_the_demo_as_registered_and_the_second_the_planted_drift(
        warehouse, django_capture_on_commit_callbacks):
    output = _load(django_capture_on_commit_callbacks)

    first, second = HarvestRun.objects.filter(system__slug=WAREHOUSE).order_by("pk")
    assert (first.status, second.status) == (HarvestStatus.SUCCEEDED, HarvestStatus.SUCCEEDED), first.errors
    # Every registered warehouse dataset is in the file (the demo's and the tables its dbt project
    # builds, ingested before): none added, none removed, no drift.
    datasets = first.counts["datasets"]
    assert (datasets["added"], datasets["removed"]) == (0, 0)
    assert datasets["changed"] + datasets["unchanged"] == len(WAREHOUSE_SPECS) + len(demo_dbt_tables())
    assert not first.changes.exists()
    assert not Dataset.objects.filter(removed_from_source_at__isnull=False).exists()
    assert first.counts["fields"]["added"] == first.counts["fields"]["removed"] == 0

    # The source's types are the registered ones; positions, unique keys and foreign keys come from it.
    registered = {spec["name"]: spec["data_type"] for spec in WAREHOUSE_SPECS[DRIFT_TABLE]["fields"]}
    leads = Field.objects.filter(dataset__system__slug=WAREHOUSE, dataset__qualified_name=DRIFT_TABLE)
    found = {f.name: f.data_type for f in leads}
    assert found == {name: data_type for name, data_type in registered.items() if name != DRIFT_COLUMN}
    assert sorted(leads.values_list("position", flat=True)) == list(range(1, len(registered)))
    assert Dataset.objects.get(qualified_name="marts.dim_account").unique_keys == [["salesforce_account_id"]]
    assert FieldRelationship.objects.filter(system__slug=WAREHOUSE).count() == 6
    assert Dataset.objects.get(qualified_name="marts.fct_customer_health").key_fields == ["customer_key", "week_start"]

    # The planted drift: a contracted column gone, breaking, with an incident on the contract.
    contract = DataContract.objects.get(slug="marketing-sales-lead-handoff")
    change = second.changes.get()
    assert (change.kind, change.field_name, change.dataset.qualified_name) == (
        ChangeKind.FIELD_REMOVED, DRIFT_COLUMN, DRIFT_TABLE)
    assert (change.compatibility, change.contracts) == (Compatibility.BREAKING, [contract.pk])
    incident = Incident.objects.get(contract=contract)
    assert incident.title == f"Breaking schema drift: {contract.name}"
    assert incident.summary["breaking_changes"][0]["field"] == DRIFT_COLUMN
    assert DRIFT_COLUMN not in _columns(warehouse, DRIFT_TABLE)
    assert "1 schema change, 1 breaking" in output


def test_rerunning_the_demo_and_its_harvest_writes_nothing_new(warehouse, django_capture_on_commit_callbacks):
    _load(django_capture_on_commit_callbacks)
    tables = (AuditRecord, SchemaChange, Incident, ComplianceRun, Dataset, Field, LineageEdge, FieldRelationship)
    before = [model.objects.count() for model in tables]
    modified = warehouse.stat().st_mtime_ns

    output = _load(django_capture_on_commit_callbacks)

    assert [model.objects.count() for model in tables] == before
    last = HarvestRun.objects.filter(system__slug=WAREHOUSE).latest("pk")
    assert HarvestRun.objects.filter(system__slug=WAREHOUSE).count() == 3  # one more run, nothing else
    assert last.status == HarvestStatus.SUCCEEDED
    assert all(counts["added"] == counts["changed"] == counts["removed"] == 0 for counts in last.counts.values())
    assert warehouse.stat().st_mtime_ns == modified  # nothing planted again
    assert "nothing changed" in output and "no schema change" in output


def test_the_untyped_file_of_an_earlier_demo_is_replaced_and_any_other_file_left_alone(tmp_path):
    earlier = tmp_path / "earlier.sqlite3"
    db = sqlite3.connect(earlier)
    db.execute(f'CREATE TABLE "{DRIFT_TABLE}" (lead_id, email)')
    db.commit()
    db.close()
    assert write_demo_warehouse(earlier)
    db = sqlite3.connect(earlier)
    assert db.execute("PRAGMA user_version").fetchone()[0] == WAREHOUSE_FORMAT
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert tables == set(WAREHOUSE_SPECS)
    assert not write_demo_warehouse(earlier)  # now current: left alone

    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE mine (x)")
    db.commit()
    db.close()
    assert not write_demo_warehouse(other)
    assert _columns(other, "mine") == ["x"]
