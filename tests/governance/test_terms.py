"""Contract terms: validation, and the classification of a new version against the previous one."""

from __future__ import annotations

import copy

import pytest

from governance.terms import TermsError, check_bump, classify, validate

BASE = {
    "schema": [{"name": "leads", "fields": [
        {"name": "lead_id", "type": "varchar(24)", "required": True, "unique": True, "primary_key": True},
        {"name": "email", "type": "varchar(255)", "required": False, "classification": "pii"},
        {"name": "score", "type": "integer"},
        {"name": "status", "type": "varchar(32)", "required": True, "description": "Lifecycle state"},
    ]}],
    "quality": [
        {"object": "leads", "field": "status", "rule": "accepted_values", "params": {"values": ["raw", "mql", "sql"]}},
        {"object": "leads", "field": "lead_id", "rule": "not_null", "params": {}},
    ],
    "sla": {"freshness_hours": 24, "availability_percent": 99.5},
    "notice_period_days": 30,
    "schedule": "0 6 * * *",
}


def changed(mutate):
    new = copy.deepcopy(BASE)
    mutate(new)
    return classify(BASE, new)


def fields(terms):
    return terms["schema"][0]["fields"]


@pytest.mark.parametrize(("description", "mutate", "expected"), [
    ("nothing changed", lambda t: None, "cosmetic"),
    ("description reworded", lambda t: fields(t)[3].update(description="The state"), "cosmetic"),
    ("support channel changed", lambda t: t.update(support_channel="#leads"), "cosmetic"),
    ("field removed", lambda t: fields(t).pop(1), "breaking"),
    ("field renamed", lambda t: fields(t)[1].update(name="email_address"), "breaking"),
    ("type changed", lambda t: fields(t)[2].update(type="varchar(10)"), "breaking"),
    ("type narrowed", lambda t: fields(t)[1].update(type="varchar(100)"), "breaking"),
    ("type widened", lambda t: fields(t)[1].update(type="varchar(500)"), "additive"),
    ("integer widened", lambda t: fields(t)[2].update(type="bigint"), "additive"),
    ("required added", lambda t: fields(t)[1].update(required=True), "breaking"),
    ("required dropped", lambda t: fields(t)[3].update(required=False), "breaking"),
    ("unique added", lambda t: fields(t)[1].update(unique=True), "breaking"),
    ("accepted values narrowed", lambda t: t["quality"][0]["params"].update(values=["raw", "mql"]), "breaking"),
    ("accepted values widened", lambda t: t["quality"][0]["params"].update(values=["raw", "mql", "sql", "won"]),
     "additive"),
    ("field added", lambda t: fields(t).append({"name": "company", "type": "text"}), "additive"),
    ("object added", lambda t: t["schema"].append({"name": "accounts", "fields": []}), "additive"),
    ("object removed", lambda t: t["schema"].clear(), "breaking"),
    ("quality rule added", lambda t: t["quality"].append(
        {"object": "leads", "field": "lead_id", "rule": "unique", "params": {}}), "additive"),
    ("quality rule removed", lambda t: t["quality"].pop(1), "breaking"),
    ("freshness loosened", lambda t: t["sla"].update(freshness_hours=48), "breaking"),
    ("freshness tightened", lambda t: t["sla"].update(freshness_hours=12), "additive"),
    ("availability lowered", lambda t: t["sla"].update(availability_percent=99.0), "breaking"),
    ("notice period shortened", lambda t: t.update(notice_period_days=7), "breaking"),
    ("notice period lengthened", lambda t: t.update(notice_period_days=60), "additive"),
    ("classification changed", lambda t: fields(t)[2].update(classification="confidential"), "additive"),
])
def test_classification(description, mutate, expected):
    result = changed(mutate)
    assert result.change_class == expected, (description, result.changes)
    if expected != "cosmetic" or description != "nothing changed":
        assert result.changes, description


def test_worst_change_decides_and_every_change_is_listed():
    def mutate(t):
        fields(t).pop(1)
        fields(t).append({"name": "company", "type": "text"})
        fields(t)[0]["description"] = "Key"

    result = changed(mutate)
    assert result.change_class == "breaking"
    kinds = sorted({c["class"] for c in result.changes})
    assert kinds == ["additive", "breaking", "cosmetic"]


@pytest.mark.parametrize(("previous", "new", "change_class", "ok"), [
    ("1.0.0", "2.0.0", "breaking", True),
    ("1.0.0", "1.1.0", "breaking", False),
    ("1.0.0", "1.0.1", "breaking", False),
    ("1.0.0", "1.1.0", "additive", True),
    ("1.0.0", "2.0.0", "additive", False),
    ("1.0.0", "1.0.1", "additive", False),
    ("1.0.0", "1.0.1", "cosmetic", True),
    ("1.0.0", "1.1.0", "cosmetic", False),
    ("1.2.3", "1.2.3", "cosmetic", False),
    ("1.2.3", "1.2.2", "cosmetic", False),
    ("0.3.0", "0.4.0", "breaking", True),
    ("1.0.0", "one", "cosmetic", False),
])
def test_semver_bump_must_match(previous, new, change_class, ok):
    if ok:
        check_bump(previous, new, change_class)
    else:
        with pytest.raises(TermsError) as error:
            check_bump(previous, new, change_class)
        assert error.value.as_dict()["version"]


def test_validation_reports_every_problem_with_its_path():
    bad = copy.deepcopy(BASE)
    fields(bad).append({"name": "email", "type": "text"})
    bad["quality"].append({"object": "leads", "field": "nope", "rule": "not_null"})
    bad["quality"].append({"object": "leads", "field": "status", "rule": "telepathy"})
    bad["quality"].append({"object": "leads", "field": "email", "rule": "pattern", "params": {"pattern": "("}})
    bad["quality"].append({"object": "leads", "field": None, "rule": "custom_sql",
                           "params": {"query": "DELETE FROM leads"}})
    bad["sla"]["availability_percent"] = 120
    bad["notice_period_days"] = -1
    bad["schedule"] = "every day"
    with pytest.raises(TermsError) as error:
        validate(bad)
    paths = set(error.value.as_dict())
    assert {"schema[0].fields[4].name", "quality[2].field", "quality[3].rule", "quality[4].params.pattern",
            "quality[5].params.query", "sla.availability_percent", "notice_period_days", "schedule"} <= paths


def test_valid_terms_pass():
    validate(BASE)
    validate({})
