"""The governance admin shows nothing a reader may not see (tests/governance/leak_world.py).

Each page is rendered for a staff contractor (opted out of a dataset, a field and a system)
and compared with the same page rendered for a staff colleague in the world where the hidden
objects were never registered: once the placeholders for hidden objects are taken out, the two
must be the same; and no hidden name appears. Saving a form as someone who cannot see some of
its related objects keeps them. Staff with only view permissions (every council role) read
every governance page without a server error.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import Group, Permission
from django.test import Client

from catalog.models import Dataset
from governance.models import (
    BusinessEntity,
    CheckResult,
    ComplianceRun,
    ContractVersion,
    DataContract,
    EntityAttribute,
    Incident,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
)
from permissions.models import AccessRule, AccessRuleException
from tests.governance.leak_world import GovernanceLeakWorld
from tests.mixins import make_user

CONTENT = re.compile(r'<div id="content-main">(.*?)<footer|<div id="content-main">(.*)', re.S)
CSRF = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')
# Placeholders: {"hidden": n} in JSON (escaped in HTML), "n fields you cannot see" in text.
JSON_PLACEHOLDER = re.compile(r'(, )?\{&quot;hidden&quot;: \d+\}(, )?|, &quot;hidden&quot;: \d+')
# Rows and items standing for what the reader cannot see (tables and lists of governance.admin's includes).
HIDDEN_ELEMENT = re.compile(r'<(tr|li|p) class="accord-hidden">.*?</\1>', re.S)
TEXT_PLACEHOLDER = re.compile(r'<div>\d+ \w+ you cannot see</div>|(,| and| or|;)? ?\d+ \w+ you cannot see')


def view_perms() -> tuple[str, ...]:
    return tuple(f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.filter(
        content_type__app_label__in=("governance", "catalog"), codename__startswith="view_")
        .select_related("content_type")) + ("permissions.view_accessrule", "permissions.view_accessruleexception")


def content(response) -> str:
    match = CONTENT.search(response.content.decode())
    return CSRF.sub("", match[1] or match[2]) if match else response.content.decode()


def squeezed(html: str) -> str:
    return re.sub(r"\s+", " ", html).replace("> <", "><").strip()


def without_placeholders(html: str) -> str:
    def json_part(match):
        return ", " if match[1] and match[2] else ""
    return TEXT_PLACEHOLDER.sub("", JSON_PLACEHOLDER.sub(json_part, HIDDEN_ELEMENT.sub("", html)))


class GovernanceAdminLeakTests(GovernanceLeakWorld):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.viewer = make_user("viewer-contractor", is_staff=True, perms=view_perms())
        cls.viewer_colleague = make_user("viewer-colleague", is_staff=True, perms=view_perms())
        from tests import factories

        factories.membership(cls.viewer, department=cls.contractors)
        factories.membership(cls.viewer_colleague, department=cls.sales)

    def admin_as(self, user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def assert_page_as_in_a_world_without(self, url: str, reader=None, colleague=None) -> str:
        reader, colleague = reader or self.viewer, colleague or self.viewer_colleague
        seen = self.admin_as(reader).get(url)
        self.assertEqual(seen.status_code, 200, url)
        self.assertMentionsNone(content(seen))
        with self.world_without_hidden_objects():
            expected = content(self.admin_as(colleague).get(url))
        self.assertEqual(squeezed(without_placeholders(content(seen))), squeezed(expected))
        return content(seen)

    def test_change_pages_read_as_in_a_world_without_the_hidden_objects(self):
        pages = {
            "business entity": f"/admin/governance/businessentity/{self.entity.pk}/change/",
            "contract": f"/admin/governance/datacontract/{self.contract.pk}/change/",
            "contract version": f"/admin/governance/contractversion/{self.version.pk}/change/",
            "compliance run": f"/admin/governance/compliancerun/{self.compliance_run.pk}/change/",
            "incident": f"/admin/governance/incident/{self.incident.pk}/change/",
            "state version": f"/admin/governance/statedefinitionversion/{self.state_version.pk}/change/",
            "workflow": f"/admin/governance/stateworkflow/{self.workflow.pk}/change/",
        }
        for name, url in pages.items():
            with self.subTest(page=name):
                self.assert_page_as_in_a_world_without(url)

    def test_change_lists_read_as_in_a_world_without_the_hidden_objects(self):
        for model in ("businessentity", "stateworkflow", "compliancerun", "contractversion", "datacontract",
                      "incident", "statedefinitionversion"):
            with self.subTest(model=model):
                self.assert_page_as_in_a_world_without(f"/admin/governance/{model}/")

    def test_contract_version_page_shows_only_visible_terms(self):
        page = self.assert_page_as_in_a_world_without(
            f"/admin/governance/contractversion/{self.version.pk}/change/")
        self.assertIn("<code>account_id</code>", page)  # terms read as tables, not JSON
        self.assertNotIn("&quot;schema&quot;", page)
        self.assertIn('<tr class="accord-hidden"><td colspan="6">1 field you cannot see</td></tr>', page)
        self.assertIn('<p class="accord-hidden">1 schema object you cannot see</p>', page)
        self.assertIn('<tr class="accord-hidden"><td colspan="6">2 quality rules you cannot see</td></tr>', page)

    def test_run_and_incident_count_only_visible_results(self):
        page = self.assert_page_as_in_a_world_without("/admin/governance/compliancerun/")
        self.assertIn("2 passed, 1 failed, 0 could not be checked, 2 results you cannot see", page)
        run = self.assert_page_as_in_a_world_without(
            f"/admin/governance/compliancerun/{self.compliance_run.pk}/change/")
        self.assertIn("<li>1 failed</li>", run)
        self.assertIn('<li class="accord-hidden">2 results you cannot see</li>', run)
        incident = self.assert_page_as_in_a_world_without(f"/admin/governance/incident/{self.incident.pk}/change/")
        self.assertIn("<li>1 failed</li>", incident)
        self.assertIn("<li><code>metadata:accounts:fields_owned</code></li>", incident)
        self.assertIn('<li class="accord-hidden">2 failing rules you cannot see</li>', incident)
        self.assertNotIn("&quot;fail&quot;", incident + run)
        self.assertNotIn("&quot;failing_rules&quot;", incident)

    def test_entity_page_counts_the_systems_of_record_it_cannot_see(self):
        page = self.assert_page_as_in_a_world_without(f"/admin/governance/businessentity/{self.entity.pk}/change/")
        self.assertIn("Account as a whole", page)
        self.assertIn(">Warehouse</a>", page)
        self.assertIn('<tr class="accord-hidden"><td colspan="5">1 system of record you cannot see</td></tr>', page)
        colleague = content(self.admin_as(self.viewer_colleague).get(
            f"/admin/governance/businessentity/{self.entity.pk}/change/"))
        self.assertIn("attribute pay grade", colleague)
        self.assertIn(">Workday</a>", colleague)

    def test_designation_pages_name_the_system_only_for_who_sees_it(self):
        for designation, reader, expected in (
                (self.designation, self.viewer, "Account: Warehouse (active)"),
                (self.hidden_designation, self.viewer_colleague, "Account.pay grade: Workday (active)")):
            page = self.admin_as(reader).get(f"/admin/governance/systemofrecord/{designation.pk}/change/")
            self.assertEqual(page.status_code, 200)
            self.assertContains(page, expected)
            self.assertNotContains(page, "system #")

    def test_diff_page_compares_what_the_reader_sees(self):
        StateDefinitionVersion.objects.create(definition=self.state, number=2, status="draft",
                                              definition_text="A verified account.",
                                              criteria={"all": [{"field": "account_id", "op": "is_not_null"},
                                                                {"field": "tax_id", "op": "is_null"}]})
        url = f"/admin/governance/statedefinitionversion/{self.state_version.pk + 1}/diff/"
        seen = self.admin_as(self.viewer).get(url)
        self.assertEqual(seen.status_code, 200)
        self.assertMentionsNone(content(seen))
        self.assertIn("(unchanged)", content(seen))  # only the hidden condition changed
        self.assertIn("tax_id", self.admin_as(self.viewer_colleague).get(url).content.decode())

    def test_history_pages_name_no_hidden_object(self):
        # Records written by the world's own changes (datasets set, criteria, terms, state field).
        for model, obj in (("businessentity", self.entity), ("datacontract", self.contract),
                           ("contractversion", self.version), ("stateworkflow", self.workflow),
                           ("statedefinitionversion", self.state_version)):
            url = f"/admin/governance/{model}/{obj.pk}/history/"
            with self.subTest(model=model):
                seen = self.admin_as(self.viewer).get(url)
                self.assertEqual(seen.status_code, 200)
                self.assertMentionsNone(content(seen))

    def test_access_rule_labels_name_no_hidden_object(self):
        rules = list(AccessRule.objects.filter(subject_department=self.contractors))
        exception = AccessRuleException.objects.create(rule=rules[0], subject_kind="user",
                                                       subject_user=self.colleague, reason="Audit")
        pages = ["/admin/permissions/accessrule/", "/admin/permissions/accessruleexception/",
                 f"/admin/permissions/accessruleexception/{exception.pk}/change/",
                 *(f"/admin/permissions/accessrule/{rule.pk}/change/" for rule in rules)]
        for url in pages:
            with self.subTest(url=url):
                seen = self.admin_as(self.viewer).get(url)
                self.assertEqual(seen.status_code, 200)
                self.assertMentionsNone(seen.content.decode())
        for rule in rules:
            page = self.admin_as(self.viewer).get(f"/admin/permissions/accessrule/{rule.pk}/change/")
            self.assertNotContains(page, 'name="target_id"')
            self.assertNotIn(f">{rule.target_id}<", content(page))
        listed = self.admin_as(self.viewer).get("/admin/permissions/accessrule/")
        self.assertContains(listed, "1 dataset you cannot see")
        self.assertContains(self.admin_as(self.viewer_colleague).get("/admin/permissions/accessrule/"),
                            "acquisition_targets")
        auto = self.admin_as(self.viewer).get("/admin/autocomplete/", {
            "app_label": "permissions", "model_name": "accessruleexception", "field_name": "rule", "term": ""})
        self.assertEqual(auto.status_code, 200, auto.content)
        self.assertMentionsNone(auto.content.decode())

    # --- saving keeps what the user cannot see -------------------------------------------------

    def post_form(self, client, url, changes):
        page = client.get(url)
        self.assertEqual(page.status_code, 200)
        data = {}
        adminform = page.context["adminform"].form
        for name in adminform.fields:
            value = adminform[name].value()
            if value is None:
                continue
            data[name] = [str(v) for v in value] if isinstance(value, (list, tuple)) else value
        for formset in page.context["inline_admin_formsets"]:
            management = formset.formset.management_form
            for name in management.fields:
                data[f"{management.prefix}-{name}"] = management[name].value()
            for form in formset.formset.forms:
                for name in form.fields:
                    value = form[name].value()
                    if value is not None and value is not False:
                        data[f"{form.prefix}-{name}"] = value
        data.update(changes)
        response = client.post(url, data)
        self.assertEqual(response.status_code, 302, getattr(response, "context", None)
                         and response.context.get("errors"))

    def test_saving_an_entity_or_contract_keeps_the_datasets_the_user_cannot_see(self):
        client = self.admin_as(self.staff_opted_out)
        self.post_form(client, f"/admin/governance/businessentity/{self.entity.pk}/change/",
                       {"description": "edited", "datasets": [str(self.accounts.pk)]})
        self.assertEqual(set(BusinessEntity.objects.get(pk=self.entity.pk).datasets.values_list("pk", flat=True)),
                         {self.accounts.pk, self.targets.pk})
        self.post_form(client, f"/admin/governance/datacontract/{self.contract.pk}/change/",
                       {"description": "edited", "datasets": [str(self.accounts.pk)]})
        contract = DataContract.objects.get(pk=self.contract.pk)
        self.assertEqual(contract.description, "edited")
        self.assertEqual(set(contract.datasets.values_list("pk", flat=True)), {self.accounts.pk, self.targets.pk})
        # Removing a visible dataset is a change of what the active version's parties signed: refused next to
        # the field (a new contract version changes it, tests/governance/test_agreements.py), hidden ones kept.
        extra = Dataset.objects.create(system=self.warehouse, qualified_name="crm.extra", name="Extra")
        contract.datasets.add(extra)
        with self.assertRaises(AssertionError) as refused:
            self.post_form(client, f"/admin/governance/datacontract/{self.contract.pk}/change/",
                           {"datasets": [str(self.accounts.pk)]})
        self.assertIn("its parties signed its datasets", str(refused.exception))
        self.assertEqual(set(contract.datasets.values_list("pk", flat=True)),
                         {self.accounts.pk, self.targets.pk, extra.pk})

    def test_saving_a_workflow_keeps_its_hidden_state_field(self):
        page = self.admin_as(self.staff_opted_out).get(f"/admin/governance/stateworkflow/{self.workflow.pk}/change/")
        self.assertMentionsNone(content(page))
        self.post_form(self.admin_as(self.staff_opted_out),
                       f"/admin/governance/stateworkflow/{self.workflow.pk}/change/",
                       {"description": "edited", "state_field": ""})  # no option was shown for it
        workflow = StateWorkflow.objects.get(pk=self.workflow.pk)
        self.assertEqual((workflow.description, workflow.state_field_id), ("edited", self.tax_id.pk))

    # --- every council role reads every page ---------------------------------------------------

    def test_staff_with_view_permissions_only_read_every_governance_page(self):
        council = make_user("council-member", is_staff=True)
        council.groups.add(Group.objects.get(name="DataOps council"))
        objects = [self.entity, EntityAttribute.objects.first(), self.designation, self.workflow,
                   StateDefinition.objects.first(), self.state_version, self.version, self.contract,
                   StateTransition.objects.first(), self.compliance_run, self.incident]
        urls = ["/admin/governance/", "/admin/governance/statedefinitionversion/pending/",
                f"/admin/governance/statedefinitionversion/{self.state_version.pk}/diff/"]
        for obj in objects:
            if obj is None:
                continue
            base = f"/admin/governance/{obj._meta.model_name}/"
            urls += [base, f"{base}{obj.pk}/change/", f"{base}{obj.pk}/history/"]
        for user in (self.viewer, self.viewer_colleague, council):
            client = self.admin_as(user)
            for url in urls:
                with self.subTest(user=user.username, url=url):
                    self.assertEqual(client.get(url).status_code, 200)

    def test_diff_needs_the_view_permission(self):
        nobody = make_user("staff-without-perms", is_staff=True)
        url = f"/admin/governance/statedefinitionversion/{self.state_version.pk}/diff/"
        self.assertEqual(self.admin_as(nobody).get(url).status_code, 403)


# Models whose admin pages the tests above read (so a new governance admin gets added here too).
COVERED = (BusinessEntity, DataContract, ContractVersion, ComplianceRun, Incident, StateDefinitionVersion,
           StateWorkflow, CheckResult)
