"""Redaction costs a fixed number of queries: a reader opted out of part of what governance objects
refer to reads each governance list with as many queries for many rows as for one."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import (
    CheckResult,
    ComplianceRun,
    ContractVersion,
    Incident,
    StateDefinitionVersion,
    SystemOfRecord,
)
from tests import factories
from tests.governance.leak_world import CRITERIA, TERMS, GovernanceLeakWorld

API = "/api/v1/"
LISTS = ("business-entities/", "systems-of-record/", "state-workflows/", "state-definitions/",
         "state-definition-versions/", "contracts/", "contract-versions/", "compliance-runs/", "incidents/")


class OptedOutReaderQueryCountTests(GovernanceLeakWorld):
    def counts(self) -> dict[str, int]:
        client = self.client_for(self.opted_out)
        found = {}
        for resource in LISTS:
            client.get(API + resource)  # warm the per-process rule caches
            with CaptureQueriesContext(connection) as queries:
                response = client.get(API + resource, {"page_size": 100})
            self.assertEqual(response.status_code, 200, (resource, response.content))
            found[resource] = (len(queries), len(response.json()["results"]))
        return found

    def more_of_everything(self, copies: int = 4) -> None:
        for index in range(copies):
            entity = factories.entity(owner_department=self.sales)
            entity.datasets.set([self.accounts, self.targets])
            SystemOfRecord.objects.create(entity=entity, system=self.warehouse, dataset=self.accounts,
                                          status="active", rationale="CRM")
            attribute = entity.attributes.create(name="pay grade")
            SystemOfRecord.objects.create(entity=entity, attribute=attribute, system=self.workday,
                                          dataset=self.salaries, field=self.salary_band, status="active",
                                          rationale="HR")
            workflow = factories.workflow(dataset=self.accounts, state_field=self.tax_id, owner_department=self.sales)
            state = factories.state(workflow=workflow)
            StateDefinitionVersion.objects.create(definition=state, number=1, status="approved",
                                                  definition_text="More.", criteria=CRITERIA)
            contract = factories.contract(producer=self.sales, datasets=[self.accounts, self.targets])
            version = ContractVersion.objects.create(contract=contract, version="1.0.0", status="active", terms=TERMS)
            version.state_definitions.set([state])
            run = ComplianceRun.objects.create(
                contract_version=version, trigger="manual", status="completed", outcome="fail",
                scheduled_for=datetime.datetime(2026, 2, 1 + index, tzinfo=datetime.UTC),
                summary={"pass": 1, "fail": 2, "error": 0})
            for key, dataset, name in (("metadata:accounts:fields_owned", self.accounts, ""),
                                       ("data:accounts:tax_id:not_null:1", self.accounts, "tax_id"),
                                       ("data:targets:company_name:not_null:2", self.targets, "company_name")):
                CheckResult.objects.create(run=run, key=key, kind="data", rule="not_null", dataset=dataset,
                                           field=name, status="fail", message=f"{name or 'tax_id'} failed.")
            Incident.objects.create(contract=contract, opened_by_run=run, title="Failing",
                                    summary={"failing_rules": ["data:accounts:tax_id:not_null:1"],
                                             "counts": {"pass": 1, "fail": 2, "error": 0}})

    def test_many_rows_cost_the_queries_of_one(self):
        few = self.counts()
        self.more_of_everything()
        many = self.counts()
        for resource in LISTS:
            with self.subTest(resource=resource):
                self.assertGreater(many[resource][1], few[resource][1], "the second page should list more rows")
                self.assertEqual(many[resource][0], few[resource][0], (few[resource], many[resource]))
