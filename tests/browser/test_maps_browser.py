"""Both maps in a real browser (issue 18), as the council member, a department lead and a reader
with deny rules of every kind (tests/catalog/map_world.py): the lineage map of a dataset and of a
field, and the data-flow map. Each test reads the graph the page drew (Cytoscape's nodes, through
page.evaluate) and the page's text, and saves a full-page screenshot with the test run (tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from catalog.lineage_map import lineage_graph
from governance.maps import data_flow
from permissions.context import system_actor
from tests.browser.conftest import BrowserProblems
from tests.browser.test_admin_browser import assert_loaded_cleanly, log_in
from tests.catalog.map_world import HIDDEN_WORDS, build_map_world

ROLES = ["dana", "maria", "lena"]  # the council member, the Sales lead, the reader with deny rules
READER_MAP = {"crm.accounts", "stg.accounts", "mart.accounts", "sync.accounts_to_crm"}


@pytest.fixture
def world(transactional_db):
    with system_actor("tests", reason="browser test fixtures"):
        return build_map_world()


def user_named(world, username):
    return {"dana": world.council_member, "maria": world.lead, "lena": world.reader}[username]


def shoot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def drawn(page: Page, variable: str, selector: str, key: str) -> list:
    expect(page.locator(".accord-map-canvas[data-ready=true]")).to_have_count(1)
    return page.evaluate(f"() => window.{variable}.nodes({selector!r}).map((n) => n.data({key!r})).sort()")


def assert_hidden_absent(page: Page, variable: str) -> None:
    text = page.evaluate(f"() => document.body.innerText + JSON.stringify(window.{variable}.json().elements)")
    found = [word for word in HIDDEN_WORDS if word.lower() in text.lower()]
    assert not found, f"hidden names on the page: {found}"


@pytest.mark.parametrize("username", ROLES)
def test_lineage_map_of_a_dataset(page: Page, browser_problems: BrowserProblems, world, tmp_path: Path, username):
    log_in(page, username)
    page.goto(f"/admin/catalog/dataset/{world.stg.pk}/change/")
    page.get_by_role("link", name="Open the lineage map (upstream and downstream)").click()
    page.locator("select[name=depth]").select_option("3")
    page.locator("input[name=fields]").check()
    expect(page.locator(".accord-map-status")).to_contain_text("field mapping")
    names = drawn(page, "accordLineageMap", "node.dataset", "qualified_name")
    expected = lineage_graph(user_named(world, username), dataset=world.stg, depth=3, fields=True)
    assert names == sorted(node["qualified_name"] for node in expected["nodes"])
    assert {"crm.accounts", "stg.accounts", "mart.accounts", "sync.accounts_to_crm"} <= set(names)
    systems = drawn(page, "accordLineageMap", "node.system", "name")
    assert {"Salesforce", "Warehouse", "Hightouch"} <= set(systems)
    contract_edges = page.evaluate("() => window.accordLineageMap.edges('.contract').map((e) => e.data('contracts'))")
    assert contract_edges == [["Accounts feed"]]
    for name in names:
        expect(page.locator(".accord-map-datasets")).to_contain_text(name)
    if username == "lena":
        assert set(names) == READER_MAP
        assert "Workday" not in systems
        assert_hidden_absent(page, "accordLineageMap")
    else:
        assert {"deals.acquisition_targets", "deals.pipeline_report", "hr.salaries"} <= set(names)
    shoot(page, tmp_path, f"lineage-map-{username}")
    # Collapsing a system folds its datasets into it; tapping it again unfolds them.
    page.evaluate(f"() => window.accordLineageMap.getElementById('s{world.warehouse.pk}').emit('tap')")
    collapsed = drawn(page, "accordLineageMap", "node.dataset", "qualified_name")
    assert "stg.accounts" not in collapsed and "crm.accounts" in collapsed
    expect(page.locator(".accord-map-canvas")).to_be_visible()
    shoot(page, tmp_path, f"lineage-map-{username}-warehouse-collapsed")
    page.evaluate(f"() => window.accordLineageMap.getElementById('s{world.warehouse.pk}').emit('tap')")
    assert drawn(page, "accordLineageMap", "node.dataset", "qualified_name") == names
    # Clicking through to a node opens that dataset.
    page.evaluate(f"() => window.accordLineageMap.getElementById('d{world.mart.pk}').emit('tap')")
    expect(page).to_have_url(f"/admin/catalog/dataset/{world.mart.pk}/change/")
    assert_loaded_cleanly(page, browser_problems)


@pytest.mark.parametrize("username", ["dana", "lena"])
def test_lineage_map_of_a_field(page: Page, browser_problems: BrowserProblems, world, tmp_path: Path, username):
    log_in(page, username)
    page.goto(f"/admin/catalog/field/{world.tax_ref.pk}/change/")
    page.get_by_role("link", name="Open the lineage map (its field mappings)").click()
    names = drawn(page, "accordLineageMap", "node.dataset", "qualified_name")
    labels = page.evaluate("() => window.accordLineageMap.edges('.field').map((e) => e.data('label'))")
    if username == "lena":  # tax_ref's only source is the hidden tax_id
        assert names == ["stg.accounts"] and labels == []
        assert_hidden_absent(page, "accordLineageMap")
    else:
        assert names == ["crm.accounts", "stg.accounts"] and labels == ["tax_id → tax_ref"]
    shoot(page, tmp_path, f"field-lineage-map-{username}")
    assert_loaded_cleanly(page, browser_problems)


@pytest.mark.parametrize("username", ROLES)
def test_data_flow_map(page: Page, browser_problems: BrowserProblems, world, tmp_path: Path, username):
    log_in(page, username)
    page.get_by_role("link", name="Data-flow map").click()
    expect(page).to_have_url("/admin/governance/datacontract/data-flow/")
    systems = drawn(page, "accordDataFlowMap", "node", "name")
    expected = data_flow(user_named(world, username))
    assert systems == sorted(s["name"] for s in expected["systems"])
    stages = page.evaluate("() => Object.fromEntries(window.accordDataFlowMap.nodes().map((n) => "
                           "[n.data('name'), n.data('stage')]))")
    assert (stages["Salesforce"], stages["Warehouse"], stages["Hightouch"]) == ("source", "warehouse", "destination")
    xs = page.evaluate("() => Object.fromEntries(window.accordDataFlowMap.nodes().map((n) => "
                       "[n.data('name'), n.position('x')]))")
    assert xs["Salesforce"] < xs["Warehouse"] < xs["Hightouch"]  # sources → warehouse → reverse ETL
    crm_flow = page.locator("#accord-flows tbody tr").filter(has_text="Salesforce")
    expect(crm_flow).to_contain_text("Accounts feed")
    expect(crm_flow).to_contain_text("Data platform, Sales")
    expect(crm_flow.locator("td").nth(3)).to_have_text("2" if username == "lena" else "3")
    if username == "lena":
        assert "Workday" not in systems
        expect(page.locator("#accord-flows tbody tr")).to_have_count(2)
        assert_hidden_absent(page, "accordDataFlowMap")
    else:
        assert "Workday" in systems
        expect(page.locator("#accord-flows tbody tr")).to_have_count(3)
    shoot(page, tmp_path, f"data-flow-map-{username}")
    assert_loaded_cleanly(page, browser_problems)
