"""The demo's planted drift in a real browser (issue 16): after ``load_demo --harvest`` (what
``make run`` runs), the council chair of the demo opens the admin's schema changes, sees the
breaking removal of staging.stg_leads.created_at, and the incident it opened on the hand-off
contract. A screenshot of each page is saved with the test run (pytest's tmp_path)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from governance.models import Incident
from harvest.models import SchemaChange
from permissions.context import system_actor
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in, result_rows
from tests.mixins import make_user


@pytest.fixture
def demo(transactional_db, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_DEMO_WAREHOUSE_DSN", f"sqlite:///{tmp_path / 'demo_warehouse.sqlite3'}")
    call_command("load_demo", "--harvest", stdout=io.StringIO())
    with system_actor("tests", reason="browser test fixtures"):
        make_user("root", is_staff=True, is_superuser=True)


def test_the_planted_drift_and_its_incident_are_in_the_admin(
    page: Page, demo, browser_problems: BrowserProblems, tmp_path
):
    log_in(page, "root")
    page.goto("/admin/harvest/schemachange/")
    rows = result_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("staging.stg_leads")
    expect(rows.first).to_contain_text("created_at")
    expect(rows.first).to_contain_text("Breaking")
    page.screenshot(path=tmp_path / "schema-changes.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)

    incident = Incident.objects.get(contract__slug="marketing-sales-lead-handoff")
    page.goto("/admin/governance/incident/")
    expect(result_rows(page).first).to_contain_text("Breaking schema drift: Marketing → Sales lead hand-off")
    page.goto(f"/admin/governance/incident/{incident.pk}/change/")
    expect(page.locator("#content")).to_contain_text("Breaking schema changes")
    expect(page.locator(".accord-breaking-changes")).to_contain_text("Field removed created_at")
    expect(page.locator("#content")).to_contain_text("Marketing → Sales lead hand-off")
    page.screenshot(path=tmp_path / "incident.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)

    change = SchemaChange.objects.get()
    page.goto(f"/admin/harvest/schemachange/{change.pk}/change/")
    expect(page.locator("#content")).to_contain_text("Field removed")
    page.screenshot(path=tmp_path / "schema-change.png", full_page=True)
    assert_loaded_cleanly(page, browser_problems)
