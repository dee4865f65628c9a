"""Harvesting a real SQLite file: what appears, drift, idempotence, curated metadata kept."""

from __future__ import annotations

import os
import sqlite3
import tempfile

import pytest

from catalog.models import Dataset, Field, LineageEdge, System
from harvest import services
from harvest.models import ChangeKind, FieldRelationship, HarvestStatus, SchemaChange
from permissions.context import system_actor
from permissions.models import AuditRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(monkeypatch):
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "src.sqlite3")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE customers (id integer PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, name text);
        CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers (id),
                             amount numeric(10,2));
        CREATE VIEW big_orders AS SELECT o.id, o.amount FROM orders o WHERE o.amount > 100;
    """)
    db.close()
    monkeypatch.setenv("HARVEST_TEST_DSN", f"sqlite:///{path}")
    with system_actor("tests", reason="test system"):
        system = System.objects.create(name="Shop", slug="shop", connection_engine="sqlite",
                                       connection_env="HARVEST_TEST_DSN")
    return system, path


def test_first_harvest_registers_tables_views_keys_and_lineage(source):
    system, _ = source
    run = services.harvest(system)
    assert run.status == HarvestStatus.SUCCEEDED, run.errors
    assert set(Dataset.objects.filter(system=system).values_list("qualified_name", "kind")) == {
        ("customers", "table"), ("orders", "table"), ("big_orders", "view")}
    email = Field.objects.get(dataset__qualified_name="customers", name="email")
    assert (email.data_type, email.nullable, email.is_key) == ("varchar(255)", False, False)
    assert Dataset.objects.get(qualified_name="customers").unique_keys == [["email"]]
    assert Field.objects.get(dataset__qualified_name="orders", name="id").is_key
    relationship = FieldRelationship.objects.get()
    assert (relationship.from_field.name, relationship.to_field.name) == ("customer_id", "id")
    edges = LineageEdge.objects.filter(target__qualified_name="big_orders")
    assert {(e.source.qualified_name, e.source_field and e.source_field.name) for e in edges} == {
        ("orders", None), ("orders", "id"), ("orders", "amount")}


def test_second_harvest_writes_nothing(source):
    system, _ = source
    services.harvest(system)
    counts = (Dataset.objects.count(), Field.objects.count(), LineageEdge.objects.count(),
              SchemaChange.objects.count(), AuditRecord.objects.count())
    run = services.harvest(system)
    assert run.status == HarvestStatus.SUCCEEDED
    assert (Dataset.objects.count(), Field.objects.count(), LineageEdge.objects.count(),
            SchemaChange.objects.count(), AuditRecord.objects.count()) == counts
    assert run.counts["datasets"]["unchanged"] == 3


def test_drift_and_curated_metadata_kept(source):
    system, path = source
    services.harvest(system)
    with system_actor("tests", reason="curate"):
        customers = Dataset.objects.get(qualified_name="customers")
        customers.description = "People who buy."
        customers.save()
    db = sqlite3.connect(path)
    db.executescript("""
        ALTER TABLE customers DROP COLUMN name;
        ALTER TABLE customers ADD COLUMN phone varchar(20);
        DROP VIEW big_orders;
    """)
    db.close()
    run = services.harvest(system)
    kinds = set(SchemaChange.objects.filter(run=run).values_list("kind", "field_name"))
    assert kinds == {(ChangeKind.FIELD_REMOVED, "name"), (ChangeKind.FIELD_ADDED, "phone"),
                     (ChangeKind.DATASET_REMOVED, "")}
    assert Dataset.objects.get(qualified_name="customers").description == "People who buy."
    assert Dataset.objects.get(qualified_name="big_orders").removed_from_source_at is not None
    records = AuditRecord.objects.filter(actor_name=f"system:harvest:{run.pk}")
    assert records.exists()


def test_the_command_harvests_by_slug_and_fails_loudly(source, monkeypatch):
    from io import StringIO

    from django.core.management import CommandError, call_command

    system, _ = source
    out = StringIO()
    call_command("harvest", system.slug, stdout=out)
    assert "succeeded" in out.getvalue()
    with pytest.raises(CommandError, match="No system"):
        call_command("harvest", "no-such-system")
    monkeypatch.delenv("HARVEST_TEST_DSN")
    with pytest.raises(CommandError, match="HARVEST_TEST_DSN"):
        call_command("harvest", system.slug, stdout=StringIO())


def test_the_admin_action_harvests_the_selected_systems(source, client, django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    from harvest.models import HarvestRun, HarvestSettings, HarvestTrigger

    system, _ = source
    with system_actor("tests", reason="settings"):
        settings_ = HarvestSettings.objects.create(system=system)
    client.force_login(get_user_model().objects.create_superuser("harvest-admin", "h@example.com", "x"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/harvest/harvestsettings/", {
            "action": "harvest_now", "_selected_action": [settings_.pk]}, follow=True)
    assert response.status_code == 200
    run = HarvestRun.objects.get(system=system)
    assert (run.trigger, run.status, run.requested_by.username) == (HarvestTrigger.MANUAL, HarvestStatus.SUCCEEDED,
                                                                    "harvest-admin")
    assert Dataset.objects.filter(system=system).count() == 3
