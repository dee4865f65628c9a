"""Who may do what: every /api/v1/ endpoint × method × role → the status code the user gets.

The table (``TABLE``) is the specification, written as data. Each row names one
request (method and path, with placeholders for the objects built in
``setUpTestData``) and the status each role gets. Every (row, role) pair is its
own test (``test_<method>_<path>_as_<role>``), run in a transaction that is rolled
back afterwards, so a DELETE in one case never removes what another case reads.
Callers authenticate as tooling does, with their own ``Authorization: Bearer`` token.

The roles (the world is built in ``AuthorizationTable.setUpTestData``):

* anonymous  - no credentials at all;
* employee   - an active account and nothing else;
* opted_out  - member of Marketing, which a deny rule opts out of the governed dataset;
* exempted   - member of Marketing analytics (inside Marketing, so the rule reaches
               them), which an exception on that rule re-admits;
* steward    - steward of the governed dataset (guardian grants change_dataset);
* lead       - lead of Sales, the department that owns the governed dataset and its system;
* council    - member of the "DataOps council" group, which holds add/change/delete/view
               on every catalog and permissions model, and the governance permissions the
               council holds in production (add/change/delete/view, approve_*);
* superuser.

The governed dataset is the one everything revolves around; ``other_dataset`` is
owned by Finance and stewarded by nobody, to show rights do not spill over.

The governance world (``_build_governance``) is Sales's too: a business entity with an
attribute and designations, a state workflow over the governed dataset with its states and
versions, contracts produced by Sales for Finance with their versions, a compliance run and
the incident it opened, and the employee's notification subscription with a delivery.

``test_every_api_route_and_method_is_in_the_table`` walks the URL resolver and
fails when a route/method under /api/v1/ has no row, so a new endpoint cannot ship
without saying who may call it.

A row may mark roles for which the application currently answers something other
than what a governance user would expect (``bugs``); those cases keep the
*expected* status and are run as expected failures, so they flip to a failure once
the code is fixed and the mark must be removed.
"""

from __future__ import annotations

import datetime
import json
import re
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import (
    BusinessEntity,
    CheckResult,
    ComplianceRun,
    DataContract,
    Delivery,
    EntityAttribute,
    NotificationSubscription,
    StateTransition,
    SystemOfRecord,
)
from governance.services import compliance
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from permissions.context import Actor
from permissions.council import council_permissions
from permissions.models import AccessRule, AccessRuleException, AuditRecord
from permissions.services import create_token
from tests import factories
from tests.mixins import make_user

ANONYMOUS, EMPLOYEE, OPTED_OUT, EXEMPTED = "anonymous", "employee", "opted_out", "exempted"
STEWARD, LEAD, COUNCIL, SUPERUSER = "steward", "lead", "council", "superuser"
ROLES = (ANONYMOUS, EMPLOYEE, OPTED_OUT, EXEMPTED, STEWARD, LEAD, COUNCIL, SUPERUSER)


def outcome(default: int, **by_role: int) -> dict[str, int]:
    """``default`` for every signed-in role, 401 for anonymous callers, then the exceptions."""
    unknown = set(by_role) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    return {ANONYMOUS: 401, **{role: default for role in ROLES[1:]}, **by_role}


def council_only(status: int) -> dict[str, int]:
    """Only the council (holding the model permission) and superusers; everyone else 403."""
    return outcome(403, council=status, superuser=status)


def lead_or_council(status: int, **by_role: int) -> dict[str, int]:
    """The lead of Sales (which owns the object), the council and superusers; everyone else 403."""
    return outcome(403, lead=status, council=status, superuser=status, **by_role)


def owner_only(status: int) -> dict[str, int]:
    """The employee's own notification objects: theirs and superusers'; to anyone else as missing (404)."""
    return outcome(404, employee=status, superuser=status)


# Reads of the catalog: every employee (opt-out principle).
READ = outcome(200)
# Reads of the governed dataset or anything inside it: hidden from opted_out, which
# answers 404 exactly like a missing id; the exception re-admits exempted.
READ_GOVERNED = outcome(200, opted_out=404)


def _build_harvest(*, system, dataset, governed_field, other_field) -> dict[str, int]:
    """The warehouse's harvest settings, one run, the drift it found in the governed dataset and a
    foreign key from the governed field to the ledger's."""
    from harvest.models import ChangeKind, FieldRelationship, HarvestRun, HarvestSettings, SchemaChange

    settings_ = HarvestSettings.objects.create(system=system, exclude=["*.tmp_*"])
    run = HarvestRun.objects.create(system=system, trigger="command", scheduled_for=timezone.now(),
                                    status="succeeded", finished_at=timezone.now())
    change = SchemaChange.objects.create(run=run, dataset=dataset, field=governed_field, field_name="amount",
                                         kind=ChangeKind.TYPE_WIDENED, before="numeric(10,2)", after="numeric(12,2)")
    relationship = FieldRelationship.objects.create(system=system, constraint_name="budget_ledger_fk",
                                                    from_field=governed_field, to_field=other_field)
    return {"harvest_settings": settings_.pk, "harvest_run": run.pk, "schema_change": change.pk,
            "field_relationship": relationship.pk}


def _build_ingest(*, system, dataset, governed_field) -> dict[str, int]:
    """The warehouse's dbt project, one ingestion, the node of the governed dataset and a test on its field."""
    from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun

    project = DbtProject.objects.create(name="shop", system=system)
    run = IngestionRun.objects.create(project=project, status="succeeded", finished_at=timezone.now())
    node = DbtNode.objects.create(project=project, unique_id="model.shop.campaign_budget", resource_type="model",
                                  dataset=dataset, materialized="table")
    test = DbtTest.objects.create(project=project, unique_id="test.shop.not_null_campaign_budget_amount",
                                  name="not_null_campaign_budget_amount", test_type="not_null", dataset=dataset,
                                  field=governed_field, column_name="amount", status="pass", failures=0)
    return {"dbt_project": project.pk, "ingestion_run": run.pk, "dbt_node": node.pk, "dbt_test": test.pk}


def _build_openlineage(*, system) -> dict[str, int]:
    """The warehouse's OpenLineage namespace and a namespace events named that no System has."""
    from ingest.models import LineageNamespace, UnknownNamespace

    namespace = LineageNamespace.objects.create(namespace="postgres://warehouse:5432/shop", system=system)
    unknown = UnknownNamespace.objects.create(namespace="s3://raw-events", first_seen_at=timezone.now(),
                                              last_seen_at=timezone.now(), events=1, example_names=["clicks"])
    return {"lineage_namespace": namespace.pk, "unknown_namespace": unknown.pk}


#: The smallest manifest dbt writes for the warehouse's project "shop": metadata and empty maps.
EMPTY_SHOP_MANIFEST = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.10.23",
                 "project_name": "shop", "adapter_type": "postgres"},
    **{key: {} for key in ("nodes", "sources", "macros", "docs", "exposures", "metrics", "groups", "selectors",
                           "disabled", "parent_map", "child_map", "group_map", "saved_queries", "semantic_models",
                           "unit_tests")},
}


