"""A harvest that fails for a reason other than its source (the registry's database, a bug) ends
failed, with a message that says where to look, instead of crashing its task and staying "running"."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from unittest import mock

import pytest
from django.db import DatabaseError

from catalog.models import Dataset, System
from harvest import services
from harvest.models import HarvestStatus
from permissions.context import system_actor

pytestmark = pytest.mark.django_db


def test_a_registry_error_fails_the_run_and_rolls_its_schema_back(monkeypatch):
    path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10,2))")
    db.close()
    monkeypatch.setenv("HARVEST_FAIL_DSN", f"sqlite:///{path}")
    with system_actor("tests", reason="source"):
        system = System.objects.create(name="Shop", slug="shop", connection_engine="sqlite",
                                       connection_env="HARVEST_FAIL_DSN")
    with mock.patch("catalog.models.Field.save", side_effect=DatabaseError("disk full")):
        run = services.harvest(system)
    assert run.status == HarvestStatus.FAILED
    assert run.errors and "DatabaseError" in run.errors[0] and "disk full" not in run.errors[0]
    assert run.finished_at is not None
    assert not Dataset.objects.filter(system=system).exists(), "the schema's batch was rolled back"
    assert services.harvest(system).status == HarvestStatus.SUCCEEDED  # the next run starts afresh
