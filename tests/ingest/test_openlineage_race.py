"""Two writers racing for the same edge (PostgreSQL, real transactions): the request that meets
the other's uncommitted row in the unique constraint waits, fails, is tried again and confirms
the other's edge, answering 200 with one edge in the catalog."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import TransactionTestCase
from openlineage.client.event_v2 import InputDataset, OutputDataset
from rest_framework.test import APIClient

from catalog.models import LineageEdge
from ingest.models import LineageNamespace
from permissions import context
from permissions.context import Actor
from tests import factories
from tests.ingest.test_openlineage import WAREHOUSE, event
from tests.mixins import make_user


class RaceTests(TransactionTestCase):
    def setUp(self):
        if connection.vendor != "postgresql":
            pytest.skip("PostgreSQL only (scripts/pg.sh): SQLite serialises writers")
        sales = factories.department()
        self.lead = make_user("ol-race-lead")
        factories.membership(self.lead, department=sales, role="lead")
        system = factories.system(slug="warehouse", owner_department=sales)
        LineageNamespace.objects.create(namespace=WAREHOUSE, system=system)
        self.raw = factories.dataset(system=system, qualified_name="raw.leads")
        self.staging = factories.dataset(system=system, qualified_name="staging.stg_leads")

    def test_the_loser_of_a_race_for_an_edge_confirms_the_winners(self):
        from catalog.models.lineage import LineageOrigin

        inserted, release = threading.Event(), threading.Event()

        def winner():
            try:
                with context.acting_as(Actor(system="test-race")), transaction.atomic():
                    LineageEdge.objects.create(source=self.raw, target=self.staging, origin=LineageOrigin.DBT,
                                               job="model.shop.stg_leads")
                    inserted.set()
                    release.wait(10)
            finally:
                connection.close()

        thread = threading.Thread(target=winner)
        thread.start()
        assert inserted.wait(10)
        threading.Timer(1.0, release.set).start()  # commit while the request waits on the unique key
        client = APIClient()
        client.force_authenticate(self.lead)
        response = client.post("/api/v1/lineage/openlineage/", event(
            inputs=[InputDataset(namespace=WAREHOUSE, name="shop.raw.leads")],
            outputs=[OutputDataset(namespace=WAREHOUSE, name="shop.staging.stg_leads")]), format="json")
        thread.join(10)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["counts"]["lineage"], {"added": 0, "changed": 0, "unchanged": 1})
        edge = LineageEdge.objects.get(source=self.raw, target=self.staging)
        self.assertEqual(edge.origin, LineageOrigin.DBT)
