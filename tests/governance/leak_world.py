"""A world for governance leak tests: a reader opted out of catalog objects that governance
objects refer to, and the same world without those objects.

Contractors are opted out, each by a deny rule naming their department, of

* a dataset, ``deals.acquisition_targets`` (and its field ``company_name``);
* a field, ``crm.accounts.tax_id``, inside a dataset they see;
* a system, ``Workday`` (with its dataset ``hr.salaries`` and field ``salary_band``).

The governance objects refer to hidden and visible catalog objects alike: a business
entity over ``crm.accounts`` and the acquisition targets, with an authoritative
designation on a visible system and one on Workday; a workflow over ``crm.accounts``
whose state field is ``tax_id``; a state whose approved criteria test ``account_id`` and
``tax_id``; a contract over both datasets whose active version's terms describe the hidden
dataset and the hidden field (with quality rules on them), signed by both parties; a
completed compliance run with results on visible and hidden objects, its incident, and a
subscription.

``world_without_hidden_objects()`` makes the world as it would be had the hidden objects
never been registered (rolled back after): a colleague reads it, and a contractor's answer
in the real world must equal it once its placeholders are taken out
(``without_placeholders``).
"""

from __future__ import annotations

import datetime
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from catalog.models import Dataset, Field, System
from governance.models import (
    CheckResult,
    ComplianceRun,
    ContractSignature,
    ContractVersion,
    Incident,
    NotificationSubscription,
    StateDefinitionVersion,
    StateWorkflow,
    SystemOfRecord,
)
from governance.redaction import PLACEHOLDER_KEY, is_placeholder
from tests import factories
from tests.mixins import make_user
from tests.permissions.test_leaks import LeakTestBase, catalog_perms, deny

# Words only hidden objects carry: none may appear in anything a contractor reads.
HIDDEN_WORDS = ("acquisition", "tax_id", "Workday", "salaries", "salary_band", "company_name")

TERMS = {
    "schema": [
        {"name": "accounts", "physical_name": "crm.accounts", "fields": [
            {"name": "account_id", "type": "bigint", "required": True},
            {"name": "tax_id", "type": "varchar(20)"},
        ]},
        {"name": "targets", "physical_name": "deals.acquisition_targets", "fields": [
            {"name": "company_name", "type": "text"},
        ]},
    ],
    "quality": [
        {"object": "accounts", "field": "account_id", "rule": "not_null", "params": {}, "severity": "error"},
        {"object": "accounts", "field": "tax_id", "rule": "not_null", "params": {}, "severity": "error"},
        {"object": "targets", "field": "company_name", "rule": "not_null", "params": {}, "severity": "error"},
    ],
    "notice_period_days": 0,
}
TERMS_WITHOUT_HIDDEN = {
    "schema": [{"name": "accounts", "physical_name": "crm.accounts", "fields": [
        {"name": "account_id", "type": "bigint", "required": True}]}],
    "quality": [TERMS["quality"][0]],
    "notice_period_days": 0,
}
CRITERIA = {"all": [{"field": "account_id", "op": "is_not_null"}, {"field": "tax_id", "op": "is_not_null"}]}
CRITERIA_WITHOUT_HIDDEN = {"all": [{"field": "account_id", "op": "is_not_null"}]}


def without_placeholders(value: Any) -> Any:
    """A response with the placeholders for hidden objects taken out: ``{"hidden": n}`` items
    leave their lists (elsewhere they become None) and ``"hidden"`` counts leave their dicts."""
    if isinstance(value, list):
        return [without_placeholders(item) for item in value if not is_placeholder(item)]
    if isinstance(value, dict):
        if is_placeholder(value):
            return None
        return {key: without_placeholders(item) for key, item in value.items() if key != PLACEHOLDER_KEY}
    return value


