"""A field's dataset's system, kept on the field by triggers (PostgreSQL), for the search's system
facet: it follows every way a field or a dataset can change, and the facet counts it gives equal
those of looking the dataset up."""

from __future__ import annotations

from django.db import connection, transaction
from django.test import TestCase
from rest_framework.test import APIClient

from catalog.models import Dataset, Field
from catalog.models.search import FIELD_SYSTEM_COLUMN, create_field_system_sql
from tests import factories
from tests.mixins import make_user


def _kept() -> dict[int, int | None]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, "{FIELD_SYSTEM_COLUMN}" FROM catalog_field')
        return dict(cursor.fetchall())


def _expected() -> dict[int, int | None]:
    return dict(Field.objects.values_list("id", "dataset__system_id"))


class TestTheFieldKeepsItsDatasetsSystem(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.crm = factories.system(name="CRM")
        cls.warehouse = factories.system(name="Warehouse")
        cls.leads = factories.dataset(system=cls.crm, name="Leads")
        cls.models = factories.dataset(system=cls.warehouse, name="Lead model")
        cls.email = factories.field(dataset=cls.leads, name="email")
        cls.score = factories.field(dataset=cls.leads, name="score")

    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("kept on PostgreSQL only (SQLite's search looks the dataset up)")

    def assertKept(self):
        kept = _kept()
        self.assertEqual(kept, _expected())
        self.assertNotIn(None, kept.values())
        return kept

    def test_inserted_fields_carry_their_datasets_system(self):
        kept = self.assertKept()
        self.assertEqual(kept[self.email.pk], self.crm.pk)
        Field.objects.bulk_create([Field(dataset=self.models, name=f"bulk_{i}", position=20 + i) for i in range(3)])
        # Raw SQL too: a copy of a field's row with other names.
        columns = [f.column for f in Field._meta.concrete_fields if f.column not in ("id", "name", "position")]
        listed = ", ".join(f'"{column}"' for column in columns)
        selected = listed.replace('"dataset_id"', "%s")
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO catalog_field (name, position, {listed}) SELECT 'raw_' || g, 30 + g, "
                           f"{selected} FROM catalog_field, generate_series(1, 2) g WHERE id = %s",
                           [self.models.pk, self.email.pk])
        kept = self.assertKept()
        self.assertEqual(sum(1 for system in kept.values() if system == self.warehouse.pk), 5)

    def test_a_field_moved_to_another_dataset_takes_its_system(self):
        self.score.dataset = self.models
        self.score.save()
        self.assertEqual(self.assertKept()[self.score.pk], self.warehouse.pk)
        Field.objects.filter(pk=self.score.pk).update(dataset=self.leads)
        self.assertEqual(self.assertKept()[self.score.pk], self.crm.pk)

    def test_a_dataset_moved_to_another_system_moves_its_fields(self):
        self.leads.system = self.warehouse
        self.leads.save()
        self.assertEqual(self.assertKept()[self.email.pk], self.warehouse.pk)
        Dataset.objects.filter(pk=self.leads.pk).update(system=self.crm)
        self.assertEqual(self.assertKept()[self.email.pk], self.crm.pk)

    def test_other_updates_leave_it_alone_and_cost_no_rewrite(self):
        before = self.assertKept()
        Field.objects.filter(dataset=self.leads).update(classification="pii")
        Dataset.objects.filter(pk=self.leads.pk).update(description="Every lead", system=self.crm)  # same system
        self.assertEqual(self.assertKept(), before)

    def test_a_rolled_back_move_leaves_it_as_it_was(self):
        before = self.assertKept()
        with self.assertRaises(RuntimeError), transaction.atomic():
            Dataset.objects.filter(pk=self.leads.pk).update(system=self.warehouse)
            raise RuntimeError("roll back")
        self.assertEqual(self.assertKept(), before)

    def test_the_migration_fills_fields_already_there(self):
        # Drop the column and run the migration's statements again on these rows.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending before ALTER TABLE
            cursor.execute(f'ALTER TABLE catalog_field DROP COLUMN "{FIELD_SYSTEM_COLUMN}"')
            for statement in create_field_system_sql("catalog_field", "catalog_dataset"):
                if statement.startswith("CREATE TRIGGER"):
                    cursor.execute(statement.replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER"))
                else:
                    cursor.execute(statement)
        self.assertKept()


class TestTheSystemFacetOfFields(TestCase):
    """The search counts fields under their dataset's system: the same as looking the dataset up,
    also after a dataset moves."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("facet-reader")
        cls.crm = factories.system(name="CRM", slug="crm")
        cls.warehouse = factories.system(name="Warehouse", slug="warehouse")
        cls.leads = factories.dataset(system=cls.crm, name="Leads", qualified_name="crm.leads")
        cls.model = factories.dataset(system=cls.warehouse, name="Lead model", qualified_name="dw.leads")
        for i in range(3):
            factories.field(dataset=cls.leads, name=f"lead_source_{i}", description="Where the lead came from")
        factories.field(dataset=cls.model, name="lead_source", description="Where the lead came from")

    def search(self, **filters) -> dict:
        client = APIClient()
        client.force_authenticate(self.reader)
        response = client.get("/api/v1/search/", {"q": "source", "type": "field", **filters})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def facet(self) -> dict[int, int]:
        return {entry["value"]: entry["count"] for entry in self.search()["facets"]["system"]}

    def test_counts_follow_the_datasets_system(self):
        self.assertEqual(self.facet(), {self.crm.pk: 3, self.warehouse.pk: 1})
        self.leads.system = self.warehouse
        self.leads.save()
        self.assertEqual(self.facet(), {self.warehouse.pk: 4})

    def test_a_system_filter_uses_it(self):
        hits = self.search(system=self.warehouse.pk)["results"]
        self.assertEqual([hit["dataset"]["id"] for hit in hits], [self.model.pk])
