"""The scorecard in a real browser (issue 18): the council member, a department lead and a reader
opted out by deny rules open the scorecard from the admin home, export its CSV and open the
printable page. Each page's full-page screenshot is saved with the test run (pytest's tmp_path);
the test asserts what the picture must hold: the counts each may see, the trend lines only for who
sees everything, no hidden name."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from playwright.sync_api import Page, expect

from catalog.choices import DepartmentRole
from catalog.models import Dataset
from governance import scorecard
from governance.models import CouncilMeeting, ScorecardSnapshot
from permissions.context import system_actor
from permissions.council import READERS_GROUP
from permissions.models import AccessRule
from tests import factories
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in
from tests.mixins import make_user

HIDDEN = ("payroll_runs", "bonus_pool", "board_minutes")


def shoot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


@pytest.fixture
def world(transactional_db):
    with system_actor("tests", reason="browser test fixtures"):
        sales = factories.department(name="Sales", slug="sales")
        finance = factories.department(name="Finance", slug="finance")
        council = make_user("cora", is_staff=True)
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        lead = make_user("leo")
        factories.membership(lead, department=sales, role=DepartmentRole.LEAD)
        reader = make_user("rita")
        reader.groups.add(Group.objects.get(name=READERS_GROUP))
        factories.membership(reader, department=sales)

        crm = factories.system(name="CRM", slug="crm", owner_department=sales)
        erp = factories.system(name="ERP", slug="erp", owner_department=finance)
        leads = factories.dataset(system=crm, qualified_name="crm.leads", name="Leads", owner_department=sales,
                                  steward=lead, description="Every lead.")
        factories.field(dataset=leads, name="email", classification="pii", owner=lead, owner_department=sales,
                        description="Contact address")
        factories.dataset(system=crm, qualified_name="crm.accounts", name="Accounts", owner_department=sales)
        invoices = factories.dataset(system=erp, qualified_name="erp.invoices", name="Invoices",
                                     owner_department=finance, description="Issued invoices")
        payroll = factories.dataset(system=erp, qualified_name="erp.payroll_runs", name="Payroll runs",
                                    owner_department=finance)
        factories.field(dataset=payroll, name="bonus_pool", classification="restricted")
        board = factories.tag(name="board", slug="board")
        factories.dataset(system=erp, qualified_name="erp.board_minutes", name="Board minutes",
                          owner_department=finance, tags=[board])
        factories.lineage(source=leads, target=invoices)
        factories.lineage(source=invoices, target=payroll)

        AccessRule.objects.create(subject_kind="user", subject_user=reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(Dataset), target_id=payroll.pk,
                                  reason="Payroll stays with Finance")
        AccessRule.objects.create(subject_kind="department", subject_department=sales, target_kind="tag",
                                  target_tag=board, reason="Board papers")
        AccessRule.objects.create(subject_kind="group", subject_group=Group.objects.get(name=READERS_GROUP),
                                  target_kind="classification", classification="restricted",
                                  reason="Restricted data is for named people only")
        # Snapshots: two weeks of history (the first one before the last council meeting), then today's.
        today = timezone.localdate()
        for days_ago in range(14, 0, -1):
            ScorecardSnapshot.objects.create(
                day=today - datetime.timedelta(days=days_ago), department=None, computed_at=timezone.now(),
                facts={"datasets": 5, "datasets_with_steward": (14 - days_ago) // 7, "datasets_described": 1})
        scorecard.take_snapshots()
        CouncilMeeting.objects.create(held_on=today - datetime.timedelta(days=7), notes="Weekly review")
    return {"sales": sales}


def _metric_row(page: Page, scope: str, key: str):
    return page.locator(f'table.sc-metrics[data-scope="{scope}"] tr[data-metric="{key}"]')


def _open_scorecard(page: Page, username: str) -> None:
    log_in(page, username)
    page.locator("#scorecard-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scorecard")


def _download_csv(page: Page) -> list[list[str]]:
    with page.expect_download() as download:
        page.locator("#csv-export").click()
    path = download.value.path()
    return list(csv.reader(io.StringIO(Path(path).read_text())))


def test_the_council_member_sees_every_number_with_its_trend(
    page: Page, browser_problems: BrowserProblems, world, tmp_path: Path
):
    _open_scorecard(page, "cora")
    row = _metric_row(page, "organisation", "ownership.datasets")
    expect(row.locator(".sc-value")).to_have_text("20%")  # 1 of 5 datasets has a steward
    expect(row).to_contain_text("1 / 5")
    expect(page.locator("#trends-withheld")).to_have_count(0)
    expect(row.locator("canvas")).to_have_count(1)  # the trend line, drawn by Chart.js (a local static file)
    expect(page.locator("#departments-overview tr[data-department]")).to_have_count(2)
    expect(page.locator("#dept-finance")).to_contain_text("Maturity stage")
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "scorecard-council")

    rows = _download_csv(page)
    organisation = {r[3]: r for r in rows if r[0] == "organisation"}
    assert organisation["ownership.datasets"][7:9] == ["1", "5"]

    page.locator("#printable").click()
    expect(page.locator("#csv-export")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".sc-actions")).to_be_hidden()
    expect(page.locator("#header")).to_be_hidden()
    shoot(page, tmp_path, "scorecard-print")


def test_the_department_lead_opens_their_department(
    page: Page, browser_problems: BrowserProblems, world, tmp_path: Path
):
    _open_scorecard(page, "leo")
    page.locator("#sc-department").select_option("sales")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scorecard: Sales")
    section = page.locator("#dept-sales")
    expect(section.locator(".sc-stage")).to_have_text("Maturity stage 1: Registered")
    expect(section).to_contain_text("has business entities with attributes")  # what stage 2 needs
    # The Sales lead sees no board minutes (their department is opted out of the tag): 2 datasets of Sales.
    expect(_metric_row(page, "sales", "ownership.datasets")).to_contain_text("1 / 2")
    expect(page.locator("#trends-withheld")).to_be_visible()  # a rule applies to Sales
    for word in HIDDEN:
        expect(page.locator("body")).not_to_contain_text(word)
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "scorecard-lead")
    rows = _download_csv(page)
    assert {r[1] for r in rows[1:]} == {"sales"}


def test_the_reader_with_deny_rules_counts_only_what_they_see(
    page: Page, browser_problems: BrowserProblems, world, tmp_path: Path
):
    _open_scorecard(page, "rita")
    # Neither the payroll runs (a rule on the dataset) nor the board minutes (a tag rule on Sales): 3 of 5.
    row = _metric_row(page, "organisation", "ownership.datasets")
    expect(row).to_contain_text("1 / 3")
    expect(row.locator("canvas")).to_have_count(0)
    expect(row.locator(".sc-trend")).to_have_text("withheld")
    expect(page.locator("#trends-withheld")).to_be_visible()
    expect(_metric_row(page, "finance", "contracts.coverage")).to_contain_text("0 / 0")  # its edge to payroll: hidden
    for word in HIDDEN:
        expect(page.locator("body")).not_to_contain_text(word)
    assert_loaded_cleanly(page, browser_problems)
    shoot(page, tmp_path, "scorecard-reader")
    rows = _download_csv(page)
    organisation = {r[3]: r for r in rows if r[0] == "organisation"}
    assert organisation["ownership.datasets"][7:9] == ["1", "3"]
    assert organisation["contracts.coverage"][7:9] == ["0", "1"]  # Sales → Finance only
    assert not any(word in "".join(",".join(r) for r in rows) for word in HIDDEN)
