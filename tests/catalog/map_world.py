"""A small company whose lineage runs from sources through the warehouse to a reverse-ETL tool,
with a reader opted out by deny rules of every kind (an object, a system, a field, a
classification, a tag; subjects a department, a user, a group, everyone with an exception).

    Salesforce crm.accounts ──> Warehouse stg.accounts <── Workday hr.salaries
    Warehouse stg.accounts ──> Warehouse mart.accounts ──> Warehouse finance.payroll_costs (restricted)
    Warehouse stg.accounts ──> Hightouch sync.accounts_to_crm (reverse ETL)
    Warehouse stg.accounts ──> Warehouse deals.acquisition_targets ──> Warehouse deals.pipeline_report
    Warehouse stg.accounts ──> Warehouse hr.pay_equity (tag hr-restricted)

Field mappings: crm.accounts.account_id → stg.accounts.account_id, crm.accounts.tax_id (hidden) →
stg.accounts.tax_ref. A contract (Sales → Data) covers crm.accounts; the edge into stg.accounts
(owned by Data) is marked with it.

The reader (``lena``, in Contractors and the readers' group) may not see: the acquisition targets
(object rule on her department), Workday (object rule on her, a user), tax_id (field rule on her
department), finance.payroll_costs (classification ``restricted``, rule on her group) and
hr.pay_equity (tag, everyone but HR). deals.pipeline_report is visible to her but reached only
through the acquisition targets, so it must not be on her map of stg.accounts either.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from catalog.choices import DepartmentRole
from catalog.models import Dataset, Field, LineageEdge, System
from governance.models import ContractVersion
from permissions.council import READERS_GROUP
from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import make_user

#: Words that only hidden objects carry.
HIDDEN_WORDS = ("acquisition", "Workday", "salaries", "tax_id", "payroll", "pay_equity", "pipeline_report")


def _rule(target, **kw) -> AccessRule:
    return AccessRule.objects.create(target_kind="object", target_type=ContentType.objects.get_for_model(target),
                                     target_id=target.pk, reason=kw.pop("reason", "tests"), **kw)


def build_map_world() -> SimpleNamespace:
    w = SimpleNamespace()
    w.sales = factories.department(name="Sales", slug="sales")
    w.data = factories.department(name="Data platform", slug="data")
    w.corpdev = factories.department(name="Corporate development", slug="corpdev")
    w.hr = factories.department(name="HR", slug="hr")
    w.contractors = factories.department(name="Contractors", slug="contractors")

    w.council_member = make_user("dana", is_staff=True)
    w.council_member.groups.add(Group.objects.get_or_create(name=settings.ACCORD_COUNCIL_GROUP)[0])
    w.lead = make_user("maria")
    factories.membership(w.lead, department=w.sales, role=DepartmentRole.LEAD)
    w.reader = make_user("lena")
    w.reader.groups.add(Group.objects.get(name=READERS_GROUP))
    factories.membership(w.reader, department=w.contractors)
    w.colleague = make_user("colin")  # no rule opts him out of anything
    w.colleague.groups.add(Group.objects.get(name=READERS_GROUP))

    w.salesforce = factories.system(name="Salesforce", slug="salesforce", kind="crm", owner_department=w.sales)
    w.warehouse = factories.system(name="Warehouse", slug="warehouse", kind="warehouse", owner_department=w.data)
    w.hightouch = factories.system(name="Hightouch", slug="hightouch", kind="other", owner_department=w.data)
    w.workday = factories.system(name="Workday", slug="workday", kind="hris", owner_department=w.hr)

    def ds(system, qualified_name, name, department, **kw):
        return factories.dataset(system=system, qualified_name=qualified_name, name=name,
                                 owner_department=department, **kw)

    w.accounts = ds(w.salesforce, "crm.accounts", "CRM accounts", w.sales)
    w.salaries = ds(w.workday, "hr.salaries", "Salaries", w.hr)
    w.stg = ds(w.warehouse, "stg.accounts", "Staged accounts", w.data)
    w.mart = ds(w.warehouse, "mart.accounts", "Account mart", w.data)
    w.sync = ds(w.hightouch, "sync.accounts_to_crm", "Accounts back to the CRM", w.sales)
    w.targets = ds(w.warehouse, "deals.acquisition_targets", "Acquisition targets", w.corpdev)
    w.report = ds(w.warehouse, "deals.pipeline_report", "Deal pipeline_report", w.corpdev)
    restricted_tag = factories.tag(name="hr-restricted", slug="hr-restricted")
    w.pay_equity = ds(w.warehouse, "hr.pay_equity", "Pay equity", w.hr, tags=[restricted_tag])
    w.payroll = ds(w.warehouse, "finance.payroll_costs", "Payroll costs", w.hr, classification="restricted")

    w.account_id = factories.field(dataset=w.accounts, name="account_id", data_type="bigint", position=1)
    w.tax_id = factories.field(dataset=w.accounts, name="tax_id", data_type="text", position=2)
    w.stg_account_id = factories.field(dataset=w.stg, name="account_id", data_type="bigint", position=1)
    w.tax_ref = factories.field(dataset=w.stg, name="tax_ref", data_type="text", position=2)

    for source, target in ((w.accounts, w.stg), (w.salaries, w.stg), (w.stg, w.mart), (w.stg, w.sync),
                           (w.stg, w.targets), (w.targets, w.report), (w.stg, w.pay_equity),
                           (w.mart, w.payroll)):
        factories.lineage(source=source, target=target)
    factories.lineage(source=w.accounts, target=w.stg, source_field=w.account_id, target_field=w.stg_account_id,
                      transformation="copied")
    factories.lineage(source=w.accounts, target=w.stg, source_field=w.tax_id, target_field=w.tax_ref,
                      transformation="hashed")

    w.contract = factories.contract(name="Accounts feed", slug="accounts-feed", producer=w.sales,
                                    consumers=[w.data], datasets=[w.accounts])
    ContractVersion.objects.create(contract=w.contract, version="1.0.0", status="active", terms={})

    _rule(w.targets, subject_kind="department", subject_department=w.contractors, reason="Deal flow")
    _rule(w.workday, subject_kind="user", subject_user=w.reader, reason="HR data stays with employees")
    _rule(w.tax_id, subject_kind="department", subject_department=w.contractors, reason="Personal data")
    AccessRule.objects.create(subject_kind="group", subject_group=Group.objects.get(name=READERS_GROUP),
                              target_kind="classification", classification="restricted", reason="Restricted data")
    AccessRuleException.objects.create(
        rule=AccessRule.objects.get(subject_kind="group", target_kind="classification"),
        subject_kind="user", subject_user=w.colleague, reason="Colin is cleared")
    tag_rule = AccessRule.objects.create(subject_kind="everyone", target_kind="tag", target_tag=restricted_tag,
                                         reason="Employee data is HR's only")
    AccessRuleException.objects.create(rule=tag_rule, subject_kind="department", subject_department=w.hr,
                                       reason="HR keeps it")
    AccessRuleException.objects.create(rule=tag_rule, subject_kind="user", subject_user=w.colleague,
                                       reason="Colin audits pay equity")
    return w


@contextmanager
def world_without_hidden_objects(w: SimpleNamespace):
    """The world had the reader's hidden objects never been registered (rolled back after)."""
    savepoint = transaction.savepoint()
    try:
        hidden = [w.targets.pk, w.salaries.pk, w.pay_equity.pk, w.payroll.pk]
        LineageEdge._base_manager.filter(source_field=w.tax_id).delete()
        LineageEdge._base_manager.filter(source_id__in=hidden).delete()
        LineageEdge._base_manager.filter(target_id__in=hidden).delete()
        Field._base_manager.filter(pk=w.tax_id.pk).delete()
        # deals.pipeline_report is reached only through the acquisition targets: without them it is
        # still registered, but no edge leads to it.
        w.contract.datasets.remove(*hidden)
        for pk in hidden:
            Dataset._base_manager.get(pk=pk).fields.all().delete()
        Dataset._base_manager.filter(pk__in=hidden).delete()
        System._base_manager.filter(pk=w.workday.pk).delete()
        yield
    finally:
        transaction.savepoint_rollback(savepoint)