class GovernanceLeakWorld(LeakTestBase):
    """``LeakTestBase`` with the world above (``opted_out``/``colleague``, their staff twins)."""

    @classmethod
    def setUpTestData(cls):
        contractors = factories.department(name="Contractors", slug="contractors")
        sales = factories.department(name="Sales", slug="sales")
        corpdev = factories.department(name="Corporate development", slug="corpdev")
        people = factories.department(name="People operations", slug="people")
        cls.sales, cls.contractors = sales, contractors
        governance_perms = tuple(f"governance.{action}_{model}" for model in (
            "businessentity", "datacontract", "contractversion", "stateworkflow", "statedefinition",
            "statedefinitionversion", "systemofrecord") for action in ("add", "change", "view"))
        cls.opted_out = make_user("contractor")
        cls.colleague = make_user("colleague")
        cls.staff_opted_out = make_user("staff-contractor", is_staff=True,
                                        perms=catalog_perms() + governance_perms)
        cls.staff_colleague = make_user("staff-colleague", is_staff=True, perms=catalog_perms() + governance_perms)
        for user in (cls.opted_out, cls.staff_opted_out):
            factories.membership(user, department=contractors)
        for user in (cls.colleague, cls.staff_colleague):
            factories.membership(user, department=sales)

        cls.warehouse = factories.system(name="Warehouse", slug="warehouse", kind="warehouse", owner_department=sales)
        cls.workday = factories.system(name="Workday", slug="workday", kind="hris", owner_department=people)
        cls.accounts = factories.dataset(system=cls.warehouse, qualified_name="crm.accounts", name="Accounts",
                                         owner_department=sales)
        cls.targets = factories.dataset(system=cls.warehouse, qualified_name="deals.acquisition_targets",
                                        name="Acquisition targets", owner_department=corpdev)
        cls.salaries = factories.dataset(system=cls.workday, qualified_name="hr.salaries", name="Salaries",
                                         owner_department=people)
        cls.account_id = factories.field(dataset=cls.accounts, name="account_id", data_type="bigint", position=1)
        cls.tax_id = factories.field(dataset=cls.accounts, name="tax_id", data_type="varchar(20)", position=2)
        cls.company_name = factories.field(dataset=cls.targets, name="company_name", data_type="text")
        cls.salary_band = factories.field(dataset=cls.salaries, name="salary_band", data_type="text")

        cls.entity = factories.entity(name="Account", slug="account", owner_department=sales)
        cls.entity.datasets.set([cls.accounts, cls.targets])
        cls.attribute = cls.entity.attributes.create(name="pay grade")
        cls.designation = SystemOfRecord.objects.create(
            entity=cls.entity, system=cls.warehouse, dataset=cls.accounts, status="active", rationale="CRM")
        cls.hidden_designation = SystemOfRecord.objects.create(
            entity=cls.entity, attribute=cls.attribute, system=cls.workday, dataset=cls.salaries,
            field=cls.salary_band, status="active", rationale="HR")

        cls.workflow = factories.workflow(name="Account lifecycle", slug="account-lifecycle", dataset=cls.accounts,
                                          state_field=cls.tax_id, owner_department=sales)
        cls.state = factories.state(workflow=cls.workflow, name="Verified", slug="verified", state_value="verified")
        cls.state_version = StateDefinitionVersion.objects.create(
            definition=cls.state, number=1, status="approved", definition_text="A verified account.",
            criteria=CRITERIA)

        cls.contract = factories.contract(name="Accounts feed", slug="accounts-feed", producer=sales,
                                          consumers=[corpdev], datasets=[cls.accounts, cls.targets])
        cls.version = ContractVersion.objects.create(contract=cls.contract, version="1.0.0", status="active",
                                                     terms=TERMS, changes=[
                                                         {"class": "additive", "change": "field accounts.tax_id added"},
                                                         {"class": "additive", "change": "schema object targets added"},
                                                         {"class": "cosmetic", "change": "notice period: 1 → 0 days"}])
        cls.version.state_definitions.set([cls.state])
        for department in (sales, corpdev):
            ContractSignature.objects.create(version=cls.version, department=department, signed_by=cls.colleague,
                                             content_hash="0" * 64)

        cls.compliance_run = ComplianceRun.objects.create(
            contract_version=cls.version, scheduled_for=datetime.datetime(2026, 1, 1, 6, tzinfo=datetime.UTC),
            trigger="scheduled", status="completed", outcome="fail", summary={"pass": 2, "fail": 3, "error": 0})
        results = [
            ("metadata:accounts:fields_present", cls.accounts, "", "pass", "Every contracted field is registered."),
            ("metadata:accounts:fields_owned", cls.accounts, "", "fail",
             "No owner (person and department): account_id, tax_id."),
            ("data:accounts:tax_id:not_null:1", cls.accounts, "tax_id", "fail", "3 rows have no tax_id."),
            ("data:targets:company_name:not_null:2", cls.targets, "company_name", "fail", "company_name is null."),
            ("metadata:state_definitions", None, "", "pass", "Referenced states are approved."),
        ]
        for key, dataset, field, status, message in results:
            CheckResult.objects.create(run=cls.compliance_run, key=key, kind="metadata", rule=key.split(":")[-1],
                                       dataset=dataset, field=field, status=status, message=message)
        cls.incident = Incident.objects.create(
            contract=cls.contract, opened_by_run=cls.compliance_run, title="Accounts feed is failing its checks",
            summary={"failing_rules": ["metadata:accounts:fields_owned", "data:accounts:tax_id:not_null:1",
                                       "data:targets:company_name:not_null:2"],
                     "counts": {"pass": 2, "fail": 3, "error": 0}})
        cls.subscription = NotificationSubscription(name="Feed alerts", owner=cls.opted_out,
                                                    url="https://hooks.example.com/accord")
        NotificationSubscription._base_manager.bulk_create([cls.subscription])  # no DNS lookup for the URL

        deny(cls.targets, contractors, reason="Deal flow is insider information")
        deny(cls.tax_id, contractors, reason="Tax numbers are personal data")
        deny(cls.workday, contractors, reason="HR data stays with employees")

    @contextmanager
    def world_without_hidden_objects(self):
        """The world had the hidden objects never been registered (rolled back after): they are
        gone, and so is whatever governance wrote about them (terms, criteria, results, counts)."""
        savepoint = transaction.savepoint()
        try:
            SystemOfRecord._base_manager.filter(pk=self.hidden_designation.pk).delete()
            StateWorkflow._base_manager.filter(pk=self.workflow.pk).update(state_field=None)
            StateDefinitionVersion._base_manager.filter(pk=self.state_version.pk).update(
                criteria=CRITERIA_WITHOUT_HIDDEN)
            ContractVersion._base_manager.filter(pk=self.version.pk).update(
                terms=TERMS_WITHOUT_HIDDEN, changes=[self.version.changes[2]])
            CheckResult.objects.filter(run=self.compliance_run, key__in=["data:accounts:tax_id:not_null:1",
                                                              "data:targets:company_name:not_null:2"]).delete()
            CheckResult.objects.filter(run=self.compliance_run, key="metadata:accounts:fields_owned").update(
                message="No owner (person and department): account_id.")
            counts = {"pass": 2, "fail": 1, "error": 0}
            ComplianceRun._base_manager.filter(pk=self.compliance_run.pk).update(summary=counts)
            Incident._base_manager.filter(pk=self.incident.pk).update(
                summary={"failing_rules": ["metadata:accounts:fields_owned"], "counts": counts})
            Dataset._base_manager.filter(pk__in=[self.targets.pk, self.salaries.pk]).delete()
            Field._base_manager.filter(pk=self.tax_id.pk).delete()
            System._base_manager.filter(pk=self.workday.pk).delete()
            yield
        finally:
            transaction.savepoint_rollback(savepoint)
