"""Governance workflows and their refusals: each refusal is a clear 4xx and changes nothing."""

from __future__ import annotations

import copy
import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import ContractVersion, StateDefinitionVersion, SystemOfRecord
from governance.services import contracts as contract_services
from governance.services import states as state_services
from permissions.context import Actor
from permissions.errors import Conflict
from permissions.models import AuditRecord
from tests import factories
from tests.mixins import make_user

SCHEDULER = Actor(system="contracts")
TERMS = {
    "schema": [{"name": "leads", "fields": [
        {"name": "lead_id", "type": "varchar(24)", "required": True, "unique": True},
        {"name": "email", "type": "varchar(255)"},
        {"name": "status", "type": "varchar(32)", "required": True},
    ]}],
    "quality": [{"object": "leads", "field": "status", "rule": "accepted_values",
                 "params": {"values": ["raw", "mql", "sql"]}}],
    "notice_period_days": 30,
}


class GovernanceCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.finance = factories.department(name="Finance", slug="finance")
        cls.maria = make_user("maria")  # Marketing lead
        factories.membership(cls.maria, department=cls.marketing, role="lead")
        cls.sofia = make_user("sofia")  # Sales lead
        factories.membership(cls.sofia, department=cls.sales, role="lead")
        cls.tom = make_user("tom")  # Sales member, not a lead
        factories.membership(cls.tom, department=cls.sales, role="member")
        cls.chair = make_user("chair")
        cls.chair.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        cls.employee = make_user("employee")

    def api(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def assertRefused(self, response, status, *, mentions: str = ""):  # noqa: N802
        self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertTrue(body.get("detail"), body)
        if mentions:
            self.assertIn(mentions, str(body))


class TestSystemsOfRecord(GovernanceCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.netsuite = factories.system(name="NetSuite", slug="netsuite")
        cls.salesforce = factories.system(name="Salesforce", slug="salesforce")
        cls.ns_customers = factories.dataset(system=cls.netsuite, qualified_name="customer")
        cls.sf_accounts = factories.dataset(system=cls.salesforce, qualified_name="Account")
        cls.warehouse = factories.dataset(qualified_name="marts.dim_customer")
        cls.customer = factories.entity(name="Customer", slug="customer", bounded_context="Billing")
        cls.customer.datasets.set([cls.ns_customers, cls.sf_accounts, cls.warehouse])
        cls.customer_id = cls.customer.attributes.create(name="customer_id", is_identifier=True)

    def propose(self, system, dataset=None, user=None):
        response = self.api(user or self.chair).post("/api/v1/systems-of-record/", {
            "entity": "customer", "attribute": self.customer_id.pk, "system": system.slug,
            "dataset": dataset.pk if dataset else None, "rationale": "Because"}, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()["id"]

    def test_only_the_council_approves(self):
        pk = self.propose(self.netsuite, self.ns_customers)
        refused = self.api(self.sofia).post(f"/api/v1/systems-of-record/{pk}/approve/")
        self.assertRefused(refused, 403, mentions="council")
        self.assertEqual(SystemOfRecord.objects.get(pk=pk).status, "proposed")
        approved = self.api(self.chair).post(f"/api/v1/systems-of-record/{pk}/approve/", {"reason": "agreed"})
        self.assertEqual(approved.status_code, 200, approved.content)
        self.assertEqual(approved.json()["status"], "active")
        self.assertEqual(approved.json()["decided_by"]["username"], "chair")
        self.assertTrue(AuditRecord.objects.filter(action="approve", object_id=str(pk)).exists())

    def test_a_new_designation_supersedes_never_overwrites(self):
        first = self.propose(self.netsuite, self.ns_customers)
        self.api(self.chair).post(f"/api/v1/systems-of-record/{first}/approve/")
        second = self.propose(self.salesforce, self.sf_accounts)
        self.api(self.chair).post(f"/api/v1/systems-of-record/{second}/approve/")
        old, new = SystemOfRecord.objects.get(pk=first), SystemOfRecord.objects.get(pk=second)
        self.assertEqual((old.status, new.status), ("superseded", "active"))
        self.assertEqual(old.superseded_by_id, new.pk)
        self.assertEqual(old.system, self.netsuite)  # history kept as it was
        again = self.api(self.chair).post(f"/api/v1/systems-of-record/{first}/approve/")
        self.assertRefused(again, 409)

    def test_active_designation_cannot_be_edited(self):
        pk = self.propose(self.netsuite)
        self.api(self.chair).post(f"/api/v1/systems-of-record/{pk}/approve/")
        response = self.api(self.chair).patch(f"/api/v1/systems-of-record/{pk}/", {"system": "salesforce"},
                                              format="json")
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(SystemOfRecord.objects.get(pk=pk).system, self.netsuite)

    def test_database_refuses_a_second_active_designation(self):
        SystemOfRecord.objects.create(entity=self.customer, attribute=self.customer_id, system=self.netsuite,
                                      status="active", rationale="a")
        with self.assertRaises(IntegrityError), transaction.atomic():
            SystemOfRecord.objects.create(entity=self.customer, attribute=self.customer_id, system=self.salesforce,
                                          status="active", rationale="b")

    def test_which_system_is_authoritative_and_for_what(self):
        pk = self.propose(self.netsuite, self.ns_customers)
        self.api(self.chair).post(f"/api/v1/systems-of-record/{pk}/approve/")
        client = self.api(self.employee)
        answer = client.get(f"/api/v1/business-entities/{self.customer.pk}/authoritative/",
                            {"attribute": "customer_id"})
        self.assertEqual(answer.json()["system"]["slug"], "netsuite")
        unknown = client.get(f"/api/v1/business-entities/{self.customer.pk}/authoritative/", {"attribute": "nope"})
        self.assertEqual(unknown.status_code, 400)
        for_netsuite = client.get("/api/v1/systems-of-record/", {"system_slug": "netsuite", "status": "active"})
        self.assertEqual([row["id"] for row in for_netsuite.json()["results"]], [pk])

    def test_conflicts_are_reported(self):
        entity_level = SystemOfRecord.objects.create(entity=self.customer, system=self.netsuite, status="active",
                                                     dataset=self.ns_customers, rationale="r")
        factories.lineage(source=self.sf_accounts, target=self.warehouse, transformation="dbt")
        conflicts = self.api(self.employee).get("/api/v1/business-entities/conflicts/").json()["conflicts"]
        kinds = {(c["kind"], c.get("dataset") or c.get("edge")) for c in conflicts}
        self.assertIn(("copy_outside_system_of_record", self.sf_accounts.pk), kinds)
        self.assertTrue(any(kind == "lineage_from_copy" for kind, _ in kinds), conflicts)
        self.assertTrue(entity_level.pk)


class TestStateDefinitions(GovernanceCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.flow = factories.workflow(owner_department=cls.marketing)
        cls.mql = factories.state(workflow=cls.flow, slug="mql", owner_department=cls.marketing, scope="domain")
        cls.sql = factories.state(workflow=cls.flow, slug="sql", owner_department=cls.sales, scope="enterprise",
                                  stakeholders=[cls.marketing, cls.sales])

    def draft(self, state, text="Reachable, engaged, score ≥ 60", criteria=None):
        response = self.api(self.chair).post("/api/v1/state-definition-versions/", {
            "definition": state.pk, "definition_text": text,
            "criteria": criteria or {"all": [{"field": "email", "op": "is_not_null"},
                                             {"field": "score", "op": "gte", "value": 60}]}}, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        return response.json()["id"]

    def propose(self, pk):
        response = self.api(self.chair).post(f"/api/v1/state-definition-versions/{pk}/propose/")
        self.assertEqual(response.status_code, 200, response.content)

    def approve(self, pk, user, department):
        return self.api(user).post(f"/api/v1/state-definition-versions/{pk}/approve/",
                                   {"department": department.slug}, format="json")

    def test_domain_state_needs_its_owner_departments_approval(self):
        pk = self.draft(self.mql)
        self.propose(pk)
        self.assertRefused(self.approve(pk, self.sofia, self.marketing), 403, mentions="Marketing")
        self.assertRefused(self.approve(pk, self.sofia, self.sales), 400, mentions="not asked to approve")
        self.assertRefused(self.approve(pk, self.employee, self.marketing), 403)
        self.assertEqual(StateDefinitionVersion.objects.get(pk=pk).status, "proposed")
        approved = self.approve(pk, self.maria, self.marketing)
        self.assertEqual(approved.status_code, 200, approved.content)
        self.assertEqual(approved.json()["status"], "approved")
        self.assertRefused(self.approve(pk, self.maria, self.marketing), 409)

    def test_council_may_approve_a_domain_state(self):
        pk = self.draft(self.mql)
        self.propose(pk)
        self.assertEqual(self.approve(pk, self.chair, self.marketing).json()["status"], "approved")

    def test_enterprise_state_needs_every_stakeholder(self):
        pk = self.draft(self.sql)
        self.propose(pk)
        self.assertRefused(self.approve(pk, self.chair, self.sales), 403)  # the council cannot sign off for Sales
        first = self.approve(pk, self.sofia, self.sales)
        self.assertEqual(first.json()["status"], "proposed")
        self.assertEqual(first.json()["pending_departments"], ["marketing"])
        pending = self.api(self.maria).get("/api/v1/state-definition-versions/", {"awaiting": self.marketing.pk})
        self.assertEqual([row["id"] for row in pending.json()["results"]], [pk])
        self.assertRefused(self.approve(pk, self.tom, self.marketing), 403)
        second = self.approve(pk, self.maria, self.marketing)
        self.assertEqual(second.json()["status"], "approved")
        self.assertEqual(self.api(self.maria).get("/api/v1/state-definition-versions/",
                                                  {"awaiting": self.marketing.pk}).json()["results"], [])

    def test_approved_versions_are_immutable_and_superseded_by_new_approvals(self):
        v1 = self.draft(self.mql)
        self.propose(v1)
        self.approve(v1, self.maria, self.marketing)
        edit = self.api(self.chair).patch(f"/api/v1/state-definition-versions/{v1}/",
                                          {"definition_text": "changed"}, format="json")
        self.assertRefused(edit, 409, mentions="only a draft")
        self.assertEqual(StateDefinitionVersion.objects.get(pk=v1).definition_text, "Reachable, engaged, score ≥ 60")
        version = StateDefinitionVersion.objects.get(pk=v1)
        version.definition_text = "sneaky"
        with self.assertRaises(Conflict):
            version.save()
        self.assertRefused(self.api(self.chair).delete(f"/api/v1/state-definition-versions/{v1}/"), 409)
        v2 = self.draft(self.mql, text="Reachable, engaged, score ≥ 70",
                        criteria={"field": "score", "op": "gte", "value": 70})
        self.propose(v2)
        self.approve(v2, self.maria, self.marketing)
        self.assertEqual(StateDefinitionVersion.objects.get(pk=v1).status, "superseded")
        diff = self.api(self.employee).get(f"/api/v1/state-definition-versions/{v2}/diff/", {"against": v1}).json()
        self.assertEqual((diff["from"], diff["to"]), (1, 2))
        self.assertTrue(diff["criteria_changed"])
        self.assertTrue(any(line.startswith("+Reachable") for line in diff["definition_text"]))

    def test_workflow_order_is_enforced(self):
        pk = self.draft(self.mql)
        self.assertRefused(self.approve(pk, self.maria, self.marketing), 409, mentions="only a proposed")
        self.propose(pk)
        self.assertRefused(self.api(self.chair).post(f"/api/v1/state-definition-versions/{pk}/propose/"), 409)

    def test_criteria_are_validated_against_the_dataset(self):
        response = self.api(self.chair).post("/api/v1/state-definition-versions/", {
            "definition": self.mql.pk, "definition_text": "x",
            "criteria": {"all": [{"field": "scroe", "op": "gte", "value": 60},
                                 {"field": "email", "op": "between", "value": [1, 2]}]}}, format="json")
        self.assertEqual(response.status_code, 400, response.content)
        errors = response.json()["errors"]
        self.assertTrue(any("scroe" in " ".join(messages) for messages in errors.values()), errors)
        self.assertFalse(StateDefinitionVersion.objects.filter(definition=self.mql).exists())


class TestContracts(GovernanceCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.handoff = factories.contract(slug="handoff", producer=cls.marketing, consumers=[cls.sales])

    def create(self, version, terms, user=None):
        return self.api(user or self.maria).post("/api/v1/contract-versions/", {
            "contract": "handoff", "version": version, "terms": terms}, format="json")

    def sign(self, pk, user, department):
        return self.api(user).post(f"/api/v1/contract-versions/{pk}/sign/", {"department": department.slug},
                                   format="json")

    def active_v1(self):
        pk = self.create("1.0.0", TERMS).json()["id"]
        self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/propose/")
        self.sign(pk, self.maria, self.marketing)
        self.sign(pk, self.sofia, self.sales)
        self.assertEqual(ContractVersion.objects.get(pk=pk).status, "active")
        return pk

    def test_activation_needs_every_partys_signature(self):
        pk = self.create("1.0.0", TERMS).json()["id"]
        self.assertRefused(self.sign(pk, self.maria, self.marketing), 409, mentions="only a proposed")
        self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/propose/")
        self.assertRefused(self.sign(pk, self.maria, self.sales), 403, mentions="Sales")
        self.assertRefused(self.sign(pk, self.tom, self.sales), 403)
        self.assertRefused(self.sign(pk, self.sofia, self.finance), 400, mentions="not a party")
        after_one = self.sign(pk, self.maria, self.marketing).json()
        self.assertEqual(after_one["status"], "proposed")
        self.assertEqual(after_one["missing_signatures"], ["sales"])
        self.assertIsNone(self.handoff.active_version())
        self.assertRefused(self.sign(pk, self.maria, self.marketing), 409, mentions="already signed")
        done = self.sign(pk, self.sofia, self.sales).json()
        self.assertEqual(done["status"], "active")
        self.assertEqual({s["department"]["slug"] for s in done["signatures"]}, {"marketing", "sales"})
        self.assertTrue(all(s["content_hash"] == done["content_hash"] for s in done["signatures"]))
        self.assertEqual(AuditRecord.objects.filter(action="sign", object_id=str(pk)).count(), 2)

    def test_proposed_versions_cannot_be_edited(self):
        pk = self.create("1.0.0", TERMS).json()["id"]
        self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/propose/")
        edit = self.api(self.maria).patch(f"/api/v1/contract-versions/{pk}/", {"terms": {}}, format="json")
        self.assertRefused(edit, 409, mentions="only a draft")
        self.assertEqual(ContractVersion.objects.get(pk=pk).terms, TERMS)

    def test_breaking_change_needs_a_major_bump(self):
        self.active_v1()
        breaking = copy.deepcopy(TERMS)
        breaking["schema"][0]["fields"].pop(1)  # email removed
        minor = self.create("1.1.0", breaking)
        self.assertRefused(minor, 400, mentions="major")
        self.assertIn("version", minor.json()["errors"])
        self.assertEqual(ContractVersion.objects.filter(contract=self.handoff).count(), 1)
        major = self.create("2.0.0", breaking)
        self.assertEqual(major.status_code, 201, major.content)
        self.assertEqual(major.json()["change_class"], "breaking")
        self.assertIn("field leads.email removed or renamed", [c["change"] for c in major.json()["changes"]])

    def test_additive_change_with_minor_bump(self):
        self.active_v1()
        additive = copy.deepcopy(TERMS)
        additive["schema"][0]["fields"].append({"name": "company", "type": "text"})
        response = self.create("1.1.0", additive)
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["change_class"], "additive")
        self.assertRefused(self.create("1.2.0", additive), 409, mentions="already has a draft")

    def test_breaking_version_waits_for_the_notice_period(self):
        v1 = self.active_v1()
        breaking = copy.deepcopy(TERMS)
        breaking["quality"][0]["params"]["values"] = ["raw", "mql"]  # accepted values narrowed
        v2 = self.create("2.0.0", breaking).json()["id"]
        proposed = self.api(self.maria).post(f"/api/v1/contract-versions/{v2}/propose/").json()
        effective = datetime.datetime.fromisoformat(proposed["effective_from"].replace("Z", "+00:00"))
        self.assertGreaterEqual(effective - timezone.now(), datetime.timedelta(days=29))
        self.sign(v2, self.maria, self.marketing)
        signed = self.sign(v2, self.sofia, self.sales).json()
        self.assertEqual(signed["status"], "proposed")  # every signature in, but the notice period runs
        self.assertEqual(ContractVersion.objects.get(pk=v1).status, "active")
        contract_services.activate_due_versions(actor=SCHEDULER, at=timezone.now() + datetime.timedelta(days=10))
        self.assertEqual(ContractVersion.objects.get(pk=v2).status, "proposed")
        activated = contract_services.activate_due_versions(actor=SCHEDULER,
                                                            at=effective + datetime.timedelta(minutes=1))
        self.assertEqual([v.pk for v in activated], [v2])
        self.assertEqual(ContractVersion.objects.get(pk=v1).status, "superseded")
        self.assertEqual(ContractVersion.objects.get(pk=v2).status, "active")

    def test_only_the_producer_proposes_and_terminates(self):
        pk = self.create("1.0.0", TERMS).json()["id"]
        self.assertRefused(self.api(self.sofia).post(f"/api/v1/contract-versions/{pk}/propose/"), 403)
        self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/propose/")
        no_reason = self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/terminate/", {}, format="json")
        self.assertEqual(no_reason.status_code, 400)
        done = self.api(self.maria).post(f"/api/v1/contract-versions/{pk}/terminate/", {"reason": "Replaced"},
                                         format="json")
        self.assertEqual(done.json()["status"], "terminated")

    def test_contract_relying_on_unapproved_state_is_refused(self):
        state = factories.state()
        state_services.create_draft(definition=state, definition_text="x", criteria={}, actor=Actor(system="tests"))
        response = self.api(self.maria).post("/api/v1/contract-versions/", {
            "contract": "handoff", "version": "1.0.0", "terms": TERMS, "state_definitions": [state.pk]},
            format="json")
        self.assertRefused(response, 400, mentions="no approved definition")
        self.assertFalse(ContractVersion.objects.exists())

    def test_the_database_refuses_two_active_versions(self):
        ContractVersion.objects.create(contract=self.handoff, version="1.0.0", status="active")
        with self.assertRaises(IntegrityError), transaction.atomic():
            ContractVersion.objects.create(contract=self.handoff, version="2.0.0", status="active")
