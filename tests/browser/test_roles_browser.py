"""Every role does its work in a real browser (issue 15), with nothing set up by hand: the lead,
steward and reader get their admin access from their department membership or group alone
(permissions.council). The lead approves a state definition in the admin, the steward changes a
field's owner, the reader explains why the employee data is hidden from them, and a user who is
not staff signs in to "Your account" and creates an API token. A screenshot of each page is
saved with the test run (pytest's tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from catalog.choices import DepartmentRole
from catalog.models import Field
from governance.choices import StateScope, VersionStatus
from governance.models import StateDefinitionVersion
from governance.services import states as state_services
from permissions.context import system_actor
from permissions.council import READERS_GROUP
from permissions.models import AccessRule, AccessRuleException, ApiToken
from tests import factories
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in, result_rows
from tests.mixins import PASSWORD, make_user

APPROVE = "Approve the selected versions (for the departments you act for)"


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


@pytest.fixture
def world(transactional_db):
    with system_actor("tests", reason="browser test fixtures"):
        marketing = factories.department(name="Marketing", slug="marketing")
        hr = factories.department(name="HR", slug="hr")
        lead = make_user("maria")
        factories.membership(lead, department=marketing, role=DepartmentRole.LEAD)
        steward = make_user("sam")
        factories.membership(steward, department=marketing, role=DepartmentRole.STEWARD)
        reader = make_user("lena")
        reader.groups.add(Group.objects.get(name=READERS_GROUP))
        make_user("olga", first_name="Olga", last_name="Owner")

        leads = factories.dataset(qualified_name="crm.leads", name="Leads", owner_department=marketing,
                                  steward=steward)
        email = factories.field(dataset=leads, name="email", data_type="varchar(255)", position=1, owner=steward)
        workflow = factories.workflow(name="Lead lifecycle", slug="lead-lifecycle", owner_department=marketing)
        mql = factories.state(workflow=workflow, name="MQL", slug="mql", scope=StateScope.DOMAIN,
                              owner_department=marketing)
        version = state_services.create_draft(definition=mql, definition_text="Scored at least 60.",
                                              criteria={"field": "email", "op": "is_not_null"}, actor=lead)
        state_services.propose(version, actor=lead)

        restricted = factories.tag(name="hr-restricted", slug="hr-restricted")
        factories.dataset(qualified_name="hr.dim_employee", name="Employees", owner_department=hr,
                          tags=[restricted])
        rule = AccessRule.objects.create(subject_kind="everyone", target_kind="tag", target_tag=restricted,
                                         reason="Employee data is HR's only.")
        AccessRuleException.objects.create(rule=rule, subject_kind="department", subject_department=hr,
                                           reason="HR keeps the employee records.")
    return {"version": version, "email": email}


def test_the_lead_approves_their_departments_state_definition(
    page: Page, browser_problems: BrowserProblems, world, tmp_path: Path
):
    log_in(page, "maria")  # staff through the lead membership alone
    page.goto("/admin/governance/statedefinitionversion/")
    row = result_rows(page).filter(has_text="Lead lifecycle: MQL")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-status")).to_have_text("Proposed")
    row.locator("input.action-select").check()
    page.locator("#changelist-form select[name=action]").select_option(label=APPROVE)
    page.locator("#changelist-form").get_by_role("button", name="Go").click()
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("ul.messagelist li.success")).to_have_text("1 approval(s) recorded.")
    expect(result_rows(page).filter(has_text="Lead lifecycle: MQL").locator("td.field-status")).to_have_text(
        "Approved")
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "lead-approved")
    assert StateDefinitionVersion.objects.get(pk=world["version"].pk).status == VersionStatus.APPROVED


def test_the_steward_changes_a_fields_owner(page: Page, browser_problems: BrowserProblems, world, tmp_path: Path):
    log_in(page, "sam")  # staff through the steward membership alone
    field = world["email"]
    page.goto(f"/admin/catalog/field/{field.pk}/change/")
    page.locator(".field-owner .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill("olga")
    options = page.locator(".select2-results__option")
    expect(options).to_have_text(["olga"])
    options.first.click()
    shoot(page, tmp_path, "steward-field-owner")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("was changed successfully")
    assert_loaded_cleanly(page, browser_problems)
    assert Field.objects.get(pk=field.pk).owner.username == "olga"


def test_the_reader_explains_why_the_employee_data_is_hidden(
    page: Page, browser_problems: BrowserProblems, world, tmp_path: Path
):
    log_in(page, "lena")  # staff through the Readers group
    page.goto("/admin/catalog/dataset/")
    expect(result_rows(page).filter(has_text="crm.leads")).to_have_count(1)
    expect(result_rows(page).filter(has_text="hr.dim_employee")).to_have_count(0)
    page.goto("/me/")
    page.get_by_role("link", name="Explain your access to an object").click()
    expect(page.locator("#opted-out")).to_have_text("What you are opted out of")
    entry = page.locator("ul.opted-out li")
    expect(entry).to_have_count(1)
    expect(entry.first).to_contain_text("Deny everyone → tag hr-restricted")
    expect(entry.first).to_contain_text("Employee data is HR's only.")
    expect(entry.first).to_contain_text("except: department HR")
    expect(page.locator("#content")).not_to_contain_text("hr.dim_employee")
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "reader-explain")


def test_a_user_who_is_not_staff_creates_a_token(page: Page, browser_problems: BrowserProblems, world,
                                                 tmp_path: Path):
    with system_actor("tests", reason="browser test fixtures"):
        make_user("nora")  # no department role, no group: not staff
    page.goto("/me/")
    expect(page).to_have_url("/accounts/login/?next=/me/")
    page.get_by_label("Username").fill("nora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url("/me/")
    expect(page.get_by_role("heading", level=1).first).to_have_text("Your account")
    page.get_by_label("Name").fill("dbt nightly")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret")
    expect(secret).to_be_visible()
    raw = secret.inner_text()
    token = ApiToken.objects.get(user__username="nora", name="dbt nightly")
    assert raw.startswith(token.prefix)
    expect(page.locator("#token-list")).to_contain_text("dbt nightly")
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "self-service-token")
    # Shown once: the next visit lists the token without it, and it can be revoked there.
    page.goto("/me/")
    expect(page.locator("#token-secret")).to_have_count(0)
    assert raw not in page.content()
    page.locator("#token-list").get_by_role("button", name="Revoke").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Revoked the token “dbt nightly”")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
