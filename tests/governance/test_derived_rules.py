"""Rules derived from contract terms (governance.checks.derived) and the rules they use in governance.checks.data
(length, exclusive bounds, source guarantees, duplicated values), on a SQLite table with planted violations."""

from __future__ import annotations

import sqlite3

import pytest

from governance.checks.data import Rule, open_source, run_data_checks
from governance.checks.derived import derive, import_warnings

TERMS = {"schema": [{"name": "leads", "physical_name": "leads", "fields": [
    {"name": "lead_id", "primary_key": True, "logical_type": "integer"},
    {"name": "email", "required": True, "unique": True, "logical_type": "string"},
    {"name": "score", "logical_type": "number"},
    {"name": "country", "logical_type": "string", "enum": ["DE", "FR"]},
]}], "quality": [], "sla": {"freshness_hours": 24, "availability_percent": None, "response_time_hours": None}}
RESIDUAL = {"schema": [{"name": "leads", "properties": [
    {"name": "email", "logical_type": "string", "rest": {"logicalTypeOptions": {
        "pattern": "^[a-z]+@x\\.io$", "maxLength": 12, "minLength": 8, "format": "email"}}},
    {"name": "score", "logical_type": "number", "rest": {"logicalTypeOptions": {
        "exclusiveMinimum": 0, "maximum": 100}}},
], "quality": [{"node": {"type": "text", "description": "verified"}}]}],
    "slaProperties": [{"term": "freshness_hours", "rest": {"property": "latency", "element": "leads.updated_at"}},
                      {"node": {"property": "retention", "value": 3, "unit": "y"}}]}


def test_every_checkable_term_becomes_a_rule_with_a_stable_key():
    rules, unchecked = derive(TERMS, RESIDUAL)
    assert [(r.key, r.rule) for r in rules] == [
        ("schema.leads.lead_id.primaryKey.not_null", "not_null"),
        ("schema.leads.lead_id.primaryKey.unique", "unique"),
        ("schema.leads.email.required", "not_null"),
        ("schema.leads.email.unique", "unique"),
        ("schema.leads.email.logicalTypeOptions.pattern", "pattern"),
        ("schema.leads.email.logicalTypeOptions.maxLength", "length"),
        ("schema.leads.email.logicalTypeOptions.minLength", "length"),
        ("schema.leads.score.logicalTypeOptions.exclusiveMinimum", "range"),
        ("schema.leads.score.logicalTypeOptions.maximum", "range"),
        ("schema.leads.country.enum", "accepted_values"),
    ]  # updated_at is not a field of the contract: the SLA element is listed as unchecked
    assert derive(TERMS, RESIDUAL) == (rules, unchecked)  # deterministic
    paths = {u.path for u in unchecked}
    assert paths == {"schema.leads.email.logicalTypeOptions.format", "schema.leads.quality[0]", "slaProperties[0]",
                     "slaProperties[1]"}
    assert any("logicalTypeOptions.format" in w for w in import_warnings(TERMS, RESIDUAL))


def test_sla_latency_with_an_element_becomes_freshness():
    terms = {**TERMS, "schema": [{**TERMS["schema"][0], "fields": [*TERMS["schema"][0]["fields"],
                                                                   {"name": "updated_at"}]}]}
    rules, _ = derive(terms, RESIDUAL)
    fresh = [r for r in rules if r.rule == "freshness"]
    assert [(r.key, r.field, r.params) for r in fresh] == [("sla.latency.leads.updated_at", "updated_at",
                                                           {"max_age_hours": 24})]


@pytest.fixture
def source_dsn(tmp_path):
    path = tmp_path / "leads.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE leads (lead_id INTEGER PRIMARY KEY, email TEXT NOT NULL, score REAL, country TEXT)")
    rows = []
    for i in range(1, 101):
        email = "abcdef@x.io"  # 11 characters, matches
        if i <= 3:
            email = "ab@x.io"  # 3 too short (7 < 8), still matching the pattern
        elif i <= 5:
            email = "abcdefghij@x.io"  # 2 too long (15 > 12)
        elif i <= 9:
            email = "NOT-AN-EMAIL"  # 4 not matching (12 characters: length ok)
        score = 0 if i <= 6 else (100 if i <= 8 else (100.5 if i == 9 else 50))  # 6 at the exclusive 0, 1 > 100
        country = "XX" if i in (10, 11) else "DE"
        rows.append((i, f"{email}", score, country))
    db.executemany("INSERT INTO leads VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return f"sqlite:///{path}"


def test_derived_rules_count_exactly_what_was_planted(source_dsn):
    rules, _ = derive(TERMS, RESIDUAL)
    columns = {"lead_id": "integer", "email": "text", "score": "number", "country": "text"}
    checks = [Rule(r.key, r.rule, r.field, r.params, term=r.term) for r in rules]
    guarantees = {("unique", "lead_id"): "primary key (lead_id)", ("not_null", "email"): "NOT NULL email"}
    with open_source(source_dsn) as source:
        results = {r.key: r for r in run_data_checks(source, table="leads", columns=columns, rules=checks,
                                                     guarantees=guarantees)}
    got = {key: (r.status, r.violations) for key, r in results.items()}
    assert got == {
        "schema.leads.lead_id.primaryKey.not_null": ("pass", 0),
        "schema.leads.lead_id.primaryKey.unique": ("pass", 0),
        "schema.leads.email.required": ("pass", 0),
        "schema.leads.email.unique": ("fail", 100 - 4),  # rows beyond the first of each of the 4 values
        "schema.leads.email.logicalTypeOptions.pattern": ("fail", 4),
        "schema.leads.email.logicalTypeOptions.maxLength": ("fail", 2),
        "schema.leads.email.logicalTypeOptions.minLength": ("fail", 3),
        "schema.leads.score.logicalTypeOptions.exclusiveMinimum": ("fail", 6),
        "schema.leads.score.logicalTypeOptions.maximum": ("fail", 1),
        "schema.leads.country.enum": ("fail", 2),
    }, {k: r.message for k, r in results.items()}
    assert results["schema.leads.lead_id.primaryKey.unique"].guaranteed_by == "primary key (lead_id)"
    assert results["schema.leads.email.required"].guaranteed_by == "NOT NULL email"
    assert results["schema.leads.lead_id.primaryKey.not_null"].guaranteed_by is None  # scanned
    # 4 distinct emails repeat: the good one, the short one, the long one, the malformed one.
    assert results["schema.leads.email.unique"].duplicated_values == 4
    assert results["schema.leads.email.logicalTypeOptions.pattern"].term == "logicalTypeOptions.pattern"
