"""A contract over a real SQLite source with planted violations, for the compliance tests."""

from __future__ import annotations

import datetime
import os
import sqlite3

from governance.services import contracts as contract_services
from governance.services import states as state_services
from tests import factories
from tests.mixins import make_user

ENV = "ACCORD_TEST_LEADS_DSN"
TERMS = {
    "schema": [{"name": "leads", "physical_name": "leads", "fields": [
        {"name": "lead_id", "type": "integer", "required": True, "unique": True},
        {"name": "email", "type": "varchar(255)"},
        {"name": "status", "type": "varchar(32)", "required": True},
        {"name": "score", "type": "integer"},
    ]}],
    "quality": [
        {"object": "leads", "field": "email", "rule": "not_null", "params": {}, "severity": "error"},
        {"object": "leads", "field": "lead_id", "rule": "unique", "params": {}, "severity": "error"},
        {"object": "leads", "field": "status", "rule": "accepted_values", "severity": "error",
         "params": {"values": ["raw", "mql", "sql"]}},
        {"object": "leads", "field": None, "rule": "row_count", "params": {"operator": ">=", "value": 1},
         "severity": "error"},
    ],
    "schedule": "0 6 * * *",
    "notice_period_days": 0,
}
MQL = {"all": [{"field": "email", "op": "is_not_null"}, {"field": "score", "op": "gte", "value": 60}]}


def write_source(path, *, null_emails=3, bad_statuses=2, unqualified_mqls=4) -> None:
    """100 rows; planted: ``null_emails`` null emails, ``bad_statuses`` unknown statuses,
    ``unqualified_mqls`` rows claiming 'mql' with a score under 60."""
    if os.path.exists(path):
        os.remove(path)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE leads (lead_id INTEGER, email TEXT, status TEXT, score INTEGER)")
    rows = []
    for i in range(100):
        email = None if i < null_emails else f"person{i}@example.com"
        status = "bogus" if null_emails <= i < null_emails + bad_statuses else ("mql" if i % 2 else "raw")
        score = 90
        if status == "mql" and i >= 50 and unqualified_mqls > 0:
            score, unqualified_mqls = 10, unqualified_mqls - 1
        rows.append((i, email, status, score))
    connection.executemany("INSERT INTO leads VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()


def build_contract(tmp_path, monkeypatch):
    """An active contract (Marketing → Sales) over ``leads`` in a SQLite source."""
    source = tmp_path / "warehouse.sqlite3"
    write_source(source)
    monkeypatch.setenv(ENV, f"sqlite:///{source}")
    marketing = factories.department(name="Marketing", slug="marketing")
    sales = factories.department(name="Sales", slug="sales")
    maria, sofia, sam = make_user("maria"), make_user("sofia"), make_user("sam")
    factories.membership(maria, department=marketing, role="lead")
    factories.membership(sam, department=marketing, role="steward")
    factories.membership(sofia, department=sales, role="lead")
    system = factories.system(name="Warehouse", slug="warehouse", connection_engine="sqlite", connection_env=ENV)
    dataset = factories.dataset(system=system, qualified_name="leads", owner_department=marketing)
    owner = make_user("owner")
    for name, data_type in (("lead_id", "integer"), ("email", "varchar(255)"), ("status", "varchar(32)"),
                            ("score", "integer")):
        factories.field(dataset=dataset, name=name, data_type=data_type, owner=owner, owner_department=marketing)
    workflow = factories.workflow(dataset=dataset, owner_department=marketing,
                                  state_field=dataset.fields.get(name="status"))
    mql = factories.state(workflow=workflow, slug="mql", state_value="mql", owner_department=marketing)
    version = state_services.create_draft(definition=mql, definition_text="Engaged", criteria=MQL, actor=maria)
    state_services.propose(version, actor=maria)
    state_services.approve(version, department=marketing, actor=maria)
    contract = factories.contract(slug="handoff", name="Lead hand-off", producer=marketing, consumers=[sales],
                                  datasets=[dataset])
    v1 = contract_services.create_version(contract=contract, version="1.0.0", terms=TERMS, actor=maria,
                                          state_definitions=[mql])
    contract_services.propose(v1, actor=maria)
    contract_services.sign(v1, department=marketing, actor=maria)
    contract_services.sign(v1, department=sales, actor=sofia)
    v1.refresh_from_db()
    assert v1.status == "active"
    return {"source": source, "contract": contract, "version": v1, "dataset": dataset, "maria": maria,
            "sofia": sofia, "sam": sam, "marketing": marketing, "sales": sales}


def later(minutes: int = 1) -> datetime.datetime:
    from django.utils import timezone

    return timezone.now() + datetime.timedelta(minutes=minutes)
