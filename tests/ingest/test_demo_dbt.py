"""The demo warehouse's dbt project (ingest/demo_dbt) in ``load_demo`` (what ``make run`` runs): its
models become datasets of the warehouse with owners and departments from meta, its tests and their
results are recorded, its lineage drawn; the warehouse's harvest finds those tables as dbt described
them; and loading the demo again writes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from catalog.models import Dataset, Field, LineageEdge
from catalog.models.lineage import LineageOrigin
from harvest.models import HarvestRun, SchemaChange
from ingest.demo import PROJECT_NAME, demo_dbt_tables
from ingest.models import DbtNode, DbtTest, IngestionRun, IngestionStatus
from permissions.models import AuditRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "demo_warehouse.sqlite3"
    monkeypatch.setenv("ACCORD_DEMO_WAREHOUSE_DSN", f"sqlite:///{path}")
    return path


def _load(capture) -> str:
    out = io.StringIO()
    with capture(execute=True):
        call_command("load_demo", "--harvest", stdout=out)
    return out.getvalue()


def test_the_demo_ingests_its_dbt_project(warehouse, django_capture_on_commit_callbacks):
    output = _load(django_capture_on_commit_callbacks)

    run = IngestionRun.objects.get(project__name=PROJECT_NAME)
    assert run.status == IngestionStatus.SUCCEEDED, (run.warnings, run.errors)
    assert run.dbt_version == "1.10.23"
    assert f"dbt ingestion #{run.pk} of {PROJECT_NAME}: succeeded" in output
    dim_lead = Dataset.objects.get(system__slug="analytics-warehouse", qualified_name="marts.dim_lead")
    assert (dim_lead.steward.username, dim_lead.owner_department.slug) == ("nina.revops", "revenue-operations")
    owners = {d.qualified_name: (d.steward.username, d.owner_department.slug) for d in Dataset.objects.filter(
        qualified_name__in=["marts.fct_lead_funnel", "marts.mql_handoff_queue"])}
    assert owners == {"marts.fct_lead_funnel": ("maria.marketing", "marketing"),
                      "marts.mql_handoff_queue": ("diego.sales", "sales")}
    assert DbtNode.objects.get(dataset=dim_lead).contract_enforced

    results = {(t.test_type, t.column_name): (t.status, t.failures) for t in DbtTest.objects.filter(dataset=dim_lead)}
    assert results[("unique", "lead_id")] == ("fail", 3)  # the demo's planted duplicate leads
    assert results[("accepted_values", "lead_status")][0] == "fail"
    assert results[("relationships", "converted_account_id")][0] == "warn"
    assert results[("not_null", "lead_id")] == ("pass", 0)

    edges = LineageEdge.objects.filter(origin=LineageOrigin.DBT, target=dim_lead)
    assert edges.filter(source__qualified_name="staging.stg_leads", source_field=None).exists()
    assert edges.filter(source_field__name="email", target_field__name="email").exists()
    assert LineageEdge.objects.filter(origin=LineageOrigin.DBT, source=dim_lead,
                                      target__qualified_name="marts.fct_lead_funnel").exists()

    # The harvest of the warehouse finds the tables dbt builds, typed as dbt's catalog reports them.
    first = HarvestRun.objects.filter(system__slug="analytics-warehouse").order_by("pk").first()
    assert not first.changes.exists()
    for name, columns in demo_dbt_tables().items():
        fields = Field.objects.filter(dataset__qualified_name=name).order_by("position")
        assert [(f.name, f.data_type) for f in fields] == columns
    assert not Dataset.objects.filter(removed_from_source_at__isnull=False).exists()


def test_loading_the_demo_again_ingests_nothing_new(warehouse, django_capture_on_commit_callbacks):
    _load(django_capture_on_commit_callbacks)
    tables = (AuditRecord, Dataset, Field, LineageEdge, DbtNode, DbtTest, SchemaChange)
    before = [model.objects.count() for model in tables]
    modified = warehouse.stat().st_mtime_ns

    output = _load(django_capture_on_commit_callbacks)

    assert [model.objects.count() for model in tables] == before
    last = IngestionRun.objects.filter(project__name=PROJECT_NAME).latest("pk")
    assert all(c["added"] == c["changed"] == c["removed"] == 0 for c in last.counts.values())
    assert "succeeded (nothing changed)" in output
    assert warehouse.stat().st_mtime_ns == modified
