"""Signing a contract version in the admin, as a superuser and as a department's lead click through it.

The superuser opens a proposed version, follows "Sign for a party…", finds both unsigned parties
offered (each marked "on its behalf") and none chosen, chooses Sales and signs: one signature, for
Sales only, recorded on its behalf. The lead of Marketing finds only Marketing, already chosen.
A screenshot of each form is saved with the test run (pytest's tmp_path).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from governance.models import ContractSignature, ContractVersion
from governance.services import contracts as contract_services
from permissions.context import system_actor
from permissions.models import AuditAction, AuditRecord
from tests import factories
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in
from tests.mixins import make_user

TERMS = {"schema": [{"name": "leads", "fields": [{"name": "lead_id", "type": "varchar(24)", "required": True}]}]}


@dataclass
class Proposed:
    version: ContractVersion
    marketing_id: int
    sales_id: int


@pytest.fixture
def proposed(transactional_db) -> Proposed:
    with system_actor("tests", reason="browser test fixtures"):
        marketing = factories.department(name="Marketing", slug="marketing")
        sales = factories.department(name="Sales", slug="sales")
        root = make_user("root", is_staff=True, is_superuser=True)
        lead = make_user("maria", is_staff=True, perms=("governance.view_contractversion",))
        factories.membership(lead, department=marketing, role="lead")
        contract = factories.contract(name="Qualified leads", slug="qualified-leads", producer=marketing,
                                      consumers=[sales])
        version = contract_services.create_version(contract=contract, version="1.0.0", terms=TERMS, actor=root)
        version = contract_services.propose(version, actor=root)
    return Proposed(version=version, marketing_id=marketing.pk, sales_id=sales.pk)


def open_signing_form(page: Page, version: ContractVersion) -> None:
    page.goto(f"/admin/governance/contractversion/{version.pk}/change/")
    page.get_by_role("link", name="Sign for a party…").click()
    expect(page.get_by_role("heading", name=f"Sign {version}")).to_be_visible()


def test_a_superuser_chooses_the_party_and_signs_on_its_behalf(
    page: Page, proposed: Proposed, browser_problems: BrowserProblems, tmp_path
):
    log_in(page, "root")
    open_signing_form(page, proposed.version)
    party = page.get_by_label("Sign for")
    options = party.locator("option").all_inner_texts()
    assert options == ["— choose the party you sign for —", "Marketing — on its behalf (you do not lead it)",
                       "Sales — on its behalf (you do not lead it)"]
    assert party.input_value() == ""  # nobody chosen for them
    party.select_option(label="Sales — on its behalf (you do not lead it)")
    page.get_by_label("Comment").fill("For Sofia, who is away")
    screenshot = tmp_path / "sign-form-superuser.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert_loaded_cleanly(page, browser_problems)

    page.get_by_role("button", name="Sign for this party").click()
    expect(page.locator(".messagelist")).to_contain_text("for Sales on its behalf")
    signed = list(ContractSignature.objects.filter(version=proposed.version).values_list("department_id", flat=True))
    assert signed == [proposed.sales_id]
    record = AuditRecord.objects.get(action=AuditAction.SIGN, object_id=str(proposed.version.pk))
    assert (record.details["department"], record.details["on_behalf"], record.actor_name) == ("sales", True, "root")
    page.get_by_role("link", name="Sign for a party…").click()  # Marketing is still waiting
    assert page.get_by_label("Sign for").locator("option").all_inner_texts()[1:] == [
        "Marketing — on its behalf (you do not lead it)"]


def test_a_lead_finds_their_department_chosen(
    page: Page, proposed: Proposed, browser_problems: BrowserProblems, tmp_path
):
    log_in(page, "maria")
    open_signing_form(page, proposed.version)
    party = page.get_by_label("Sign for")
    assert party.locator("option").all_inner_texts()[1:] == ["Marketing"]
    assert party.input_value() == str(proposed.marketing_id)
    page.screenshot(path=str(tmp_path / "sign-form-lead.png"), full_page=True)
    assert_loaded_cleanly(page, browser_problems)
    page.get_by_role("button", name="Sign for this party").click()
    expect(page.locator(".messagelist")).to_contain_text("You signed version 1.0.0 of Qualified leads for Marketing.")
    record = AuditRecord.objects.get(action=AuditAction.SIGN, object_id=str(proposed.version.pk))
    assert record.details["on_behalf"] is False
