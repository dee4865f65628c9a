"""The admin as a data steward uses it: log in, open a dataset and its fields, search the change list.

Runs a real Chromium against pytest-django's live server, so the login form, CSRF, sessions,
static files (admin CSS and JS) and the inline formset are all exercised the way a browser sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from catalog.models import Dataset
from permissions.context import system_actor
from tests import factories
from tests.browser.conftest import BrowserProblems
from tests.mixins import PASSWORD

SITE_HEADER = "Accord — data governance registry"
INDEX_TITLE = "Catalog and governance"
DATASET_CHANGELIST = "/admin/catalog/dataset/"

LEAD_FIELDS = [("lead_id", "internal"), ("email", "pii"), ("phone", "pii")]


@dataclass
class Catalog:
    leads: Dataset
    accounts: Dataset


def _setting_up():
    # Fixture data is written outside any request, so it needs an accountable actor for the audit log.
    return system_actor("tests", reason="browser test fixtures")


@pytest.fixture
def superuser(transactional_db):
    with _setting_up():
        return get_user_model().objects.create_superuser("steward", "steward@example.com", PASSWORD)


@pytest.fixture
def catalog(transactional_db) -> Catalog:
    with _setting_up():
        crm = factories.system(name="Salesforce", slug="salesforce", kind="crm")
        leads = factories.dataset(
            system=crm,
            qualified_name="crm.leads",
            name="Leads",
            description="Prospects captured by web forms before they become customers.",
        )
        for position, (name, classification) in enumerate(LEAD_FIELDS, start=1):
            factories.field(dataset=leads, name=name, position=position, classification=classification)
        # A second dataset that a search for "leads" must leave out (nothing in its searched columns says "leads").
        accounts = factories.dataset(system=crm, qualified_name="crm.accounts", name="Accounts")
    return Catalog(leads=leads, accounts=accounts)


def log_in(page: Page, username: str = "steward") -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("/admin/")  # base_url is prepended; a failed login stays on /admin/login/


def assert_loaded_cleanly(page: Page, problems: BrowserProblems) -> None:
    assert not problems, f"browser reported problems: {problems}"
    admin_css_applied = page.evaluate(
        """() => [...document.styleSheets].some(
            (sheet) => sheet.href && sheet.href.endsWith("/admin/css/base.css") && sheet.cssRules.length > 0
        )"""
    )
    assert admin_css_applied, "the admin stylesheet did not load"


def result_rows(page: Page):
    return page.locator("#result_list tbody tr")


def test_login_lands_on_admin_index(page: Page, browser_problems: BrowserProblems, superuser):
    log_in(page)

    expect(page).to_have_title(f"{INDEX_TITLE} | Accord")
    expect(page.locator("#site-name")).to_have_text(SITE_HEADER)
    expect(page.get_by_role("heading", level=1)).to_have_text(INDEX_TITLE)
    expect(page.get_by_role("link", name="Datasets", exact=True)).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text("steward")
    assert_loaded_cleanly(page, browser_problems)


def test_dataset_change_page_shows_its_fields(
    page: Page, browser_problems: BrowserProblems, superuser, catalog: Catalog, tmp_path
):
    log_in(page)
    page.goto(DATASET_CHANGELIST)
    page.get_by_role("link", name="crm.leads", exact=True).click()

    expect(page).to_have_url(f"/admin/catalog/dataset/{catalog.leads.pk}/change/")
    expect(page.locator("#id_qualified_name")).to_have_value("crm.leads")
    expect(page.locator("#id_description")).to_have_value(catalog.leads.description)
    saved_rows = page.locator("#fields-group tr.has_original")  # the saved fields, not the empty template row
    expect(saved_rows).to_have_count(len(LEAD_FIELDS))
    for index, (name, classification) in enumerate(LEAD_FIELDS):
        row = saved_rows.nth(index)
        expect(row.locator("td.original")).to_contain_text(name)  # inside its dataset: the field name
        expect(row.locator(f"#id_fields-{index}-name")).to_be_visible()
        expect(row.locator(f"#id_fields-{index}-name")).to_have_value(name)
        expect(row.locator(f"#id_fields-{index}-classification")).to_have_value(classification)

    screenshot = tmp_path / "dataset-change.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert_loaded_cleanly(page, browser_problems)


def test_changelist_search(page: Page, browser_problems: BrowserProblems, superuser, catalog: Catalog):
    log_in(page)
    page.goto(DATASET_CHANGELIST)
    expect(result_rows(page)).to_have_count(2)

    search = page.locator("#searchbar")
    search.fill("leads")
    search.press("Enter")
    expect(page).to_have_url(f"{DATASET_CHANGELIST}?q=leads")
    expect(result_rows(page)).to_have_count(1)
    expect(result_rows(page).first).to_contain_text("crm.leads")
    expect(page.locator("#changelist-search")).to_contain_text("1 result")

    search.fill("no-such-dataset")
    page.locator("#changelist-search").get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{DATASET_CHANGELIST}?q=no-such-dataset")
    expect(page.locator("#changelist-search")).to_contain_text("0 results")
    expect(result_rows(page)).to_have_count(0)
    assert_loaded_cleanly(page, browser_problems)
