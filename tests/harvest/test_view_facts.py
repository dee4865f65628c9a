"""A view declares no keys and no NOT NULL: a harvest keeps what people registered for them, and finds
no drift in them (every view column looks nullable to the source)."""

from __future__ import annotations

import os
import sqlite3
import tempfile

import pytest

from catalog.models import Dataset, Field, System
from harvest import services
from harvest.models import SchemaChange
from permissions.context import system_actor

pytestmark = pytest.mark.django_db


def test_a_views_registered_keys_and_nullability_stay(monkeypatch):
    path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10,2) NOT NULL);
        CREATE VIEW big_orders AS SELECT o.id, o.amount FROM orders o WHERE o.amount > 100;
    """)
    db.close()
    monkeypatch.setenv("HARVEST_VIEW_DSN", f"sqlite:///{path}")
    with system_actor("tests", reason="a view people registered first"):
        system = System.objects.create(name="Shop", slug="shop", connection_engine="sqlite",
                                       connection_env="HARVEST_VIEW_DSN")
        view = Dataset.objects.create(system=system, qualified_name="big_orders", name="Big orders", kind="view",
                                      key_fields=["id"])
        Field.objects.create(dataset=view, name="id", data_type="integer", nullable=False, is_key=True, position=1)
        Field.objects.create(dataset=view, name="amount", data_type="numeric(10,2)", nullable=False, position=2)
    run = services.harvest(system)
    assert run.status == "succeeded", run.errors
    view.refresh_from_db()
    assert view.key_fields == ["id"]
    assert {(f.name, f.nullable, f.is_key) for f in view.fields.all()} == {("id", False, True),
                                                                          ("amount", False, False)}
    assert not SchemaChange.objects.filter(dataset=view).exists()
    # The table's own facts still come from the source.
    assert Field.objects.get(dataset__qualified_name="orders", name="id").is_key
