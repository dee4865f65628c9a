"""Harvesting's rows through the shared mixins: settings are written by whoever may change the
System; runs, schema changes and field relationships are read-only (written by the harvest)."""

from __future__ import annotations

import datetime

from django.test import TestCase
from django.utils import timezone

from harvest.models import ChangeKind, FieldRelationship, HarvestRun, HarvestSettings, SchemaChange
from tests import factories
from tests.mixins import AdminTests, CRUDAPITests, ReadAPITests


def make_settings(**kw) -> HarvestSettings:
    kw.setdefault("system", factories.system())
    return HarvestSettings.objects.create(**kw)


def make_run(system=None) -> HarvestRun:
    at = timezone.now() - datetime.timedelta(minutes=factories.n())
    return HarvestRun.objects.create(system=system or factories.system(), trigger="command", scheduled_for=at,
                                     status="succeeded", finished_at=at)


def make_change() -> SchemaChange:
    field = factories.field()
    run = make_run(field.dataset.system)
    return SchemaChange.objects.create(run=run, dataset=field.dataset, field=field, field_name=field.name,
                                       kind=ChangeKind.FIELD_ADDED, after={"data_type": "text"})


def make_relationship() -> FieldRelationship:
    target = factories.field(name="id")
    source = factories.field(dataset=factories.dataset(system=target.dataset.system), name="customer_id")
    return FieldRelationship.objects.create(system=target.dataset.system, constraint_name=f"fk_{factories.n()}",
                                            from_field=source, to_field=target)


class TestHarvestSettingsAPI(CRUDAPITests):
    model = HarvestSettings
    basename = "harvestsettings"
    update_payload = {"include": ["crm.*"], "schedule": "0 3 * * *"}
    invalid_payloads = [
        ({"include": "crm.*"}, "include"),
        ({"schedule": "every night"}, "schedule"),
        ({"schedule": "61 * * * *"}, "schedule"),
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        # Made beforehand: a payload is built inside the write under test, which must be its only write.
        cls.unharvested = [factories.system(), factories.system()]
        cls.invalid_payloads = [({**body, "system": cls.unharvested[0].pk}, key)
                                for body, key in cls.invalid_payloads]

    @classmethod
    def make_objects(cls, count):
        return [make_settings() for _ in range(count)]

    def create_payloads(self):
        return [{"system": self.unharvested[0].pk, "exclude": ["*.tmp_*"]},
                {"system": self.unharvested[1].slug, "include": ["analytics.*"], "schedule": "30 2 * * 1-5"}]

    def test_the_systems_lead_changes_its_settings(self):
        from tests.mixins import make_user

        sales = factories.department()
        lead = make_user("harvest-lead")
        factories.membership(lead, department=sales, role="lead")
        settings = make_settings(system=factories.system(owner_department=sales))
        response = self.client_for(lead).patch(self.detail_url(settings.pk), {"exclude": ["*.scratch"]},
                                               format="json")
        self.assertEqual(response.status_code, 200, response.content)
        other = self.objects_[0]
        response = self.client_for(lead).patch(self.detail_url(other.pk), {"exclude": ["*.scratch"]}, format="json")
        self.assertEqual(response.status_code, 403, response.content)


class TestHarvestRunAPI(ReadAPITests):
    model = HarvestRun
    basename = "harvestrun"
    ordering_field = "scheduled_for"

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]


class TestSchemaChangeAPI(ReadAPITests):
    model = SchemaChange
    basename = "schemachange"
    ordering_field = "detected_at"

    @classmethod
    def make_objects(cls, count):
        return [make_change() for _ in range(count)]


class TestFieldRelationshipAPI(ReadAPITests):
    model = FieldRelationship
    basename = "fieldrelationship"
    ordering_field = "constraint_name"

    @classmethod
    def make_objects(cls, count):
        return [make_relationship() for _ in range(count)]


class TestHarvestSettingsAdmin(AdminTests):
    model = HarvestSettings
    search_term = "System"

    @classmethod
    def make_objects(cls, count):
        return [make_settings() for _ in range(count)]

    def listed_text(self, obj):
        return obj.system.name


class TestHarvestRunAdmin(AdminTests):
    model = HarvestRun
    can_add = False
    search_term = "System"

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]

    def listed_text(self, obj):
        return obj.system.name


class TestSchemaChangeAdmin(AdminTests):
    model = SchemaChange
    can_add = False
    search_term = "column"

    @classmethod
    def make_objects(cls, count):
        return [make_change() for _ in range(count)]

    def listed_text(self, obj):
        return obj.field_name


class TestFieldRelationshipAdmin(AdminTests):
    model = FieldRelationship
    can_add = False
    search_term = "fk_"

    @classmethod
    def make_objects(cls, count):
        return [make_relationship() for _ in range(count)]

    def listed_text(self, obj):
        return obj.constraint_name


class TestSystemHarvestEndpoint(TestCase):
    """``POST systems/{id}/harvest/``: whoever may change the System; a hidden one answers as missing."""

    @classmethod
    def setUpTestData(cls):
        import os
        import sqlite3
        import tempfile

        from tests.mixins import make_user

        path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE customers (id integer PRIMARY KEY, email text)")
        db.close()
        cls.dsn = f"sqlite:///{path}"
        sales = factories.department()
        cls.lead, cls.employee = make_user("harvest-endpoint-lead"), make_user("harvest-endpoint-employee")
        factories.membership(cls.lead, department=sales, role="lead")
        cls.system = factories.system(owner_department=sales, connection_engine="sqlite",
                                      connection_env="HARVEST_ENDPOINT_DSN")
        cls.unconnected = factories.system(owner_department=sales)

    def post(self, user, system_pk):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(user)
        return client.post(f"/api/v1/systems/{system_pk}/harvest/", format="json")

    def test_the_lead_harvests_and_gets_the_run(self):
        from unittest import mock

        from catalog.models import Dataset

        with mock.patch.dict("os.environ", {"HARVEST_ENDPOINT_DSN": self.dsn}), \
                self.captureOnCommitCallbacks(execute=True):
            response = self.post(self.lead, self.system.pk)
        self.assertEqual(response.status_code, 202, response.content)
        run = HarvestRun.objects.get(pk=response.json()["id"])
        self.assertEqual((run.trigger, run.status, run.requested_by), ("api", "succeeded", self.lead))
        self.assertTrue(Dataset.objects.filter(system=self.system, qualified_name="customers").exists())

    def test_others_are_refused_and_nothing_runs(self):
        self.assertEqual(self.post(self.employee, self.system.pk).status_code, 403)
        response = self.post(self.lead, self.unconnected.pk)
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn("connection_engine", response.json()["errors"])
        self.assertFalse(HarvestRun.objects.exists())

    def test_a_hidden_system_answers_like_a_missing_one(self):
        from tests.mixins import hide_from

        hide_from(self, self.lead, self.system)
        hidden, missing = self.post(self.lead, self.system.pk), self.post(self.lead, self.system.pk + 1000)
        self.assertEqual((hidden.status_code, hidden.content), (missing.status_code, missing.content))
        self.assertEqual(hidden.status_code, 404)
