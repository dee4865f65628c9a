"""On PostgreSQL, one System's harvests run one at a time: a second delivery of the same tick waits
for the first and then finds its run finished; it does not reconcile the same datasets at once."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from catalog.models import Dataset, System
from harvest import services
from harvest.models import HarvestRun, HarvestStatus
from permissions.context import system_actor

pytestmark = [
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="runs on PostgreSQL (DATABASE_URL, scripts/pg.sh)"),
    pytest.mark.django_db(transaction=True),  # the harvest in a thread has a connection of its own
]


def test_a_second_delivery_waits_for_the_first_and_finds_its_run_finished(monkeypatch):
    path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10,2))")
    db.close()
    monkeypatch.setenv("HARVEST_LOCK_DSN", f"sqlite:///{path}")
    with system_actor("tests", reason="source"):
        system = System.objects.create(name="Shop", slug="shop", connection_engine="sqlite",
                                       connection_env="HARVEST_LOCK_DSN")
    run, _ = services.get_or_create_run(system, trigger="scheduled")
    params = connection.get_connection_params()
    holder = psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")},
                             autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [services._LOCK_NAMESPACE, system.pk])  # a harvest running
    results = []

    def deliver():
        try:
            results.append(services.harvest(system, scheduled_for=run.scheduled_for))
        finally:
            connection.close()

    thread = threading.Thread(target=deliver)
    thread.start()
    time.sleep(1.0)
    assert thread.is_alive(), "the delivery waits while another harvest of the System runs"
    assert HarvestRun.objects.get(pk=run.pk).status == HarvestStatus.RUNNING
    # The other harvest finishes the run, then lets go.
    HarvestRun.objects.filter(pk=run.pk).update(status=HarvestStatus.SUCCEEDED)
    holder.execute("SELECT pg_advisory_unlock(%s, %s)", [services._LOCK_NAMESPACE, system.pk])
    holder.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results and results[0].pk == run.pk and results[0].status == HarvestStatus.SUCCEEDED
    assert not Dataset.objects.filter(system=system).exists(), "it did not harvest again"
    # Afterwards a harvest runs as usual (the lock was released).
    assert services.harvest(system).status == HarvestStatus.SUCCEEDED
