"""Idempotent bulk registration of a dataset with all its fields."""

from __future__ import annotations

import copy

from django.test import TestCase
from rest_framework.test import APIClient

from catalog.models import Dataset, Field
from tests import factories
from tests.mixins import make_user

URL = "/api/v1/datasets/register/"
ALL = ("catalog.add_dataset", "catalog.change_dataset", "catalog.add_field", "catalog.change_field",
       "catalog.delete_field")


class TestBulkRegistration(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.tool = make_user("etl-bot", perms=ALL)
        cls.employee = make_user("reader")
        cls.owner = make_user("field-owner")
        cls.system = factories.system(name="Warehouse", slug="warehouse", kind="warehouse")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.pii = factories.tag(name="pii", slug="pii")

    def setUp(self):
        self.client = APIClient()
        self.client.force_authenticate(self.tool)
        self.payload = {
            "system": "warehouse",
            "qualified_name": "analytics.dim_customer",
            "name": "Customers",
            "description": "One row per paying customer",
            "owner_department": "sales",
            "lifecycle": "active",
            "classification": "pii",
            "key_fields": ["customer_id"],
            "tags": ["pii"],
            "row_count": 1200,
            "fields": [
                {"name": "customer_id", "data_type": "bigint", "is_key": True, "description": "Surrogate key"},
                {"name": "email", "data_type": "varchar(255)", "classification": "pii", "owner": "field-owner",
                 "owner_department": "sales", "tags": ["pii"]},
                {"name": "created_at", "data_type": "timestamp", "nullable": False},
            ],
        }

    def register(self, payload=None, expect=(200, 201)):
        response = self.client.post(URL, payload or self.payload, format="json")
        self.assertIn(response.status_code, expect if isinstance(expect, tuple) else (expect,), response.content)
        return response

    def test_first_registration_creates_dataset_and_fields(self):
        response = self.register(expect=201)
        body = response.json()
        self.assertTrue(body["created"])
        self.assertEqual(body["fields"]["created"], ["customer_id", "email", "created_at"])
        dataset = Dataset.objects.get(system=self.system, qualified_name="analytics.dim_customer")
        self.assertEqual(dataset.owner_department, self.sales)
        self.assertEqual([f.name for f in dataset.fields.order_by("position")], ["customer_id", "email", "created_at"])
        email = dataset.fields.get(name="email")
        self.assertEqual((email.owner, email.classification, email.position), (self.owner, "pii", 1))
        self.assertEqual(list(email.tags.values_list("slug", flat=True)), ["pii"])
        key = dataset.fields.get(name="customer_id")
        self.assertFalse(key.nullable)
        self.assertEqual([f["name"] for f in body["dataset"]["fields"]], ["customer_id", "email", "created_at"])

    def test_same_payload_twice_changes_nothing(self):
        self.register(expect=201)
        snapshot = list(Field.objects.order_by("pk").values())
        dataset_before = Dataset.objects.values().get()
        response = self.register(expect=200)
        body = response.json()
        self.assertFalse(body["created"])
        self.assertFalse(body["changed"])
        self.assertEqual(body["fields"]["unchanged"], ["customer_id", "email", "created_at"])
        self.assertEqual(body["fields"]["created"] + body["fields"]["updated"], [])
        self.assertEqual(list(Field.objects.order_by("pk").values()), snapshot)
        self.assertEqual(Dataset.objects.values().get(), dataset_before)

    def test_changed_field_is_updated_and_reported(self):
        self.register()
        payload = copy.deepcopy(self.payload)
        payload["fields"][2]["data_type"] = "timestamptz"
        payload["description"] = "Customers with at least one paid invoice"
        body = self.register(payload, expect=200).json()
        self.assertTrue(body["changed"])
        self.assertEqual(body["fields"]["updated"], ["created_at"])
        self.assertEqual(Field.objects.get(name="created_at").data_type, "timestamptz")
        self.assertEqual(Dataset.objects.get().description, "Customers with at least one paid invoice")

    def test_missing_fields_are_reported_and_kept_by_default(self):
        self.register()
        payload = copy.deepcopy(self.payload)
        payload["fields"] = payload["fields"][:2]
        body = self.register(payload).json()
        self.assertEqual(body["fields"]["missing"], ["created_at"])
        self.assertEqual(body["fields"]["removed"], [])
        self.assertTrue(Field.objects.filter(name="created_at").exists())

    def test_missing_fields_are_removed_when_asked(self):
        self.register()
        payload = copy.deepcopy(self.payload)
        payload["fields"] = payload["fields"][:2]
        payload["remove_missing"] = True
        body = self.register(payload).json()
        self.assertEqual(body["fields"]["removed"], ["created_at"])
        self.assertFalse(Field.objects.filter(name="created_at").exists())

    def test_attributes_left_out_are_not_changed(self):
        self.register()
        body = self.register({"system": "warehouse", "qualified_name": "analytics.dim_customer",
                              "fields": self.payload["fields"]}).json()
        self.assertFalse(body["changed"])
        self.assertEqual(Dataset.objects.get().description, "One row per paying customer")

    def test_bad_payloads_are_400_and_write_nothing(self):
        cases = [
            ({"fields": [{"name": "a", "data_type": "int"}, {"name": "a", "data_type": "int"}]}, "fields"),
            ({"fields": [{"name": "a"}]}, "fields"),
            ({"fields": [{"name": "a", "data_type": "int", "is_key": True, "nullable": True}]}, "fields"),
            ({"key_fields": ["nope"]}, "key_fields"),
            ({"system": "no-such-system"}, "system"),
            ({"lifecycle": "zombie"}, "lifecycle"),
            ({"fields": [{"name": "a", "data_type": "int", "owner": "nobody-by-that-name"}]}, "fields"),
            ({"archived_at": "2024-01-01T00:00:00Z"}, "non_field_errors"),
        ]
        for change, field in cases:
            with self.subTest(change=change):
                payload = {**copy.deepcopy(self.payload), **change}
                response = self.client.post(URL, payload, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                body = response.json()
                self.assertIn(field, body["errors"], body)
        self.assertFalse(Dataset.objects.exists())
        self.assertFalse(Field.objects.exists())

    def test_needs_permission(self):
        client = APIClient()
        client.force_authenticate(self.employee)
        self.assertEqual(client.post(URL, self.payload, format="json").status_code, 403)
        self.assertEqual(APIClient().post(URL, self.payload, format="json").status_code, 401)
        self.assertFalse(Dataset.objects.exists())
