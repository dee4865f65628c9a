"""A draft contract version from a dbt model whose contract is enforced (API action and admin
action): schema terms from its columns and constraints, quality rules from its tests."""

from __future__ import annotations

from django.test import TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from governance.models import ContractVersion, DataContract
from ingest.models import DbtNode
from tests import factories
from tests.ingest.test_dbt import built, run_ingestion
from tests.mixins import make_user


class DraftContractTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.finance = factories.department(slug="finance", name="Finance")
        cls.sales = factories.department(slug="sales", name="Sales")
        cls.lead, cls.employee = make_user("finance-lead", is_staff=True), make_user("finance-employee")
        factories.membership(cls.lead, department=cls.finance, role="lead")
        cls.warehouse = factories.system(slug="warehouse", owner_department=cls.finance)
        run_ingestion(built(), cls.warehouse)
        cls.fct = DbtNode.objects.get(unique_id="model.shop.fct_orders")
        cls.stg = DbtNode.objects.get(unique_id="model.shop.stg_orders")

    def post(self, user, node, body=None):
        client = APIClient()
        client.force_authenticate(user)
        return client.post(f"/api/v1/dbt-nodes/{node.pk}/draft-contract/", body or {"consumers": ["sales"]},
                           format="json")

    def test_the_producers_lead_drafts_from_the_enforced_model(self):
        response = self.post(self.lead, self.fct)
        self.assertEqual(response.status_code, 201, response.content)
        version = ContractVersion.objects.get(pk=response.json()["id"])
        self.assertEqual((version.version, version.status, version.contract.producer), ("0.1.0", "draft",
                                                                                        self.finance))
        self.assertEqual(list(version.contract.datasets.all()), [self.fct.dataset])
        [schema] = version.terms["schema"]
        self.assertEqual(schema["physical_name"], "marts.fct_orders")
        fields = {f["name"]: f for f in schema["fields"]}
        self.assertEqual(fields["order_id"], {"name": "order_id", "type": "integer", "description": "The order.",
                                              "required": True, "unique": True, "primary_key": True})
        self.assertTrue(fields["customer_id"]["required"], "a not_null constraint")
        self.assertFalse(fields["customer_email"]["required"])
        self.assertEqual(fields["amount"]["type"], "numeric(10,2)")
        self.assertEqual([(r["field"], r["rule"]) for r in version.terms["quality"]], [("order_id", "unique")])
        self.assertEqual(response.json()["tests_left_out"], [])
        self.assertEqual(list(version.contract.consumers.all()), [self.sales])

    def test_consumers_default_to_the_departments_downstream_in_the_lineage(self):
        response = self.post(self.lead, self.fct, {"consumers": []})
        self.assertEqual(response.status_code, 400)
        self.assertIn("name the consuming departments", response.json()["errors"]["consumers"][0])
        report = factories.dataset(system=self.warehouse, owner_department=self.sales, qualified_name="bi.orders")
        factories.lineage(source=self.fct.dataset, target=report)
        response = self.post(self.lead, self.fct, {"consumers": []})
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(list(DataContract.objects.get().consumers.all()), [self.sales])
        unknown = self.post(self.lead, self.stg, {"consumers": ["nope"]})
        self.assertEqual(unknown.status_code, 400)
        self.assertIn("consumers", unknown.json()["errors"])

    def test_refusals_say_why(self):
        response = self.post(self.lead, self.stg)
        self.assertEqual(response.status_code, 400)
        self.assertIn("no enforced dbt contract", response.json()["errors"]["node"][0])
        self.assertEqual(self.post(self.employee, self.fct).status_code, 403)
        self.assertEqual(self.post(self.lead, self.fct).status_code, 201)
        again = self.post(self.lead, self.fct)
        self.assertEqual(again.status_code, 400)
        self.assertIn("exists already", again.json()["errors"]["contract"][0])
        self.assertEqual(DataContract.objects.count(), 1)

    def test_a_model_without_a_department_cannot_be_drafted(self):
        dataset = self.fct.dataset
        dataset.owner_department = None
        dataset.save()
        response = self.post(self.lead, self.fct)
        self.assertEqual(response.status_code, 400)
        self.assertIn("no department", response.json()["errors"]["producer"][0])

    def test_the_admin_action_drafts_and_links_to_the_draft(self):
        report = factories.dataset(system=self.warehouse, owner_department=self.sales, qualified_name="bi.orders")
        factories.lineage(source=self.fct.dataset, target=report)
        self.client.force_login(self.lead)
        response = self.client.post(reverse("admin:ingest_dbtnode_changelist"), {
            "action": "draft_contracts", "_selected_action": [self.fct.pk, self.stg.pk]}, follow=True)
        self.assertEqual(response.status_code, 200)
        text = response.content.decode()
        self.assertIn("Drafted", text)
        self.assertIn("no enforced dbt contract", text)
        version = ContractVersion.objects.get()
        self.assertIn(reverse("admin:governance_contractversion_change", args=[version.pk]), text)
