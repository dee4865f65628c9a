"""Governance pages read as sentences (issue 15): terms, run and incident summaries as tables and lists,
a contract's overview without "None", a business entity's systems of record and conflicts, designations
named by their system, and state criteria edited rule by rule.

The world is tests/governance/leak_world.py: ``viewer`` is a staff contractor opted out of a dataset, a field
and a system; ``viewer_colleague`` sees everything. tests/governance/test_leaks_admin.py compares the same
pages with the world without the hidden objects; these tests say what each reader reads.
"""

from __future__ import annotations

import json
import re

from django.test import Client

from catalog.models import Dataset
from governance.models import ContractVersion, StateDefinitionVersion, SystemOfRecord
from tests import factories
from tests.governance.leak_world import GovernanceLeakWorld
from tests.governance.test_leaks_admin import content, view_perms
from tests.mixins import make_user


class GovernancePagesReadAsSentences(GovernanceLeakWorld):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.viewer = make_user("viewer-contractor", is_staff=True, perms=view_perms())
        cls.viewer_colleague = make_user("viewer-colleague", is_staff=True, perms=view_perms())
        factories.membership(cls.viewer, department=cls.contractors)
        factories.membership(cls.viewer_colleague, department=cls.sales)

    def admin_as(self, user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def page(self, user, url, whole=False) -> str:
        response = self.admin_as(user).get(url)
        self.assertEqual(response.status_code, 200, url)
        return response.content.decode() if whole else content(response)

    def test_contract_version_terms_are_tables(self):
        ContractVersion._base_manager.filter(pk=self.version.pk).update(terms={
            **self.version.terms, "sla": {"freshness_hours": 24, "availability_percent": 99.5},
            "schedule": "0 6 * * *", "support_channel": "#accounts-feed", "notice_period_days": 30})
        url = f"/admin/governance/contractversion/{self.version.pk}/change/"
        whole = self.page(self.viewer_colleague, url)
        self.assertIn('<caption>targets (deals.acquisition_targets)</caption>', whole)
        self.assertIn("<tr><td><code>tax_id</code></td><td>varchar(20)</td><td>no</td>", whole)
        self.assertIn("<td>targets</td><td><code>company_name</code></td><td>not_null</td>", whole)
        for line in ("Data at most 24 hours old.", "Available 99.5% of the time.",
                     "Checked on the schedule “0 6 * * *” (cron, UTC).", "Support: #accounts-feed.",
                     "Breaking changes announced 30 days ahead."):
            self.assertIn(f"<li>{line}</li>", whole)
        self.assertNotIn("&quot;schema&quot;", whole)
        part = self.page(self.viewer, url)
        self.assertIn("1 field you cannot see", part)
        self.assertNotIn("tax_id", part)

    def test_contract_overview_says_what_is_not_set(self):
        ContractVersion._base_manager.filter(pk=self.version.pk).update(
            terms={**self.version.terms, "notice_period_days": None})
        page = self.page(self.viewer_colleague, f"/admin/governance/datacontract/{self.contract.pk}/change/")
        self.assertIn("Terms: 2 schema objects with 3 fields, 3 quality rules.", page)
        self.assertIn("<li>No service levels.</li>", page)
        self.assertIn("(never checked)", page)
        self.assertNotIn("None", page)
        self.assertIn("Terms: 1 schema object with 1 field, 1 quality rule.",
                      self.page(self.viewer, f"/admin/governance/datacontract/{self.contract.pk}/change/"))

    def test_run_and_incident_summaries_are_lists(self):
        run = self.page(self.viewer_colleague, f"/admin/governance/compliancerun/{self.compliance_run.pk}/change/")
        self.assertIn("<li>2 passed</li><li>3 failed</li><li>0 could not be checked</li>", run.replace("\n", ""))
        incident = self.page(self.viewer_colleague, f"/admin/governance/incident/{self.incident.pk}/change/")
        for key in ("metadata:accounts:fields_owned", "data:accounts:tax_id:not_null:1",
                    "data:targets:company_name:not_null:2"):
            self.assertIn(f"<li><code>{key}</code></li>", incident)
        listed = self.page(self.viewer_colleague, "/admin/governance/compliancerun/")
        self.assertIn("2 passed, 3 failed, 0 could not be checked", listed)

    def test_entity_page_lists_systems_of_record_per_attribute_and_conflicts(self):
        crm = factories.system(name="Salesforce", slug="salesforce", kind="crm", owner_department=self.sales)
        copy = Dataset.objects.create(system=crm, qualified_name="sf.account", name="SF accounts",
                                      owner_department=self.sales)
        self.entity.datasets.add(copy)
        url = f"/admin/governance/businessentity/{self.entity.pk}/change/"
        for reader in (self.viewer, self.viewer_colleague):
            page = self.page(reader, url)
            self.assertIn("Account as a whole", page)
            self.assertIn("crm.accounts", page)
            self.assertIn("holds Account records but Warehouse is authoritative.", page)
        whole = self.page(self.viewer_colleague, url)
        self.assertIn("<td>attribute pay grade</td>", whole)
        self.assertIn("<td>salary_band</td>", whole)
        self.assertIn("1 system of record you cannot see", self.page(self.viewer, url))

    def test_a_superseded_designation_names_its_successor_by_system(self):
        newer = SystemOfRecord.objects.create(entity=self.entity, system=self.warehouse, dataset=self.accounts,
                                              status="proposed", rationale="Renamed")
        SystemOfRecord._base_manager.filter(pk=self.designation.pk).update(status="superseded", superseded_by=newer)
        page = self.page(self.viewer, f"/admin/governance/systemofrecord/{self.designation.pk}/change/", whole=True)
        self.assertIn("Account: Warehouse (proposed)</a>", page)
        self.assertIn("Account: Warehouse (superseded)", page)
        self.assertNotIn("system #", page)
        history = self.page(self.viewer, f"/admin/governance/systemofrecord/{self.designation.pk}/history/",
                            whole=True)
        self.assertIn("<h1>Change history: Account: Warehouse (superseded)</h1>", history)

    # --- state criteria, rule by rule ----------------------------------------------------------------

    def draft_form(self, client, url) -> dict:
        page = client.get(url)
        self.assertEqual(page.status_code, 200)
        form = page.context["adminform"].form
        data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
        return data

    def test_criteria_are_edited_rule_by_rule_with_errors_next_to_the_rule(self):
        draft = StateDefinitionVersion.objects.create(
            definition=self.state, number=2, status="draft", definition_text="A verified account.",
            criteria={"all": [{"field": "account_id", "op": "is_not_null"}]})
        url = f"/admin/governance/statedefinitionversion/{draft.pk}/change/"
        client = self.admin_as(self.staff_opted_out)
        page = content(client.get(url))
        self.assertIn('id="criteria-rule-table"', page)
        self.assertIn('<option value="account_id" selected>account_id (bigint)</option>', page)
        self.assertNotIn("tax_id", page)  # the picker offers only the fields the editor may see
        self.assertNotIn('name="criteria"', page)
        data = self.draft_form(client, url)
        data.update({"rule-1-field": "account_id", "rule-1-op": "matches", "rule-1-value": "^A[0-9]+$"})
        refused = client.post(url, data)
        self.assertEqual(refused.status_code, 200)
        shown = content(refused)
        row_errors = re.search(r'<tr class="criteria-rule-errors" id="rule-1-errors">(.*?)</tr>', shown, re.S)
        self.assertIsNotNone(row_errors, "the error is shown next to rule 2")
        self.assertIn("matches", row_errors[1])
        self.assertIn('value="^A[0-9]+$"', shown)  # what was typed is kept
        self.assertEqual(StateDefinitionVersion.objects.get(pk=draft.pk).criteria, draft.criteria)
        data.update({"rule-1-op": "gt", "rule-1-value": "10"})
        saved = client.post(url, data)
        self.assertEqual(saved.status_code, 302, saved.context and saved.context["errors"])
        self.assertEqual(StateDefinitionVersion.objects.get(pk=draft.pk).criteria, {"all": [
            {"field": "account_id", "op": "is_not_null"}, {"field": "account_id", "op": "gt", "value": 10}]})

    def test_a_hidden_field_typed_in_is_refused_without_being_confirmed(self):
        draft = StateDefinitionVersion.objects.create(
            definition=self.state, number=2, status="draft", definition_text="A verified account.", criteria={})
        url = f"/admin/governance/statedefinitionversion/{draft.pk}/change/"
        client = self.admin_as(self.staff_opted_out)
        data = {**self.draft_form(client, url), "edit_as_json": "on",
                "criteria_json": json.dumps({"all": [{"field": "tax_id", "op": "is_null"}]})}
        refused = client.post(url, data)
        self.assertEqual(refused.status_code, 200)
        self.assertIn("tax_id", content(refused))  # only as typed: the error lists no field it may not see
        self.assertEqual(StateDefinitionVersion.objects.get(pk=draft.pk).criteria, {})
        data["criteria_json"] = json.dumps({"any": [{"field": "account_id", "op": "in", "value": [1, 2]}]})
        self.assertEqual(client.post(url, data).status_code, 302)
        self.assertEqual(StateDefinitionVersion.objects.get(pk=draft.pk).criteria,
                         {"any": [{"field": "account_id", "op": "in", "value": [1, 2]}]})