class Ref:
    """A placeholder for the primary key of one of the objects built in setUpTestData."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Ref({self.name!r})"


# PUT sends back the object's complete current representation (as a superuser reads it).
CURRENT = object()


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # relative to /api/v1/, placeholders like {dataset} name objects of the world
    expected: dict[str, int]
    body: Any = None
    bugs: dict[str, str] = field(default_factory=dict)  # role -> what goes wrong today
    # For the roles let through: why the case cannot run here (a file outside the repository is
    # missing), or None; the case is then skipped for them.
    needs: Callable[[], str | None] | None = None

    @property
    def slug(self) -> str:
        return f"{self.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', self.path).strip('_') or 'api_root'}"


NEW_DATASET = {"system": Ref("system"), "qualified_name": "crm.campaign_results", "name": "Campaign results",
               "owner_department": Ref("sales")}
REGISTER_GOVERNED = {"system": Ref("system"), "qualified_name": "crm.campaign_budget",
                     "description": "Budget per campaign, re-registered by the nightly dbt run",
                     "fields": [{"name": "amount", "data_type": "numeric(12,2)"}]}
# Contract terms over the governed dataset; 1.1.0 adds a field (additive, a minor bump).
CONTRACT_TERMS = {
    "schema": [{"name": "campaign_budget", "physical_name": "crm.campaign_budget",
                "fields": [{"name": "amount", "type": "numeric(12,2)", "required": True}]}],
    "quality": [{"object": "campaign_budget", "field": "amount", "rule": "not_null", "params": {},
                 "severity": "error"}],
    "notice_period_days": 0,
}
CONTRACT_TERMS_1_1 = {**CONTRACT_TERMS, "schema": [{
    **CONTRACT_TERMS["schema"][0],
    "fields": [*CONTRACT_TERMS["schema"][0]["fields"], {"name": "currency", "type": "char(3)"}]}]}
# A minimal ODCS v3.1 document, imported as a new contract produced by Sales.
ODCS_DOCUMENT = {
    "apiVersion": "v3.1.0", "kind": "DataContract", "id": "campaign-forecast-feed", "name": "Campaign forecast feed",
    "version": "1.0.0", "status": "draft",
    "schema": [{"name": "campaign_forecast", "physicalName": "crm.campaign_forecast", "physicalType": "table",
                "properties": [{"name": "amount", "logicalType": "number", "physicalType": "numeric(12,2)",
                                "required": True}]}],
}


TABLE: list[Case] = [
    # The API root of the first router included under /api/v1/ (it shadows the other routers' roots).
    Case("GET", "", READ),

    # --- departments, memberships, tags: the council's reference data --------------------------
    Case("GET", "departments/", READ),
    # Leads do not create departments: no department owns a department.
    Case("POST", "departments/", council_only(201), {"name": "Legal", "slug": "legal"}),
    Case("GET", "departments/{sales}/", READ),
    Case("PUT", "departments/{sales}/", council_only(200), CURRENT),
    # Even the lead of Sales cannot rename Sales: departments are reference data of the council.
    Case("PATCH", "departments/{sales}/", council_only(200), {"description": "Revenue teams"}),
    Case("DELETE", "departments/{spare_department}/", council_only(204)),
    Case("GET", "departments/{sales}/history/", READ),

    Case("GET", "department-memberships/", READ),
    Case("POST", "department-memberships/", council_only(201),
         {"department": Ref("spare_department"), "user": Ref("bystander"), "role": "member"}),
    Case("GET", "department-memberships/{bystander_membership}/", READ),
    Case("PUT", "department-memberships/{bystander_membership}/", council_only(200), CURRENT),
    Case("PATCH", "department-memberships/{bystander_membership}/", council_only(200), {"role": "steward"}),
    Case("DELETE", "department-memberships/{bystander_membership}/", council_only(204)),
    Case("GET", "department-memberships/{bystander_membership}/history/", READ),

    Case("GET", "tags/", READ),
    Case("POST", "tags/", council_only(201), {"name": "gdpr", "slug": "gdpr"}),
    Case("GET", "tags/{tag}/", READ),
    Case("PUT", "tags/{tag}/", council_only(200), CURRENT),
    Case("PATCH", "tags/{tag}/", council_only(200), {"description": "Money"}),
    Case("DELETE", "tags/{tag}/", council_only(204)),
    Case("GET", "tags/{tag}/history/", READ),

    # --- systems: owned by a department, whose lead acts for it ---------------------------------
    Case("GET", "systems/", READ),
    # A lead may register a system for their own department (permissions.edit.can_create).
    Case("POST", "systems/", outcome(403, lead=201, council=201, superuser=201),
         {"name": "Zendesk", "slug": "zendesk", "kind": "support", "owner_department": Ref("sales")}),
    Case("GET", "systems/{system}/", READ),
    # The system is owned by Sales; the dataset's steward has no right on the system itself.
    Case("PUT", "systems/{system}/", outcome(403, lead=200, council=200, superuser=200), CURRENT),
    Case("PATCH", "systems/{system}/", outcome(403, lead=200, council=200, superuser=200), {"vendor": "Snowflake"}),
    # An empty Sales system (a system still holding datasets answers 409 to everyone).
    Case("DELETE", "systems/{empty_system}/", outcome(403, lead=204, council=204, superuser=204)),
    Case("GET", "systems/{system}/history/", READ),

    # --- datasets --------------------------------------------------------------------------------
    # opted_out gets 200 too, without the governed dataset (test_hidden_dataset_is_absent_from_the_list…).
    Case("GET", "datasets/", READ),
    # Creating needs catalog.add_dataset, or leading the department the new dataset is owned by.
    Case("POST", "datasets/", outcome(403, lead=201, council=201, superuser=201), NEW_DATASET),
    Case("GET", "datasets/{dataset}/", READ_GOVERNED),
    Case("PUT", "datasets/{dataset}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200), CURRENT),
    # Hidden beats forbidden: opted_out learns nothing, not even that they may not edit it.
    Case("PATCH", "datasets/{dataset}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200),
         {"description": "Planned spend per campaign"}),
    # Stewards curate but do not delete (guardian grants them change_dataset only); the
    # lead's department owns the dataset, so the lead may (DepartmentLeadBackend: change, delete).
    Case("DELETE", "datasets/{spare_dataset}/", outcome(403, lead=204, council=204, superuser=204)),
    # The governed dataset has a state workflow and designations over it (PROTECT): once the right
    # to delete is granted, the deletion is refused as a conflict, naming none of them.
    Case("DELETE", "datasets/{dataset}/", outcome(403, opted_out=404, lead=409, council=409, superuser=409)),
    Case("GET", "datasets/{dataset}/fields/", READ_GOVERNED),
    Case("GET", "datasets/{dataset}/lineage/", READ_GOVERNED),
    Case("GET", "datasets/{dataset}/history/", READ_GOVERNED),
    # Re-registering an existing dataset needs the right to change it. For opted_out the
    # dataset is hidden: refused with the same 403 as any registration they may not make.
    Case("POST", "datasets/register/", outcome(403, steward=200, lead=200, council=200, superuser=200),
         REGISTER_GOVERNED),
    # Another dataset (Finance's, no steward): the steward and the lead of Sales have no right on it.
    Case("GET", "datasets/{other_dataset}/", READ),
    Case("PATCH", "datasets/{other_dataset}/", council_only(200), {"description": "Ledger lines"}),

    # --- fields: changed by whoever may change their dataset -------------------------------------
    Case("GET", "fields/", READ),
    # Naming a dataset the caller may not see is a validation error exactly like a missing id (400),
    # checked before the right to create (403).
    Case("POST", "fields/", outcome(403, opted_out=400, steward=201, lead=201, council=201, superuser=201),
         {"dataset": Ref("dataset"), "name": "currency", "data_type": "char(3)"}),
    Case("GET", "fields/{field}/", READ_GOVERNED),
    Case("PUT", "fields/{field}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200), CURRENT),
    Case("PATCH", "fields/{field}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200),
         {"description": "Amount in the campaign's currency"}),
    # The steward may remove a field of their dataset (Field.edit_container: the right to change
    # the dataset), although they may not delete the dataset itself.
    Case("DELETE", "fields/{field}/",
         outcome(403, opted_out=404, steward=204, lead=204, council=204, superuser=204)),
    Case("GET", "fields/{field}/history/", READ_GOVERNED),
    Case("PATCH", "fields/{other_field}/", council_only(200), {"description": "Posting amount"}),

    # --- lineage: documented by whoever may change the target dataset ----------------------------
    Case("GET", "lineage-edges/", READ),
    Case("POST", "lineage-edges/",
         outcome(403, opted_out=400, steward=201, lead=201, council=201, superuser=201),
         {"source": Ref("upstream_dataset"), "target": Ref("dataset"), "transformation": "daily rollup"}),
    # The edge ends in the governed dataset, so it is hidden with it.
    Case("GET", "lineage-edges/{edge}/", READ_GOVERNED),
    Case("PUT", "lineage-edges/{edge}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200), CURRENT),
    Case("PATCH", "lineage-edges/{edge}/",
         outcome(403, opted_out=404, steward=200, lead=200, council=200, superuser=200),
         {"transformation": "sum by campaign"}),
    Case("DELETE", "lineage-edges/{edge}/",
         outcome(403, opted_out=404, steward=204, lead=204, council=204, superuser=204)),
    Case("GET", "lineage-edges/{edge}/history/", READ_GOVERNED),

    # --- search ------------------------------------------------------------------------------------
    Case("GET", "search/?q=campaign", READ),

    # --- the cockpit: scorecard, council meetings, lineage maps -----------------------------------
    Case("GET", "scorecard/", READ),
    Case("GET", "scorecard/departments/sales/", READ),
    Case("GET", "scorecard-snapshots/", READ),
    # Snapshots count everything: a reader some deny rule applies to sees none (docs/scorecard.md).
    Case("GET", "scorecard-snapshots/{snapshot}/", READ_GOVERNED),
    Case("GET", "council-meetings/", READ),
    Case("POST", "council-meetings/", council_only(201), {"held_on": "2026-02-02"}),
    Case("GET", "council-meetings/{council_meeting}/", READ),
    Case("PUT", "council-meetings/{council_meeting}/", council_only(200), CURRENT),
    Case("PATCH", "council-meetings/{council_meeting}/", council_only(200), {"notes": "Q1 review"}),
    Case("DELETE", "council-meetings/{council_meeting}/", council_only(204)),
    Case("GET", "council-meetings/{council_meeting}/history/", READ),
    Case("GET", "datasets/{dataset}/lineage-graph/", READ_GOVERNED),
    Case("GET", "fields/{field}/lineage-graph/", READ_GOVERNED),

    # --- the trust layer -------------------------------------------------------------------------
    # Anyone may ask about themselves; an object they cannot see answers 404 like a missing one.
    Case("GET", "access/explain/?object=catalog.dataset:{dataset}", READ_GOVERNED),
    # About somebody else: the council and superusers only.
    Case("GET", "access/explain/?object=catalog.dataset:{other_dataset}&user={bystander}", council_only(200)),

    # Everyone has their own tokens; another person's token is as missing (404), except for superusers.
    Case("GET", "tokens/", READ),
    Case("POST", "tokens/", outcome(201), {"name": "nightly dbt run"}),
    Case("GET", "tokens/{employee_token}/", outcome(404, employee=200, superuser=200)),
    # "DELETE revokes it" (ApiTokenViewSet): the owner revokes their own token.
    Case("DELETE", "tokens/{employee_token}/", outcome(404, employee=204, superuser=204)),

    # Deny rules and exceptions: the model permissions decide, for reading too.
    Case("GET", "access-rules/", council_only(200)),
    Case("POST", "access-rules/", council_only(201),
         {"subject_kind": "everyone", "target_kind": "classification", "classification": "restricted",
          "reason": "Restricted data is need-to-know"}),
    Case("GET", "access-rules/{rule}/", council_only(200)),
    Case("PUT", "access-rules/{rule}/", council_only(200), CURRENT),
    Case("PATCH", "access-rules/{rule}/", council_only(200), {"reason": "Campaign budgets stay with Sales"}),
    Case("DELETE", "access-rules/{rule}/", council_only(204)),
    Case("GET", "access-rules/{rule}/history/", council_only(200)),

    Case("GET", "access-rule-exceptions/", council_only(200)),
    Case("POST", "access-rule-exceptions/", council_only(201),
         {"rule": Ref("rule"), "subject_kind": "user", "subject_user": Ref("employee"), "reason": "Auditor"}),
    Case("GET", "access-rule-exceptions/{exception}/", council_only(200)),
    Case("PUT", "access-rule-exceptions/{exception}/", council_only(200), CURRENT),
    Case("PATCH", "access-rule-exceptions/{exception}/", council_only(200), {"reason": "Analytics plans spend"}),
    Case("DELETE", "access-rule-exceptions/{exception}/", council_only(204)),
    Case("GET", "access-rule-exceptions/{exception}/history/", council_only(200)),

    # The audit log: permissions.view_auditrecord (the council, superusers).
    Case("GET", "audit/", council_only(200)),
    Case("GET", "audit/{audit_seq}/", council_only(200)),
    Case("GET", "audit/head/", council_only(200)),
    Case("GET", "audit/verify/", council_only(200)),
    Case("GET", "audit/export/?as=json", council_only(200)),
    Case("GET", "audit/repeats/", council_only(200)),
    # The test settings configure no signing key: auditors get 409 (nothing is signed), others 403.
    Case("POST", "audit/checkpoint/", council_only(409)),

    # === governance ================================================================================
    # Governance objects are read by every employee like the catalog (opt-out). Deny rules do not
    # name them, but reach them through their containers: a designation through its system, dataset
    # or field, a workflow through its dataset and its states, transitions and versions through the
    # workflow. Those built over the governed dataset are hidden from opted_out (404, and a 400 when
    # a payload names them). Entities, contracts and their versions, runs and incidents have no
    # container, so opted_out reads them.

    # --- business entities: owned by a department (edit_department), like systems ----------------
    Case("GET", "business-entities/", READ),
    Case("POST", "business-entities/", lead_or_council(201),
         {"name": "Advertiser", "slug": "advertiser", "bounded_context": "Sales", "owner_department": Ref("sales")}),
    Case("GET", "business-entities/{entity}/", READ),
    Case("PUT", "business-entities/{entity}/", lead_or_council(200), CURRENT),
    # The steward curates the dataset that holds campaigns, not the business entity itself.
    Case("PATCH", "business-entities/{entity}/", lead_or_council(200), {"description": "A paid marketing push"}),
    # Deleting the entity would delete its active designation, which is history: refused (409) for
    # those who may otherwise delete it (governance.services.history).
    Case("DELETE", "business-entities/{entity}/", lead_or_council(409)),
    Case("GET", "business-entities/{entity}/history/", READ),
    # The active designation points into the governed dataset: for opted_out there is none they
    # may see, answered like an entity without a designation (404).
    Case("GET", "business-entities/{entity}/authoritative/", READ_GOVERNED),
    Case("GET", "business-entities/conflicts/", READ),

    # Attributes are changed by whoever may change their entity (edit_container).
    Case("GET", "entity-attributes/", READ),
    Case("POST", "entity-attributes/", lead_or_council(201), {"entity": Ref("entity"), "name": "channel"}),
    Case("GET", "entity-attributes/{attribute}/", READ),
    Case("PUT", "entity-attributes/{attribute}/", lead_or_council(200), CURRENT),
    Case("PATCH", "entity-attributes/{attribute}/", lead_or_council(200), {"description": "The campaign's code"}),
    # Cascades to the proposed designation of the attribute, which those allowed can see.
    Case("DELETE", "entity-attributes/{attribute}/", lead_or_council(204)),
    Case("GET", "entity-attributes/{attribute}/history/", READ),

    # --- systems of record: proposed by whoever may change the entity, decided by the council -----
    # Both designations name the governed dataset, so opted_out sees neither (the list is still 200).
    Case("GET", "systems-of-record/", READ),
    # Naming the hidden dataset is a 400 for opted_out, as for a missing id.
    Case("POST", "systems-of-record/", lead_or_council(201, opted_out=400),
         {"entity": Ref("entity"), "system": Ref("system"), "dataset": Ref("dataset"),
          "rationale": "Budgets are planned in the warehouse"}),
    Case("GET", "systems-of-record/{designation}/", READ_GOVERNED),
    Case("PUT", "systems-of-record/{designation}/", lead_or_council(200, opted_out=404), CURRENT),
    Case("PATCH", "systems-of-record/{designation}/", lead_or_council(200, opted_out=404),
         {"rationale": "Finance reconciles against the warehouse"}),
    # Withdrawing a proposal: whoever may change the entity.
    Case("DELETE", "systems-of-record/{designation}/", lead_or_council(204, opted_out=404)),
    # The active designation is the council's decision and part of the history: nobody deletes it
    # (409 for those who may otherwise change the entity); a change is a new proposal.
    Case("DELETE", "systems-of-record/{active_designation}/",
         outcome(403, opted_out=404, lead=409, council=409, superuser=409)),
    Case("GET", "systems-of-record/{designation}/history/", READ_GOVERNED),
    # Only the council decides (governance.approve_systemofrecord): the entity's own lead may
    # propose but not approve their proposal.
    Case("POST", "systems-of-record/{designation}/approve/", outcome(403, opted_out=404, council=200, superuser=200),
         {"reason": "Agreed in the council"}),
    Case("POST", "systems-of-record/{designation}/reject/", outcome(403, opted_out=404, council=200, superuser=200),
         {"reason": "The CRM is authoritative for campaign ids"}),

    # --- data-state workflows over the governed dataset -----------------------------------------
    # The workflow and states belong to Sales (edit_department): its lead changes them. The steward
    # of the dataset the workflow runs over has no right on the workflow.
    Case("GET", "state-workflows/", READ),
    Case("POST", "state-workflows/", lead_or_council(201, opted_out=400),
         {"name": "Budget revision", "slug": "budget-revision", "owner_department": Ref("sales"),
          "dataset": Ref("dataset")}),
    Case("GET", "state-workflows/{workflow}/", READ_GOVERNED),
    Case("PUT", "state-workflows/{workflow}/", lead_or_council(200, opted_out=404), CURRENT),
    Case("PATCH", "state-workflows/{workflow}/", lead_or_council(200, opted_out=404),
         {"description": "From submission to sign-off"}),
    # Deleting the workflow would delete its states' proposed version (past the draft: history).
    Case("DELETE", "state-workflows/{workflow}/", lead_or_council(409, opted_out=404)),
    Case("GET", "state-workflows/{workflow}/history/", READ_GOVERNED),

    Case("GET", "state-definitions/", READ),
    Case("POST", "state-definitions/", lead_or_council(201, opted_out=400),
         {"workflow": Ref("workflow"), "name": "Rejected", "slug": "rejected", "position": 3,
          "owner_department": Ref("sales"), "scope": "domain"}),
    Case("GET", "state-definitions/{state}/", READ_GOVERNED),
    Case("PUT", "state-definitions/{state}/", lead_or_council(200, opted_out=404), CURRENT),
    Case("PATCH", "state-definitions/{state}/", lead_or_council(200, opted_out=404), {"state_value": "approved"}),
    # The state has a proposed version (past the draft: history, as for DELETE of the version itself).
    Case("DELETE", "state-definitions/{state}/", lead_or_council(409, opted_out=404)),
    Case("GET", "state-definitions/{state}/history/", READ_GOVERNED),

    # Transitions are changed by whoever may change their workflow (edit_container).
    Case("GET", "state-transitions/", READ),
    Case("POST", "state-transitions/", lead_or_council(201, opted_out=400),
         {"workflow": Ref("workflow"), "from_state": Ref("state"), "to_state": Ref("submitted_state")}),
    Case("GET", "state-transitions/{transition}/", READ_GOVERNED),
    Case("PUT", "state-transitions/{transition}/", lead_or_council(200, opted_out=404), CURRENT),
    Case("PATCH", "state-transitions/{transition}/", lead_or_council(200, opted_out=404),
         {"description": "Signed off by the Sales lead"}),
    Case("DELETE", "state-transitions/{transition}/", lead_or_council(204, opted_out=404)),
    Case("GET", "state-transitions/{transition}/history/", READ_GOVERNED),

    # Versions: drafts written by whoever may change the state (edit_container: the definition).
    Case("GET", "state-definition-versions/", READ),
    Case("POST", "state-definition-versions/", lead_or_council(201, opted_out=400),
         {"definition": Ref("submitted_state"), "definition_text": "Entered by a Sales planner", "criteria": {}}),
    Case("GET", "state-definition-versions/{state_draft}/", READ_GOVERNED),
    Case("PUT", "state-definition-versions/{state_draft}/", lead_or_council(200, opted_out=404), CURRENT),
    Case("PATCH", "state-definition-versions/{state_draft}/", lead_or_council(200, opted_out=404),
         {"definition_text": "Signed off by the Sales lead, with an amount of at least 1"}),
    Case("DELETE", "state-definition-versions/{state_draft}/", lead_or_council(204, opted_out=404)),
    Case("GET", "state-definition-versions/{state_draft}/history/", READ_GOVERNED),
    Case("POST", "state-definition-versions/{state_draft}/propose/", lead_or_council(200, opted_out=404)),
    # A domain state of Sales: approved for Sales by its lead, or by the council
    # (governance.approve_statedefinitionversion); nobody else, not even the dataset's steward.
    Case("POST", "state-definition-versions/{state_proposed}/approve/", lead_or_council(200, opted_out=404),
         {"department": Ref("sales")}),
    Case("GET", "state-definition-versions/{state_draft}/diff/?against={state_proposed}", READ_GOVERNED),

    # --- data contracts: the producer (Sales) owns them; every party's lead signs ----------------
    Case("GET", "contracts/", READ),
    # Creating needs governance.add_datacontract, or leading the producer named in the payload.
    Case("POST", "contracts/", lead_or_council(201),
         {"name": "Campaign results feed", "slug": "campaign-results-feed", "producer": Ref("sales"),
          "consumers": [Ref("finance")]}),
    Case("GET", "contracts/{contract}/", READ),
    Case("PUT", "contracts/{contract}/", lead_or_council(200), CURRENT),
    # A consumer is a party, not an owner: only the producer's lead (and the council) edit the contract.
    Case("PATCH", "contracts/{contract}/", lead_or_council(200), {"description": "Budgets Finance books against"}),
    Case("DELETE", "contracts/{spare_contract}/", lead_or_council(204)),
    Case("GET", "contracts/{contract}/history/", READ),
    # Running the checks queries the covered datasets' live sources and may open an incident and
    # notify every subscriber: an act for whoever answers for the contract (its producer's lead, the
    # council), not for any employee, least of all opted_out, who may not even see the dataset.
    Case("POST", "contracts/{contract}/check/", lead_or_council(202)),
    Case("POST", "contracts/import-odcs/", lead_or_council(201),
         {"document": ODCS_DOCUMENT, "producer": Ref("sales"), "consumers": [Ref("finance")]}),

    # Versions: the contract has an active 1.0.0 and a proposed 1.1.0; a second contract of Sales
    # holds a draft (a contract has at most one open version), a third none yet.
    Case("GET", "contract-versions/", READ),
    Case("POST", "contract-versions/", lead_or_council(201),
         {"contract": Ref("spare_contract"), "version": "1.0.0", "terms": CONTRACT_TERMS}),
    Case("GET", "contract-versions/{contract_draft}/", READ),
    Case("PUT", "contract-versions/{contract_draft}/", lead_or_council(200), CURRENT),
    Case("PATCH", "contract-versions/{contract_draft}/", lead_or_council(200),
         {"terms": {**CONTRACT_TERMS, "support_channel": "#campaign-budgets"}}),
    Case("DELETE", "contract-versions/{contract_draft}/", lead_or_council(204)),
    Case("GET", "contract-versions/{contract_draft}/history/", READ),
    Case("POST", "contract-versions/{contract_draft}/propose/", lead_or_council(200)),
    # Signing for Sales takes a lead of Sales, or the council (or a superuser) signing on its behalf,
    # which the signature's audit record says (issue 15).
    Case("POST", "contract-versions/{contract_proposed}/sign/", lead_or_council(200),
         {"department": Ref("sales")}),
    Case("GET", "contract-versions/{contract_proposed}/odcs/?as=json", READ),
    # Verifying recomputes the hash from the stored rows: for whoever reads the version (issue 15).
    Case("GET", "contract-versions/{contract_proposed}/verify/", READ),
    Case("POST", "contract-versions/{contract_proposed}/terminate/", lead_or_council(200),
         {"reason": "Replaced by the spend feed"}),

    # --- compliance: runs and incidents are read by every employee -----------------------------
    Case("GET", "compliance-runs/", READ),
    # opted_out reads the run without the result about the governed dataset
    # (test_hidden_dataset_is_left_out_of_a_runs_results).
    Case("GET", "compliance-runs/{run}/", READ),
    Case("GET", "incidents/", READ),
    Case("GET", "incidents/{incident}/", READ),
    # The incident is assigned to the lead of Sales (the producer has no steward member); the
    # dataset's steward is neither assignee nor the producer department's steward.
    Case("POST", "incidents/{incident}/acknowledge/", lead_or_council(200)),
    Case("POST", "incidents/{incident}/resolve/", lead_or_council(200), {"note": "Amounts backfilled"}),

    # --- harvesting: settings go with the System (its lead, the council); runs, drift and
    # relationships are written by the harvest and read by every employee -------------------------
    Case("GET", "harvest-settings/", READ),
    Case("POST", "harvest-settings/", lead_or_council(201), {"system": Ref("empty_system"), "include": ["crm.*"]}),
    Case("GET", "harvest-settings/{harvest_settings}/", READ),
    Case("PUT", "harvest-settings/{harvest_settings}/", lead_or_council(200), CURRENT),
    Case("PATCH", "harvest-settings/{harvest_settings}/", lead_or_council(200), {"schedule": "0 4 * * *"}),
    Case("DELETE", "harvest-settings/{harvest_settings}/", lead_or_council(204)),
    Case("GET", "harvest-settings/{harvest_settings}/history/", READ),
    # The warehouse has no connection: those who may harvest it are told so (400), nothing runs.
    Case("POST", "systems/{system}/harvest/", lead_or_council(400)),
    Case("GET", "harvest-runs/", READ),
    Case("GET", "harvest-runs/{harvest_run}/", READ),
    Case("GET", "schema-changes/", READ),
    # A change in the governed dataset is hidden with it.
    Case("GET", "schema-changes/{schema_change}/", READ_GOVERNED),
    Case("GET", "field-relationships/", READ),
    Case("GET", "field-relationships/{field_relationship}/", READ_GOVERNED),

    # --- dbt ingestion: a project goes with its System (its lead, the council), as does ingesting
    # its artifacts; runs, nodes and tests are written by the ingestion and read by every employee --
    Case("GET", "dbt-projects/", READ),
    Case("POST", "dbt-projects/", lead_or_council(201), {"name": "jaffle_shop", "system": Ref("empty_system")}),
    Case("GET", "dbt-projects/{dbt_project}/", READ),
    Case("PUT", "dbt-projects/{dbt_project}/", lead_or_council(200), CURRENT),
    Case("PATCH", "dbt-projects/{dbt_project}/", lead_or_council(200), {"owner_meta_key": "maintainer"}),
    Case("DELETE", "dbt-projects/{dbt_project}/", lead_or_council(204)),
    Case("GET", "dbt-projects/{dbt_project}/history/", READ),
    Case("POST", "ingest/dbt/", lead_or_council(201), {"manifest": EMPTY_SHOP_MANIFEST}),
    Case("GET", "ingestion-runs/", READ),
    Case("GET", "ingestion-runs/{ingestion_run}/", READ),
    Case("GET", "dbt-nodes/", READ),
    # The node and the test of the governed dataset are hidden with it.
    Case("GET", "dbt-nodes/{dbt_node}/", READ_GOVERNED),
    # Drafting a contract is the producer's (Sales: its lead, the council); the node's model has no
    # enforced dbt contract, so they are told so (400); the governed dataset's node is hidden (404).
    Case("POST", "dbt-nodes/{dbt_node}/draft-contract/", outcome(403, opted_out=404, lead=400, council=400,
                                                                 superuser=400), {"consumers": ["finance"]}),
    Case("GET", "dbt-tests/", READ),
    Case("GET", "dbt-tests/{dbt_test}/", READ_GOVERNED),

    # --- OpenLineage: a namespace goes with its System (its lead, the council); unknown namespaces
    # are recorded by the ingestion and read by every employee ------------------------------------
    Case("GET", "lineage-namespaces/", READ),
    Case("POST", "lineage-namespaces/", lead_or_council(201),
         {"namespace": "postgres://old-crm:5432/crm", "system": Ref("empty_system")}),
    Case("GET", "lineage-namespaces/{lineage_namespace}/", READ),
    Case("PUT", "lineage-namespaces/{lineage_namespace}/", lead_or_council(200), CURRENT),
    Case("PATCH", "lineage-namespaces/{lineage_namespace}/", lead_or_council(200),
         {"namespace": "postgres://warehouse.internal:5432/shop"}),
    Case("DELETE", "lineage-namespaces/{lineage_namespace}/", lead_or_council(204)),
    Case("GET", "lineage-namespaces/{lineage_namespace}/history/", READ),
    Case("GET", "unknown-namespaces/", READ),
    Case("GET", "unknown-namespaces/{unknown_namespace}/", READ),
    # Sending OpenLineage events that write into the warehouse: whoever may change it.
    Case("POST", "lineage/openlineage/", lead_or_council(200), {
        "eventType": "COMPLETE", "eventTime": "2026-12-07T10:00:00Z", "producer": "https://example.com/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0193a7b2-6c1e-7b8a-9f00-2a3b4c5d6e7f"}, "job": {"namespace": "airflow", "name": "rollup"},
        "inputs": [{"namespace": "postgres://warehouse:5432/shop", "name": "shop.ads.spend"}],
        "outputs": [{"namespace": "postgres://warehouse:5432/shop", "name": "shop.crm.campaign_rollup"}]}),

    # --- notifications: a subscription and its deliveries are their owner's ----------------------
    # Lists show one's own (superusers: everyone's); another person's answers 404 like a missing
    # one, to the council too.
    Case("GET", "subscriptions/", READ),
    # An empty list of event types means every event.
    Case("POST", "subscriptions/", outcome(201),
         {"name": "My alerts", "url": "https://hooks.example.com/mine", "event_types": []}),
    Case("GET", "subscriptions/{subscription}/", owner_only(200)),
    Case("PUT", "subscriptions/{subscription}/", owner_only(200), CURRENT),
    Case("PATCH", "subscriptions/{subscription}/", owner_only(200), {"is_active": False}),
    Case("DELETE", "subscriptions/{subscription}/", owner_only(204)),
    Case("GET", "subscriptions/{subscription}/history/", owner_only(200)),
    Case("GET", "subscriptions/{subscription}/deliveries/", owner_only(200)),
    Case("GET", "deliveries/", READ),
    Case("GET", "deliveries/{delivery}/", owner_only(200)),
    Case("POST", "deliveries/{delivery}/redeliver/", owner_only(202)),
]

# Routes under /api/v1/ that the table leaves out on purpose (the meta-test skips them):
# the OpenAPI schema, Swagger UI and Redoc are served by drf-spectacular to anyone (they
# describe the API, not the data), and every router route also exists with a format
# suffix (``datasets.json``, ``datasets/3.json``) reaching the same view with the same
# permissions, so it adds no case of its own.
DOCS_ROUTES = {"schema", "swagger-ui", "redoc"}


def _is_format_suffix(pattern) -> bool:
    text = str(pattern.pattern)
    return "(?P<format>" in text or "drf_format_suffix" in text


class AuthorizationTable(TestCase):
    @classmethod
    def setUpTestData(cls):
        sales = factories.department(name="Sales", slug="sales")
        marketing = factories.department(name="Marketing", slug="marketing")
        analytics = factories.department(name="Marketing analytics", slug="marketing-analytics", parent=marketing)
        finance = factories.department(name="Finance", slug="finance")
        spare = factories.department(name="Procurement", slug="procurement")

        users = {
            EMPLOYEE: make_user("erin"),
            OPTED_OUT: make_user("otto"),
            EXEMPTED: make_user("emma"),
            STEWARD: make_user("stella"),
            LEAD: make_user("leo"),
            COUNCIL: make_user("carla"),
            SUPERUSER: make_user("sam", is_superuser=True, is_staff=True),
        }
        bystander = make_user("bob")
        factories.membership(users[OPTED_OUT], department=marketing)
        factories.membership(users[EXEMPTED], department=analytics)
        factories.membership(users[LEAD], department=sales, role="lead")
        bystander_membership = factories.membership(bystander, department=finance)
        council, _ = Group.objects.get_or_create(name=settings.ACCORD_COUNCIL_GROUP)
        # Every catalog and permissions model permission, and the governance ones the council holds
        # in production (add/change/delete/view and approve_*, not sign_contractversion).
        council.permissions.set([
            *Permission.objects.filter(content_type__app_label__in=["catalog", "permissions"]),
            *council_permissions().filter(content_type__app_label="governance"),
        ])
        users[COUNCIL].groups.add(council)

        system = factories.system(name="Warehouse", slug="warehouse", kind="warehouse", owner_department=sales)
        empty_system = factories.system(name="Old CRM", slug="old-crm", owner_department=sales)
        dataset = factories.dataset(system=system, qualified_name="crm.campaign_budget", name="Campaign budget",
                                    owner_department=sales, steward=users[STEWARD])
        other_dataset = factories.dataset(system=system, qualified_name="erp.ledger", name="Ledger",
                                          owner_department=finance)
        upstream = factories.dataset(system=system, qualified_name="ads.spend", name="Ad spend",
                                     owner_department=finance)
        spare_dataset = factories.dataset(system=system, qualified_name="crm.campaign_notes", name="Campaign notes",
                                          owner_department=sales, steward=users[STEWARD])
        governed_field = factories.field(dataset=dataset, name="amount", data_type="numeric(12,2)")
        other_field = factories.field(dataset=other_dataset, name="amount", data_type="numeric(12,2)")
        edge = factories.lineage(source=other_dataset, target=dataset)
        tag = factories.tag(name="finance", slug="finance")

        rule = AccessRule.objects.create(
            subject_kind="department", subject_department=marketing, target_kind="object",
            target_type=ContentType.objects.get_for_model(dataset), target_id=dataset.pk,
            reason="Budgets are negotiated with Marketing; Sales keeps them to itself",
        )
        exception = AccessRuleException.objects.create(
            rule=rule, subject_kind="department", subject_department=analytics,
            reason="Marketing analytics measures spend against budget",
        )
        governance = _build_governance(users, sales=sales, finance=finance, system=system, dataset=dataset)
        harvest = _build_harvest(system=system, dataset=dataset, governed_field=governed_field,
                                 other_field=other_field)
        ingest = _build_ingest(system=system, dataset=dataset, governed_field=governed_field)
        openlineage = _build_openlineage(system=system)
        tokens = {role: create_token(user=user, name="laptop", actor=user) for role, user in users.items()}
        cls.raw_tokens = {role: raw for role, (_token, raw) in tokens.items()}
        from governance.models import CouncilMeeting, ScorecardSnapshot

        meeting = CouncilMeeting.objects.create(held_on=datetime.date(2026, 1, 5))
        snapshot = ScorecardSnapshot.objects.create(day=datetime.date(2026, 1, 5), department=None, facts={},
                                                    computed_at=timezone.now())
        cls.ids = {
            "council_meeting": meeting.pk, "snapshot": snapshot.pk,
            "sales": sales.pk, "spare_department": spare.pk, "bystander": bystander.pk,
            "bystander_membership": bystander_membership.pk, "tag": tag.pk, "system": system.pk,
            "empty_system": empty_system.pk, "dataset": dataset.pk, "other_dataset": other_dataset.pk,
            "upstream_dataset": upstream.pk, "field": governed_field.pk, "other_field": other_field.pk,
            "edge": edge.pk, "rule": rule.pk, "exception": exception.pk,
            "employee": users[EMPLOYEE].pk, "employee_token": tokens[EMPLOYEE][0].pk,
            "finance": finance.pk, "spare_dataset": spare_dataset.pk, **governance, **harvest, **ingest, **openlineage,
            "audit_seq": AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first(),
        }
        # PUT sends an object's whole current representation back, as a superuser reads it.
        reader = APIClient()
        reader.credentials(HTTP_AUTHORIZATION=f"Bearer {cls.raw_tokens[SUPERUSER]}")
        cls.put_bodies = {}
        for case in TABLE:
            if case.body is CURRENT:
                response = reader.get("/api/v1/" + case.path.format(**cls.ids))
                assert response.status_code == 200, response.content
                cls.put_bodies[case.path] = _writable(response.json())

    # --- helpers ---------------------------------------------------------------------------------

    def client_as(self, role: str) -> APIClient:
        client = APIClient()
        if role != ANONYMOUS:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.raw_tokens[role]}")
        return client

    def url(self, path: str) -> str:
        return "/api/v1/" + path.format(**self.ids)

    def resolve_body(self, body):
        if isinstance(body, Ref):
            return self.ids[body.name]
        if isinstance(body, dict):
            return {key: self.resolve_body(value) for key, value in body.items()}
        if isinstance(body, list):
            return [self.resolve_body(item) for item in body]
        return body

    def run_case(self, case: Case, role: str) -> None:
        url = self.url(case.path)
        body = self.put_bodies[case.path] if case.body is CURRENT else self.resolve_body(case.body)
        response = self.client_as(role).generic(
            case.method, url, data=None if body is None else json.dumps(body), content_type="application/json"
        )
        expected = case.expected[role]
        content = b"" if getattr(response, "streaming", False) else response.content
        self.assertEqual(response.status_code, expected,
                         f"{case.method} {url} as {role}: {response.status_code} {content[:500]!r}")

    # --- properties of the rows that a status code alone does not show -----------------------------

    def test_hidden_dataset_answers_like_a_missing_one(self):
        client = self.client_as(OPTED_OUT)
        missing = max(self.ids["dataset"], self.ids["other_dataset"], self.ids["upstream_dataset"]) + 1000
        for suffix in ("", "fields/", "lineage/", "history/"):
            with self.subTest(suffix=suffix):
                hidden = client.get(f"/api/v1/datasets/{self.ids['dataset']}/{suffix}")
                absent = client.get(f"/api/v1/datasets/{missing}/{suffix}")
                self.assertEqual((hidden.status_code, hidden.json()), (absent.status_code, absent.json()))
                self.assertEqual(hidden.status_code, 404)

    def test_hidden_dataset_is_absent_from_the_list_and_present_for_the_exempted(self):
        for role, present in ((OPTED_OUT, False), (EXEMPTED, True), (EMPLOYEE, True)):
            with self.subTest(role=role):
                response = self.client_as(role).get("/api/v1/datasets/", {"page_size": 1000})
                ids = [row["id"] for row in response.json()["results"]]
                self.assertEqual(self.ids["dataset"] in ids, present, ids)
                self.assertIn(self.ids["other_dataset"], ids)

    def test_refused_write_changes_nothing(self):
        before = self.client_as(SUPERUSER).get(self.url("datasets/{dataset}/")).json()
        for role in (EMPLOYEE, OPTED_OUT, EXEMPTED):
            response = self.client_as(role).patch(self.url("datasets/{dataset}/"), {"description": "defaced"},
                                                  format="json")
            self.assertIn(response.status_code, (403, 404))
        self.assertEqual(self.client_as(SUPERUSER).get(self.url("datasets/{dataset}/")).json(), before)

    def test_hidden_dataset_is_left_out_of_a_runs_results(self):
        for role, present in ((OPTED_OUT, False), (EXEMPTED, True), (EMPLOYEE, True)):
            with self.subTest(role=role):
                results = self.client_as(role).get(self.url("compliance-runs/{run}/")).json()["results"]
                datasets = [result["dataset"] for result in results]
                self.assertEqual(self.ids["dataset"] in datasets, present, results)
                self.assertIn(None, datasets)  # the result about no dataset stays

    # Entities and contracts list only the datasets the caller may see.
    def test_hidden_dataset_is_left_out_of_entities_and_contracts(self):
        wrong = []
        for path in ("business-entities/{entity}/", "contracts/{contract}/"):
            for role, present in ((OPTED_OUT, False), (EXEMPTED, True)):
                datasets = [item["id"] for item in self.client_as(role).get(self.url(path)).json()["datasets"]]
                if (self.ids["dataset"] in datasets) != present:
                    wrong.append((path, role, datasets))
        self.assertEqual(wrong, [])

    # The conflicts report never names a designation the caller may not see.
    def test_conflicts_do_not_reveal_a_hidden_designation(self):
        ads = factories.system(name="Ads platform", slug="ads-platform", owner_department_id=self.ids["sales"])
        copy = factories.dataset(system=ads, qualified_name="ads.campaigns", name="Campaigns")
        BusinessEntity.objects.get(pk=self.ids["entity"]).datasets.add(copy)
        seen = {role: self.client_as(role).get(self.url("business-entities/conflicts/")).json()["conflicts"]
                for role in (EMPLOYEE, OPTED_OUT)}
        self.assertEqual([c["dataset"] for c in seen[EMPLOYEE]], [copy.pk])  # the copy outside Warehouse
        self.assertEqual(seen[OPTED_OUT], [])

    def test_every_row_gives_every_role(self):
        for case in TABLE:
            self.assertEqual(set(case.expected), set(ROLES), case)
            self.assertLessEqual(set(case.bugs), set(ROLES), case)

    def test_every_api_route_and_method_is_in_the_table(self):
        routed = _api_routes()
        covered = {(resolve(self.url(case.path).split("?")[0]).url_name, case.method) for case in TABLE}
        missing = sorted(routed - covered)
        stale = sorted(covered - routed)
        self.assertFalse(missing, f"endpoints with no row in TABLE (say who may call them): {missing}")
        self.assertFalse(stale, f"rows in TABLE for no routed endpoint/method: {stale}")


def _build_governance(users, *, sales, finance, system, dataset) -> dict[str, int]:
    """The governance objects the rows name, built through the services where they exist (ids by name).

    * the business entity Campaign (owned by Sales, its records in the governed dataset) with the
      attribute campaign_id, an active entity-level designation and a proposed one for the attribute,
      both naming the governed dataset;
    * the workflow "Budget approval" of Sales over the governed dataset: states Submitted → Approved,
      Approved (a domain state) with a proposed version 1 and a draft version 2;
    * contracts produced by Sales for Finance: "Campaign budget feed" (covering the governed dataset;
      1.0.0 active, 1.1.0 proposed), "Campaign spend feed" (1.0.0 draft) and "Campaign plan feed"
      (no version yet);
    * a completed, failing run of 1.0.0 with one result about the governed dataset and one about no
      dataset, and the incident it opened (assigned like the checks assign it: to Sales's lead);
    * the employee's subscription with a delivery that failed.
    """
    lead, superuser = users[LEAD], users[SUPERUSER]
    entity = factories.entity(name="Campaign", slug="campaign", bounded_context="Sales", owner_department=sales)
    entity.datasets.set([dataset])
    attribute = EntityAttribute.objects.create(entity=entity, name="campaign_id", is_identifier=True)
    active_designation = SystemOfRecord.objects.create(entity=entity, system=system, dataset=dataset, status="active",
                                  rationale="Budgets are planned in the warehouse", proposed_by=lead,
                                  decided_by=users[COUNCIL], decided_at=timezone.now())
    designation = entity_services.propose_system_of_record(
        entity=entity, attribute=attribute, system=system, dataset=dataset,
        rationale="Campaign ids are issued with the budget", actor=lead)

    workflow = factories.workflow(name="Budget approval", slug="budget-approval", owner_department=sales,
                                  dataset=dataset)
    submitted = factories.state(workflow=workflow, name="Submitted", slug="submitted", position=1)
    approved = factories.state(workflow=workflow, name="Approved", slug="approved", position=2, scope="domain")
    transition = StateTransition.objects.create(workflow=workflow, from_state=submitted, to_state=approved)
    state_proposed = state_services.create_draft(definition=approved, definition_text="Signed off by the Sales lead",
                                                 criteria={"field": "amount", "op": "gte", "value": 0}, actor=lead)
    state_services.propose(state_proposed, actor=lead)
    state_draft = state_services.create_draft(
        definition=approved, definition_text="Signed off by the Sales lead, with a positive amount",
        criteria={"field": "amount", "op": "gt", "value": 0}, actor=lead)

    contract = factories.contract(name="Campaign budget feed", slug="campaign-budget-feed", producer=sales,
                                  consumers=[finance], datasets=[dataset])
    active = contract_services.create_version(contract=contract, version="1.0.0", terms=CONTRACT_TERMS, actor=lead)
    contract_services.propose(active, actor=lead)
    contract_services.sign(active, department=sales, actor=lead)
    contract_services.sign(active, department=finance, actor=superuser)
    contract_proposed = contract_services.create_version(contract=contract, version="1.1.0",
                                                         terms=CONTRACT_TERMS_1_1, actor=lead)
    contract_services.propose(contract_proposed, actor=lead)
    draft_contract = factories.contract(name="Campaign spend feed", slug="campaign-spend-feed", producer=sales,
                                        consumers=[finance])
    contract_draft = contract_services.create_version(contract=draft_contract, version="1.0.0",
                                                      terms=CONTRACT_TERMS, actor=lead)
    spare_contract = factories.contract(name="Campaign plan feed", slug="campaign-plan-feed", producer=sales,
                                        consumers=[finance])

    finished = timezone.now() - datetime.timedelta(hours=1)
    run = ComplianceRun.objects.create(
        contract_version=active, scheduled_for=finished - datetime.timedelta(minutes=1), trigger="scheduled",
        status="completed", outcome="fail", started_at=finished - datetime.timedelta(seconds=30),
        finished_at=finished, attempts=1, summary={"pass": 1, "fail": 1, "error": 0})
    CheckResult.objects.create(run=run, key="metadata:signatures", kind="metadata", rule="signed", status="pass",
                               message="Every party signed this content.")
    CheckResult.objects.create(run=run, key="data:campaign_budget:amount:not_null:0", kind="data", rule="not_null",
                               dataset=dataset, field="amount", status="fail", violations=3, threshold="= 0",
                               message="3 rows have no amount.")
    DataContract.objects.filter(pk=contract.pk).update(compliance_status="failing", last_checked_at=run.scheduled_for)
    incident = compliance.open_incident(contract, run, actor=Actor(system="tests"))
    assert incident.assignee_id == lead.pk, incident.assignee

    subscription = NotificationSubscription.objects.create(
        name="Budget alerts", owner=users[EMPLOYEE], url="https://hooks.example.com/accord",
        event_types=["incident.opened"])
    delivery = Delivery.objects.create(
        subscription=subscription, event_id="evt_" + "0" * 32, event_type="incident.opened", status="failed",
        attempts=12, last_status_code=502, last_error="HTTP 502",
        payload={"type": "incident.opened", "id": "evt_" + "0" * 32, "timestamp": finished.isoformat(),
                 "data": {"contract": {"id": contract.pk, "slug": contract.slug}, "incident": {"id": incident.pk}}})
    return {
        "entity": entity.pk, "attribute": attribute.pk, "designation": designation.pk,
        "active_designation": active_designation.pk, "workflow": workflow.pk,
        "submitted_state": submitted.pk, "state": approved.pk, "transition": transition.pk,
        "state_proposed": state_proposed.pk, "state_draft": state_draft.pk, "contract": contract.pk,
        "contract_proposed": contract_proposed.pk, "contract_draft": contract_draft.pk,
        "spare_contract": spare_contract.pk, "run": run.pk, "incident": incident.pk,
        "subscription": subscription.pk, "delivery": delivery.pk,
    }


def _writable(representation: dict) -> dict:
    """A read representation as a write body: related objects by id, read-only stamps left out."""
    body = {}
    for key, value in representation.items():
        if key in ("id", "created_at", "updated_at"):
            continue
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        elif isinstance(value, list) and value and isinstance(value[0], dict) and "id" in value[0]:
            value = [item["id"] for item in value]
        body[key] = value
    return body


def _api_routes() -> set[tuple[str, str]]:
    """(url name, method) for every route under /api/v1/ and the methods its view allows."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            full = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, full)
                continue
            assert isinstance(entry, URLPattern)
            if not full.startswith("api/v1/") or entry.name in DOCS_ROUTES or _is_format_suffix(entry):
                continue
            view = getattr(entry.callback, "cls", None) or entry.callback.view_class
            actions = getattr(entry.callback, "actions", None)
            if actions:  # a router route: its method → action map
                methods = set(actions)
            else:  # an APIView: the handlers it defines
                methods = {method for method in view.http_method_names if hasattr(view, method)}
            # HEAD answers like GET (DRF even adds it to a route's actions once it has served
            # a GET) and OPTIONS describes the endpoint; neither needs a row of its own.
            found.update((entry.name, method.upper()) for method in methods - {"head", "options"})

    walk(get_resolver().url_patterns, "")
    return found


def _case_test(case: Case, role: str):
    def test(self):
        missing = case.needs() if case.needs is not None and case.expected[role] < 300 else None
        if missing:
            self.skipTest(missing)
        self.run_case(case, role)

    test.__doc__ = f"{case.method} /api/v1/{case.path} as {role} → {case.expected[role]}"
    if role in case.bugs:
        test = unittest.expectedFailure(test)
    return test


for _case in TABLE:
    for _role in ROLES:
        _name = f"test_{_case.slug}_as_{_role}"
        assert not hasattr(AuthorizationTable, _name), f"two rows make {_name}"
        setattr(AuthorizationTable, _name, _case_test(_case, _role))
