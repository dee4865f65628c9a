"""Governance pages read as sentences, in a real browser (issue 15).

A superuser opens an active contract version (its terms as tables), a completed run (its results as a list),
the incident it opened (failing rules and counts), then edits a draft state definition's criteria rule by
rule: a rule with an operator its field does not take is refused next to the rule with the typed value kept;
fixed, the draft saves. A screenshot of each page is saved with the test run (pytest's tmp_path).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from governance.models import CheckResult, ComplianceRun, ContractVersion, Incident, StateDefinitionVersion
from permissions.context import system_actor
from tests import factories
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in
from tests.mixins import make_user

TERMS = {
    "schema": [{"name": "leads", "physical_name": "crm.leads", "fields": [
        {"name": "lead_id", "type": "varchar(24)", "required": True, "unique": True},
        {"name": "score", "type": "integer", "description": "0 to 100"}]}],
    "quality": [{"object": "leads", "field": "lead_id", "rule": "not_null", "params": {}, "severity": "error"},
                {"object": "leads", "field": "score", "rule": "range", "params": {"min": 0, "max": 100},
                 "severity": "warning"}],
    "sla": {"freshness_hours": 24}, "schedule": "0 6 * * *", "notice_period_days": 30,
}


@dataclass
class World:
    version: ContractVersion
    run: ComplianceRun
    incident: Incident
    draft: StateDefinitionVersion


@pytest.fixture
def world(transactional_db) -> World:
    with system_actor("tests", reason="browser test fixtures"):
        make_user("root", is_staff=True, is_superuser=True)
        marketing = factories.department(name="Marketing", slug="marketing")
        sales = factories.department(name="Sales", slug="sales")
        contract = factories.contract(name="Qualified leads", slug="qualified-leads", producer=marketing,
                                      consumers=[sales])
        version = ContractVersion.objects.create(contract=contract, version="1.0.0", status="active", terms=TERMS)
        run = ComplianceRun.objects.create(
            contract_version=version, scheduled_for=datetime.datetime(2026, 12, 1, 6, tzinfo=datetime.UTC),
            trigger="scheduled", status="completed", outcome="fail", summary={"pass": 1, "fail": 1, "error": 0})
        CheckResult.objects.create(run=run, key="data:leads:lead_id:not_null:1", kind="data", rule="not_null",
                                   status="pass", message="Every lead has an id.")
        CheckResult.objects.create(run=run, key="data:leads:score:range:2", kind="data", rule="range",
                                   status="fail", message="4 rows have a score above 100.")
        incident = Incident.objects.create(contract=contract, opened_by_run=run, title="Qualified leads fails",
                                           summary={"failing_rules": ["data:leads:score:range:2"],
                                                    "counts": {"pass": 1, "fail": 1, "error": 0}})
        state = factories.state(name="MQL", slug="mql", state_value="mql", owner_department=marketing)
        draft = StateDefinitionVersion.objects.create(
            definition=state, number=1, status="draft", definition_text="A lead marketing will hand over.",
            criteria={"all": [{"field": "score", "op": "gte", "value": 50}]})
    return World(version=version, run=run, incident=incident, draft=draft)


def test_contract_run_and_incident_read_as_tables_and_lists(
    page: Page, world: World, browser_problems: BrowserProblems, tmp_path
):
    log_in(page, "root")
    page.goto(f"/admin/governance/contractversion/{world.version.pk}/change/")
    schema = page.locator("table.accord-schema-object")
    expect(schema.locator("caption")).to_have_text("leads (crm.leads)")
    expect(schema.locator("tbody tr")).to_have_count(2)
    expect(page.locator("table.accord-quality tbody tr").nth(1)).to_contain_text("max: 100; min: 0")
    expect(page.locator("ul.accord-service")).to_contain_text("Breaking changes announced 30 days ahead.")
    page.screenshot(path=tmp_path / "contract-version.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)

    page.goto(f"/admin/governance/compliancerun/{world.run.pk}/change/")
    expect(page.locator("ul.accord-counts li")).to_have_text(["1 passed", "1 failed", "0 could not be checked"])
    page.screenshot(path=tmp_path / "compliance-run.png", full_page=True)

    page.goto(f"/admin/governance/incident/{world.incident.pk}/change/")
    expect(page.locator("ul.accord-failing-rules li")).to_have_text(["data:leads:score:range:2"])
    expect(page.locator("ul.accord-counts")).to_contain_text("1 failed")
    page.screenshot(path=tmp_path / "incident.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)


def test_criteria_edited_rule_by_rule_keep_the_typed_rule_on_error(
    page: Page, world: World, browser_problems: BrowserProblems, tmp_path
):
    log_in(page, "root")
    page.goto(f"/admin/governance/statedefinitionversion/{world.draft.pk}/change/")
    expect(page.locator("#id_rule-0-field")).to_have_value("score")
    page.locator("#id_rule-1-field").select_option("email")
    page.locator("#id_rule-1-op").select_option("gt")  # an ordering: not for a text field
    page.locator("#id_rule-1-value").fill("a@example.com")
    page.get_by_role("button", name="Save and continue editing").click()
    errors = page.locator("#rule-1-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("gt")
    expect(page.locator("#id_rule-1-value")).to_have_value("a@example.com")
    expect(page.locator("#id_rule-1-op")).to_have_value("gt")
    page.screenshot(path=tmp_path / "criteria-refused.png", full_page=True)

    page.locator("#id_rule-1-op").select_option("like")
    page.locator("#id_rule-1-value").fill("%@example.com")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("#rule-1-errors")).to_have_count(0)
    page.screenshot(path=tmp_path / "criteria-saved.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)
    world.draft.refresh_from_db()
    assert world.draft.criteria == {"all": [{"field": "score", "op": "gte", "value": 50},
                                            {"field": "email", "op": "like", "value": "%@example.com"}]}
