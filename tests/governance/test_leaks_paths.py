"""Hidden is hidden on the governance paths that are not plain serializers: history, the ODCS
export, webhook payloads, filters, the authoritative designation and access-rule labels.

A contractor is opted out (deny rules naming their department) of a dataset
(``deals.acquisition_targets``), a field of a visible dataset (``crm.accounts.tax_id``) and a
system (``Workday``). Governance objects refer to all of them. Where it can, a check compares
the contractor's answer with a colleague's in a world built without the hidden objects
(``build(hidden=False)``, in a savepoint rolled back after).
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import TestCase
from rest_framework.test import APIClient

from catalog.models import Dataset
from governance.choices import DesignationStatus
from governance.models import Delivery, EntityAttribute, NotificationSubscription, SystemOfRecord
from governance.services import contracts as contract_services
from governance.services import notifications
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user

API = "/api/v1/"
HIDDEN_WORDS = ("acquisition", "tax_id", "Workday", "salaries", "company_name")


def deny(obj, department) -> AccessRule:
    return AccessRule.objects.create(
        subject_kind="department", subject_department=department, target_kind="object",
        target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk, reason="Not for contractors")


def terms(hidden: bool) -> dict:
    fields = [{"name": "account_id", "physical_name": "account_id", "type": "bigint"}]
    quality = [{"object": "accounts", "field": "account_id", "rule": "not_null", "params": {}, "severity": "error"}]
    schema = [{"name": "accounts", "physical_name": "crm.accounts", "fields": fields}]
    if hidden:
        fields.append({"name": "tax_id", "physical_name": "tax_id", "type": "varchar(20)"})
        quality.append({"object": "accounts", "field": "tax_id", "rule": "not_null", "params": {},
                        "severity": "error"})
        schema.append({"name": "targets", "physical_name": "deals.acquisition_targets",
                       "fields": [{"name": "company_name", "physical_name": "company_name", "type": "text"}]})
    return {"schema": schema, "quality": quality, "notice_period_days": 0}


class GovernancePathLeakTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.contractors = factories.department(name="Contractors", slug="contractors")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.reader = make_user("contractor", perms=("permissions.view_accessrule",))
        cls.colleague = make_user("colleague", perms=("permissions.view_accessrule",))
        factories.membership(cls.reader, department=cls.contractors)
        factories.membership(cls.colleague, department=cls.sales)

    def build(self, *, hidden: bool) -> dict:
        """The governance world, with or without the hidden catalog objects (and what refers to them)."""
        world: dict = {}
        warehouse = factories.system(name="Warehouse", slug="warehouse", owner_department=self.sales)
        accounts = factories.dataset(system=warehouse, qualified_name="crm.accounts", name="Accounts",
                                     owner_department=self.sales)
        factories.field(dataset=accounts, name="account_id", data_type="bigint", position=1)
        datasets = [accounts]
        if hidden:
            workday = factories.system(name="Workday", slug="workday", owner_department=self.sales)
            targets = factories.dataset(system=warehouse, qualified_name="deals.acquisition_targets",
                                        name="Acquisition targets", owner_department=self.sales)
            factories.field(dataset=targets, name="company_name", data_type="text", position=1)
            tax_id = factories.field(dataset=accounts, name="tax_id", data_type="varchar(20)", position=2)
            for obj in (targets, tax_id, workday):
                deny(obj, self.contractors)
            datasets.append(targets)
            world.update(targets=targets, workday=workday)
        contract = factories.contract(name="Accounts feed", slug="accounts-feed", producer=self.sales,
                                      consumers=[factories.department(slug="finance")])
        contract.datasets.set(datasets)
        version = contract_services.create_version(contract=contract, version="1.0.0", terms=terms(hidden),
                                                   state_definitions=[], actor=self.colleague)
        entity = factories.entity(name="Account", slug="account")
        entity.datasets.set(datasets)
        attribute = EntityAttribute.objects.create(entity=entity, name="tax_number")
        whole = SystemOfRecord.objects.create(entity=entity, system=warehouse, dataset=accounts,
                                              status=DesignationStatus.ACTIVE, rationale="The warehouse")
        if hidden:
            SystemOfRecord.objects.create(entity=entity, attribute=attribute, system=world["workday"],
                                          status=DesignationStatus.ACTIVE, rationale="HR keeps it")
        world.update(accounts=accounts, contract=contract, version=version, entity=entity, designation=whole)
        return world

    @contextmanager
    def world_without_hidden_objects(self):
        savepoint = transaction.savepoint()
        try:
            yield self.build(hidden=False)
        finally:
            transaction.savepoint_rollback(savepoint)

    def client_for(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def assertMentionsNone(self, text: str):  # noqa: N802 - unittest naming
        found = [word for word in HIDDEN_WORDS if word.lower() in text.lower()]
        self.assertFalse(found, f"hidden names {found} leak in: {text[:2000]}")

    # --- the ODCS export -----------------------------------------------------------------------

    def test_odcs_export_equals_a_world_without_the_hidden_objects(self):
        savepoint = transaction.savepoint()
        world = self.build(hidden=True)
        url = f"{API}contract-versions/{world['version'].pk}/odcs/"
        seen = self.client_for(self.reader).get(url, {"as": "json"})
        everything = self.client_for(self.colleague).get(url, {"as": "json"}).content.decode()
        transaction.savepoint_rollback(savepoint)
        self.assertEqual(seen.status_code, 200, seen.content)
        self.assertMentionsNone(seen.content.decode())
        self.assertIn("acquisition_targets", everything)
        self.assertIn("tax_id", everything)
        with self.world_without_hidden_objects() as plain:
            url = f"{API}contract-versions/{plain['version'].pk}/odcs/"
            self.assertEqual(seen.json(), self.client_for(self.colleague).get(url, {"as": "json"}).json())

    # --- history ---------------------------------------------------------------------------------

    def test_histories_name_no_hidden_object_nor_its_id(self):
        world = self.build(hidden=True)
        hidden_ids = {world["targets"].pk}
        for url in (f"{API}contracts/{world['contract'].pk}/history/",
                    f"{API}contract-versions/{world['version'].pk}/history/",
                    f"{API}business-entities/{world['entity'].pk}/history/"):
            with self.subTest(url=url):
                response = self.client_for(self.reader).get(url)
                self.assertEqual(response.status_code, 200, response.content)
                self.assertMentionsNone(response.content.decode())
                for record in response.json()["results"]:
                    datasets = record["changes"].get("datasets", {})
                    for side in ("before", "after"):
                        self.assertFalse(set(datasets.get(side) or []) & hidden_ids, record)
        everything = self.client_for(self.colleague).get(f"{API}contracts/{world['contract'].pk}/history/")
        self.assertIn(world["targets"].pk, [pk for record in everything.json()["results"]
                                            for pk in record["changes"].get("datasets", {}).get("after") or []])

    def test_contract_history_of_datasets_equals_a_world_without_them(self):
        def datasets_changes(user, contract) -> list:
            records = self.client_for(user).get(f"{API}contracts/{contract.pk}/history/").json()["results"]
            return [record["changes"].get("datasets") for record in records if "datasets" in record["changes"]]

        savepoint = transaction.savepoint()
        world = self.build(hidden=True)
        seen = datasets_changes(self.reader, world["contract"])
        accounts = world["accounts"].pk
        transaction.savepoint_rollback(savepoint)
        with self.world_without_hidden_objects() as plain:
            expected = datasets_changes(self.colleague, plain["contract"])
            self.assertEqual(_with_id(seen, accounts), _with_id(expected, plain["accounts"].pk))

    # --- webhook payloads ------------------------------------------------------------------------

    def test_webhook_payload_names_no_hidden_field_of_a_drifting_dataset(self):
        world = self.build(hidden=True)
        details = {"dataset": world["accounts"].pk, "created": ["tax_id", "account_id"], "updated": [],
                   "removed": []}
        payload = notifications._payload("schema.drift", "evt_1", self.reader, contract=world["contract"],
                                         details=details)
        self.assertMentionsNone(repr(payload))
        self.assertEqual(payload["data"]["details"]["created"], ["account_id"])
        hidden = notifications._payload("schema.drift", "evt_1", self.reader, contract=world["contract"],
                                        details={**details, "dataset": world["targets"].pk})
        self.assertNotIn("details", hidden["data"])
        full = notifications._payload("schema.drift", "evt_1", self.colleague, contract=world["contract"],
                                      details=details)
        self.assertEqual(full["data"]["details"]["created"], ["tax_id", "account_id"])

    # --- filters -------------------------------------------------------------------------------

    def test_filters_answer_a_hidden_id_exactly_like_a_missing_one(self):
        world = self.build(hidden=True)
        others = NotificationSubscription.objects.create(name="Theirs", owner=self.colleague,
                                                         url="https://example.com/hook")
        Delivery.objects.create(subscription=others, event_id="evt_x", event_type="schema.drift", payload={})
        missing = Dataset._base_manager.order_by("-pk").first().pk + 1000
        cases = [("contracts/", "dataset", world["targets"].pk, missing),
                 ("business-entities/", "dataset", world["targets"].pk, missing),
                 ("deliveries/", "subscription", others.pk, others.pk + 1000)]
        client = self.client_for(self.reader)
        for resource, name, hidden_id, missing_id in cases:
            with self.subTest(resource=resource):
                hidden = client.get(API + resource, {name: hidden_id})
                absent = client.get(API + resource, {name: missing_id})
                self.assertEqual(hidden.status_code, 400, hidden.content)
                self.assertEqual(hidden.content.decode().replace(str(hidden_id), "ID"),
                                 absent.content.decode().replace(str(missing_id), "ID"))
        found = self.client_for(self.colleague).get(API + "contracts/", {"dataset": world["targets"].pk}).json()
        self.assertEqual([row["id"] for row in found["results"]], [world["contract"].pk])

    # --- the authoritative designation -----------------------------------------------------------

    def test_authoritative_for_an_attribute_with_a_hidden_designation_is_the_entitys(self):
        savepoint = transaction.savepoint()
        world = self.build(hidden=True)
        url = f"{API}business-entities/{world['entity'].pk}/authoritative/"
        seen = self.client_for(self.reader).get(url, {"attribute": "tax_number"})
        colleague = self.client_for(self.colleague).get(url, {"attribute": "tax_number"}).json()
        transaction.savepoint_rollback(savepoint)
        self.assertEqual(seen.status_code, 200, seen.content)
        self.assertEqual(seen.json()["id"], world["designation"].pk)
        self.assertEqual(colleague["system"]["name"], "Workday")
        with self.world_without_hidden_objects() as plain:
            url = f"{API}business-entities/{plain['entity'].pk}/authoritative/"
            expected = self.client_for(self.colleague).get(url, {"attribute": "tax_number"}).json()
            self.assertEqual(_masked(seen.json()), _masked(expected))

    # --- access-rule labels ----------------------------------------------------------------------

    def test_access_rule_labels_name_no_object_the_reader_may_not_see(self):
        world = self.build(hidden=True)
        listed = self.client_for(self.reader).get(API + "access-rules/", {"page_size": 1000})
        self.assertEqual(listed.status_code, 200, listed.content)
        self.assertMentionsNone(listed.content.decode())
        for rule in listed.json()["results"]:
            self.assertIsNone(rule["target_id"])
            self.assertRegex(rule["target"], r"^a (dataset|field|system) you cannot see$")
        rule = AccessRule.objects.get(target_id=world["targets"].pk,
                                      target_type=ContentType.objects.get_for_model(Dataset))
        detail = self.client_for(self.reader).get(f"{API}access-rules/{rule.pk}/").json()
        self.assertEqual((detail["target"], detail["target_id"]), ("a dataset you cannot see", None))
        everything = self.client_for(self.colleague).get(f"{API}access-rules/{rule.pk}/").json()
        self.assertEqual(everything["target_id"], world["targets"].pk)
        self.assertIn("acquisition_targets", everything["target"])

    def test_access_rule_list_reads_targets_with_a_fixed_number_of_queries(self):
        self.build(hidden=True)
        client = self.client_for(self.reader)
        client.get(API + "access-rules/")  # warm the per-process rule caches
        counts = []
        for size in (1, 100):
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(client.get(API + "access-rules/", {"page_size": size}).status_code, 200)
            counts.append(len(queries))
        self.assertLessEqual(counts[1], counts[0] + 2, counts)  # one statement per target type at most


def _with_id(changes: list, accounts: int) -> str:
    return repr(changes).replace(str(accounts), "ACCOUNTS")


def _masked(body) -> str:
    """A body with its ids and timestamps masked (two worlds built one after the other differ in both)."""
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", "<time>", repr(body))
    return re.sub(r"\d+", "<n>", text)
