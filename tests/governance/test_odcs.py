"""ODCS v3.1 import/export: every example of the standard comes back exactly, Accord's edits stay valid ODCS.

The standard's examples are read from ../shared/data/odcs (never copied into the project); tests that need them
skip, saying so, where that folder is absent. The JSON Schemas are the product's own (the open-data-contract-standard
package and governance/odcs_schemas), so validation is tested everywhere. Fixtures of our own are in ./fixtures.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from governance import odcs
from governance.odcs import ContractParts, OdcsError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "odcs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_MISSING = f"the ODCS reference files (the standard's examples) are not checked out at {SHARED}"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=SHARED_MISSING)

EXAMPLES = sorted(SHARED.glob("examples/*.yaml")) if SHARED.is_dir() else []
EXAMPLE_PARAMS = [pytest.param(path, id=path.stem.removesuffix(".odcs")) for path in EXAMPLES] or [
    pytest.param(None, marks=pytest.mark.skip(reason=SHARED_MISSING), id="no-examples")
]
FIXTURE_PARAMS = [pytest.param(path, id=path.stem.removesuffix(".odcs")) for path in sorted(FIXTURES.glob("*.yaml"))]

# Examples of the standard that declare v3.0.2 but use 3.1 constructs, so only the 3.1.0 schema accepts them.
DECLARED_VERSION_FAILURES = {
    "data-types__all-data-types": "logicalType timestamp/time and string date bounds are 3.1",
    "quality__column-completeness": "quality `metric` (3.0.2 requires `rule`)",
    "stakeholders__basic-four-dpo": "`team` as an object (3.0.2 requires a list)",
}

ACCORD_META = {
    "id": "accord-orders-to-finance",
    "name": "Orders for Finance",
    "version": "1.2.0",
    "status": "active",
    "domain": "sales",
    "description": {"purpose": "Finance reconciles confirmed orders against invoices.",
                    "usage": "Daily revenue reporting."},
}
ACCORD_TERMS = {
    "schema": [{
        "name": "orders", "physical_name": "sales.orders", "physical_type": "table",
        "description": "One row per confirmed order.",
        "fields": [
            {"name": "order_id", "physical_name": "order_id", "type": "bigint", "logical_type": "integer",
             "required": True, "unique": True, "primary_key": True, "classification": "internal",
             "description": "Order number, never reused."},
            {"name": "customer_email", "type": "varchar(320)", "logical_type": "string", "required": True,
             "classification": "pii", "description": "Buyer's e-mail address."},
            {"name": "status", "type": "varchar(20)", "logical_type": "string", "required": True},
            {"name": "amount", "type": "numeric(12,2)", "logical_type": "number"},
            {"name": "updated_at", "type": "timestamp", "logical_type": "timestamp", "required": True},
        ],
    }],
    "quality": [
        {"object": "orders", "field": "order_id", "rule": "not_null", "severity": "error"},
        {"object": "orders", "field": "order_id", "rule": "unique", "severity": "error"},
        {"object": "orders", "field": "customer_email", "rule": "pattern", "params": {"pattern": "^[^@ ]+@[^@ ]+$"},
         "severity": "warning", "description": "Looks like an e-mail address."},
        {"object": "orders", "field": "status", "rule": "accepted_values",
         "params": {"values": ["confirmed", "shipped", "cancelled"]}, "severity": "error"},
        {"object": "orders", "field": "amount", "rule": "range", "params": {"min": 0, "max": 1000000},
         "severity": "error"},
        {"object": "orders", "field": "updated_at", "rule": "freshness", "params": {"max_age_hours": 24},
         "severity": "warning"},
        {"object": "orders", "field": None, "rule": "row_count", "params": {"operator": ">=", "value": 1},
         "severity": "error"},
        {"object": "orders", "field": None, "rule": "custom_sql",
         "params": {"query": "SELECT COUNT(*) FROM sales.orders WHERE amount < 0 AND status <> 'cancelled'",
                    "operator": "=", "value": 0},
         "severity": "warning", "description": "Only cancelled orders may carry a negative amount."},
    ],
    "sla": {"freshness_hours": 6, "availability_percent": 99.5, "response_time_hours": 4},
    "support_channel": "#finance-data",
    "schedule": "0 6 * * *",
    "notice_period_days": 30,
    "state_definitions": ["lead-lifecycle/customer"],
}


def load(path: Path) -> dict:
    return odcs.load_document(path.read_text(encoding="utf-8"))


def example(stem: str) -> dict:
    path = SHARED / "examples" / f"{stem}.odcs.yaml"
    if not path.exists():
        pytest.skip(SHARED_MISSING)
    return load(path)


def fixture(stem: str) -> dict:
    return load(FIXTURES / f"{stem}.odcs.yaml")


def through_json(parts: ContractParts) -> ContractParts:
    """What the database gives back: JSON, with object keys reordered (PostgreSQL jsonb does not keep them)."""

    def shuffle(value):
        if isinstance(value, dict):
            return {key: shuffle(value[key]) for key in sorted(value, reverse=True)}
        if isinstance(value, list):
            return [shuffle(item) for item in value]
        return value

    stored = json.loads(json.dumps({"meta": parts.meta, "terms": parts.terms, "residual": parts.residual}))
    return ContractParts(**shuffle(stored))


def quality_by_place(terms: dict) -> dict:
    """Rules in order per (object, field): the order that join keeps (rules are written where they apply)."""
    places: dict = {}
    for rule in terms["quality"]:
        places.setdefault((rule["object"], rule["field"]), []).append(rule)
    return places


def issues_of(document: dict, version: str | None = None) -> list[str]:
    return [str(issue) for issue in odcs.validate(document, version)]


def edit_terms(terms: dict) -> dict:
    """Typical Accord edits: add a field and rules, drop a rule, change a type, set SLA and Accord-only terms."""
    terms = copy.deepcopy(terms)
    if not terms["schema"]:
        terms["schema"].append({"name": "accord_added", "physical_type": "table", "fields": []})
    target = terms["schema"][0]
    if target["fields"]:
        target["fields"][0]["type"] = "varchar(64)"
    target["fields"].append({"name": "added_by_accord", "type": "varchar(10)", "logical_type": "string",
                             "required": True, "classification": "internal", "description": "Added in Accord."})
    if terms["quality"]:
        terms["quality"].pop(0)
    terms["quality"].append({"object": target["name"], "field": "added_by_accord", "rule": "not_null",
                             "severity": "error"})
    terms["quality"].append({"object": target["name"], "field": None, "rule": "row_count",
                             "params": {"operator": ">", "value": 0}})
    terms["sla"]["freshness_hours"] = 12
    terms["sla"]["availability_percent"] = 99.9
    terms["notice_period_days"] = 30
    terms["state_definitions"] = ["lead-lifecycle/mql"]
    terms["schedule"] = "15 5 * * *"
    return terms


# --------------------------------------------------------------------------------------------------------------------
# The standard's examples


@pytest.mark.parametrize("path", EXAMPLE_PARAMS)
def test_example_round_trips_exactly(path):
    document = load(path)
    before = copy.deepcopy(document)
    parts = odcs.split(document)
    assert document == before, "split must not change its input"
    assert set(parts.meta) == {key for key in odcs.META_KEYS if key in document}
    assert odcs.check_terms(parts.terms) == []
    rebuilt = odcs.join(parts)
    assert rebuilt == document
    assert list(rebuilt) == list(document), "top-level keys come back in the author's order"
    assert odcs.join(through_json(parts)) == document, "the three parts survive JSON storage"
    assert list(odcs.join(through_json(parts))) == list(document)


@pytest.mark.parametrize("path", EXAMPLE_PARAMS)
def test_example_validates_with_its_declared_version_or_3_1(path):
    document = load(path)
    stem = path.stem.removesuffix(".odcs")
    assert issues_of(document, "3.1.0") == [], "every example of the standard is valid ODCS 3.1.0"
    declared = issues_of(document)
    if stem in DECLARED_VERSION_FAILURES:
        assert odcs.schema_version_for(document) == "3.0.2"
        assert declared, f"{stem} was expected to fail its declared version: {DECLARED_VERSION_FAILURES[stem]}"
    else:
        assert declared == []


@pytest.mark.parametrize("path", EXAMPLE_PARAMS)
def test_example_edited_in_accord_still_validates_and_reimports(path):
    parts = odcs.split(load(path))
    terms = edit_terms(parts.terms)
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert issues_of(exported) == []
    again = odcs.split(exported)
    expected = odcs.split(odcs.from_terms({"id": "x", "version": "1", "status": "s"}, terms)).terms  # normalised
    assert quality_by_place(again.terms) == quality_by_place(expected)
    assert {**again.terms, "quality": None} == {**expected, "quality": None}


@needs_shared
def test_examples_load_from_json_as_from_yaml():
    for path in EXAMPLES:
        document = load(path)
        assert odcs.load_document(json.dumps(document, indent="\t")) == document, path.name
        assert odcs.load_document(json.dumps(document).encode("utf-8")) == document, path.name


def test_table_column_description_fields():
    document = example("fundamentals__table-column-description")
    parts = odcs.split(document)
    assert parts.meta == {"id": "53581432-6c55-4ba2-a65f-72344a91553a", "name": "my_quantum", "version": "1.0.0",
                          "status": "active"}
    (table,) = parts.terms["schema"]
    assert (table["name"], table["physical_type"], table["description"]) == (
        "tbl", "table", "Provides core payment metrics")
    (column,) = table["fields"]
    assert column == {
        "name": "txn_ref_dt", "physical_name": None, "type": "date", "logical_type": "date", "required": False,
        "unique": False, "primary_key": False, "classification": None,
        "description": "Reference date for the transaction. Use this date in reports and aggregation rather than "
                       "txn_mystical_dt, as it is slightly too mystical.",
    }
    rest = parts.residual["schema"][0]["properties"][0]["rest"]
    assert rest == {"businessName": "Transaction reference date", "examples": ["2022-10-03", "2025-01-28"]}
    assert parts.residual["schema"][0]["rest"] == {"dataGranularityDescription": document["schema"][0][
        "dataGranularityDescription"]}
    assert parts.residual["document"] == {"kind": "DataContract", "apiVersion": "v3.0.2"}


def test_full_example_terms():
    parts = odcs.split(example("all__full-example"))
    terms = parts.terms
    assert [obj["name"] for obj in terms["schema"]] == ["tbl", "receivers"]
    receiver_id = terms["schema"][1]["fields"][0]
    assert receiver_id == {"name": "id", "physical_name": None, "type": "varchar(18)", "logical_type": "string",
                           "required": True, "unique": True, "primary_key": True, "classification": "restricted",
                           "description": "Unique identifier for receiver"}
    assert terms["schema"][0]["fields"][0]["physical_name"] == "txn_ref_dt"
    assert [(rule["object"], rule["field"], rule["rule"], rule["params"]) for rule in terms["quality"]] == [
        ("tbl", "rcvr_cntry_code", "not_null", {}),
        ("tbl", None, "row_count", {"operator": ">", "value": 1000000}),
    ]
    assert terms["quality"][0]["severity"] == "error"
    assert terms["sla"] == {"freshness_hours": 96, "availability_percent": None, "response_time_hours": None}
    assert terms["support_channel"] == "#product-help"
    assert terms["schedule"] == "0 20 * * *"
    assert parts.residual["schedule"] == {"from_quality": "0 20 * * *"}
    row_count = parts.residual["schema"][0]["quality"][0]
    assert row_count["rest"]["method"] == "reconciliation" and "mustBeGreaterThan" not in row_count["rest"]
    assert {"servers", "team", "roles", "price", "tags", "authoritativeDefinitions"} <= set(parts.residual["document"])


@pytest.mark.parametrize(("stem", "expected"), [
    ("quality__column-completeness",
     [{"object": "Air_Quality", "field": "UniqueID", "rule": "not_null", "params": {}, "severity": "error",
       "description": "This column should not contain null values"}]),
    ("quality__column-validity",
     [{"object": "Air_Quality", "field": "air_quality_status", "rule": "accepted_values",
       "params": {"values": ["", None, "n/a"], "operator": "<=", "value": 5, "unit": "percent"},
       "severity": "error", "description": "This column should be filled in 95% of the time"}]),
    ("quality__column-accuracy",
     [{"object": "Air_Quality", "field": "DataValue", "rule": "custom_sql",
       "params": {"query": "select count(*) from Air_Quality where DataValue <= 0 or DataValue >= 500",
                  "operator": "=", "value": 0},
       "severity": "error", "description": "This column should contain positive values under 500"}]),
    ("quality__column-custom", []),
])
def test_quality_examples_map_to_accord_rules(stem, expected):
    parts = odcs.split(example(stem))
    assert parts.terms["quality"] == expected
    records = parts.residual["schema"][0]["properties"][0]["quality"]
    if expected:
        assert records[0]["rest"]["dimension"] and records[0]["rest"]["businessImpact"] == "operational"
    else:  # Soda checks are not Accord's to run: kept whole
        assert [record["node"]["engine"] for record in records] == ["soda", "soda"]


def test_sla_example_maps_latency_and_keeps_dates():
    document = example("sla__database-table-sla")
    parts = odcs.split(document)
    assert parts.terms["sla"] == {"freshness_hours": 96, "availability_percent": None, "response_time_hours": None}
    records = parts.residual["slaProperties"]
    assert records[0] == {"term": "freshness_hours", "keys": ["property", "value", "unit", "element"],
                          "rest": {"property": "latency", "unit": "d", "element": "tab1.txn_ref_dt"},
                          "source_value": 4}
    # generalAvailability is the GA date in ODCS, not a percentage: kept verbatim.
    assert records[1] == {"node": document["slaProperties"][1]}
    edited = copy.deepcopy(parts.terms)
    edited["sla"]["freshness_hours"] = 48
    assert odcs.join(ContractParts(parts.meta, edited, parts.residual))["slaProperties"][0] == {
        "property": "latency", "value": 2, "unit": "d", "element": "tab1.txn_ref_dt"}
    edited["sla"]["freshness_hours"] = 5
    assert odcs.join(ContractParts(parts.meta, edited, parts.residual))["slaProperties"][0] == {
        "property": "latency", "value": 5, "unit": "h", "element": "tab1.txn_ref_dt"}
    edited["sla"]["freshness_hours"] = None
    assert [item["property"] for item in odcs.join(ContractParts(parts.meta, edited, parts.residual))[
        "slaProperties"]][:2] == ["generalAvailability", "endOfSupport"]


def test_adventureworks_schema_is_captured():
    document = example("all__postgresql-adventureworks-contract")
    terms = odcs.split(document).terms
    assert len(terms["schema"]) == len(document["schema"])
    assert sum(len(obj["fields"]) for obj in terms["schema"]) == sum(
        len(obj["properties"]) for obj in document["schema"])
    department = terms["schema"][0]
    assert department["physical_name"] == "department"
    assert department["fields"][0]["primary_key"] is True and department["fields"][0]["type"] == "serial"


# --------------------------------------------------------------------------------------------------------------------
# Our fixtures and Accord-native contracts


@pytest.mark.parametrize("path", FIXTURE_PARAMS)
def test_fixture_round_trips_exactly(path):
    document = load(path)
    parts = odcs.split(document)
    assert odcs.join(parts) == document
    assert odcs.join(through_json(parts)) == document
    assert list(odcs.join(through_json(parts))) == list(document)


@pytest.mark.parametrize("path", FIXTURE_PARAMS)
def test_fixture_is_valid_odcs(path):
    assert issues_of(load(path)) == []


def test_from_terms_builds_the_accord_export():
    document = odcs.from_terms(ACCORD_META, ACCORD_TERMS)
    assert document == fixture("accord_native")
    assert list(document)[:6] == ["apiVersion", "kind", "id", "name", "version", "status"]
    assert odcs.join(ContractParts(ACCORD_META, ACCORD_TERMS, {})) == document


def test_accord_export_reimports_identically():
    document = odcs.from_terms(ACCORD_META, ACCORD_TERMS)
    parts = odcs.split(document)
    assert parts.meta == ACCORD_META
    assert parts.terms == odcs.split(fixture("accord_native")).terms
    expected = odcs.empty_terms()
    expected.update(copy.deepcopy(ACCORD_TERMS))
    for obj in expected["schema"]:
        obj["fields"] = [{**dict.fromkeys(("physical_name", "type", "logical_type", "classification", "description")),
                          "required": False, "unique": False, "primary_key": False, **item} for item in obj["fields"]]
    for rule in expected["quality"]:
        rule.setdefault("params", {})
        rule.setdefault("description", None)
    assert parts.terms == expected
    assert odcs.join(parts) == document
    assert odcs.from_terms(parts.meta, parts.terms) == document


def test_from_terms_validates():
    assert issues_of(odcs.from_terms(ACCORD_META, ACCORD_TERMS)) == []
    minimal = odcs.from_terms({"id": "c1", "version": "0.1.0", "status": "draft"}, {})
    assert minimal == {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "c1", "version": "0.1.0",
                       "status": "draft"}
    assert issues_of(minimal) == []


def test_from_terms_needs_the_required_meta():
    with pytest.raises(OdcsError, match="id, version"):
        odcs.from_terms({"status": "draft"}, ACCORD_TERMS)


def test_edits_to_an_accord_contract():
    parts = odcs.split(odcs.from_terms(ACCORD_META, ACCORD_TERMS))
    terms = copy.deepcopy(parts.terms)
    orders = terms["schema"][0]
    orders["fields"].append({"name": "currency", "type": "char(3)", "logical_type": "string", "required": True})
    orders["fields"][3]["type"] = "numeric(14,2)"  # amount
    orders["fields"][0]["logical_type"] = "string"  # order_id
    terms["quality"] = [rule for rule in terms["quality"] if rule["rule"] != "unique"]
    terms["quality"].append({"object": "orders", "field": "currency", "rule": "accepted_values",
                             "params": {"values": ["EUR", "USD"]}, "severity": "error"})
    document = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert issues_of(document) == []
    properties = document["schema"][0]["properties"]
    assert [item["name"] for item in properties][-1] == "currency"
    assert properties[-1] == {"name": "currency", "logicalType": "string", "physicalType": "char(3)",
                              "required": True, "quality": [
                                  {"type": "library", "metric": "invalidValues",
                                   "arguments": {"validValues": ["EUR", "USD"]}, "mustBe": 0, "severity": "error"}]}
    assert properties[0]["logicalType"] == "string"
    assert [rule["metric"] for rule in properties[0]["quality"]] == ["nullValues"]
    assert properties[3]["physicalType"] == "numeric(14,2)"
    assert odcs.split(document).terms == odcs.split(odcs.from_terms(parts.meta, terms)).terms


def test_edits_keep_what_accord_does_not_model():
    document = example("all__full-example")
    parts = odcs.split(document)
    terms = copy.deepcopy(parts.terms)
    terms["schema"][0]["fields"][2]["description"] = "ISO 3166 country code"
    terms["schema"][0]["fields"][2]["required"] = True
    terms["schema"][1]["fields"].pop(1)  # country_code
    terms["quality"][1]["params"] = {"operator": "between", "value": [1000, 5000000]}
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert issues_of(exported) == []
    column = exported["schema"][0]["properties"][2]
    original = document["schema"][0]["properties"][2]
    assert column == {**original, "description": "ISO 3166 country code", "required": True}
    assert list(column) == list(original)
    assert [item["name"] for item in exported["schema"][1]["properties"]] == ["id", "receiver_name", "receiver_type"]
    row_count = exported["schema"][0]["quality"][0]
    assert row_count["mustBeBetween"] == [1000, 5000000] and "mustBeGreaterThan" not in row_count
    assert list(row_count)[:2] == ["metric", "mustBeBetween"], "the operator keeps its place"
    assert row_count["method"] == "reconciliation" and row_count["schedule"] == "0 20 * * *"
    for key in ("servers", "team", "roles", "price", "tags", "contractCreatedTs"):
        assert exported[key] == document[key]


def test_removed_rule_and_renamed_field():
    parts = odcs.split(example("all__full-example"))
    terms = copy.deepcopy(parts.terms)
    terms["quality"] = [rule for rule in terms["quality"] if rule["rule"] != "not_null"]
    terms["schema"][0]["fields"][1]["name"] = "receiver_id"  # a rename is a removal plus an addition
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    tbl = exported["schema"][0]["properties"]
    assert "quality" not in tbl[2], "the emptied quality list is dropped"
    assert tbl[1] == {"name": "receiver_id", "logicalType": "string", "physicalType": "varchar(18)",
                      "description": "A description for column rcvr_id.", "primaryKey": True,
                      "classification": "restricted"}


def test_logical_type_change_drops_the_old_types_options():
    parts = odcs.split(example("data-types__all-data-types"))
    terms = copy.deepcopy(parts.terms)
    fields = {item["name"]: item for item in terms["schema"][0]["fields"]}
    fields["amount"]["logical_type"] = "integer"
    fields["latest_txns"]["type"] = "list<int>"
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    by_name = {item["name"]: item for item in exported["schema"][0]["properties"]}
    assert "logicalTypeOptions" not in by_name["amount"]
    assert by_name["latest_txns"]["logicalTypeOptions"] == {"minItems": 0, "maxItems": 3, "uniqueItems": True}
    assert exported["apiVersion"] == "v3.1.0", "an edited v3.0.x contract is exported as Accord writes it"
    if SHARED.is_dir():
        assert issues_of(exported) == []


def test_legacy_v302_contract():
    document = fixture("legacy_v302")
    parts = odcs.split(document)
    assert [(rule["field"], rule["rule"], rule["params"]) for rule in parts.terms["quality"]] == [
        ("lead_id", "not_null", {}),
        ("lead_id", "unique", {"operator": "<", "value": 1, "unit": "rows"}),
        ("stage", "accepted_values", {"values": ["raw", "mql", "sql", "customer"]}),
        (None, "row_count", {"operator": "between", "value": [10, 100000]}),
    ]
    assert parts.terms["sla"] == {"freshness_hours": 1.5, "availability_percent": 99, "response_time_hours": 48}
    assert parts.terms["support_channel"] == "crm-data"
    assert odcs.join(parts) == document  # unedited: still v3.0.2, still 3.0-style

    terms = copy.deepcopy(parts.terms)
    terms["quality"][2]["params"]["values"].append("lost")
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert exported["apiVersion"] == "v3.1.0"
    lead_id, stage = exported["schema"][0]["properties"]
    assert lead_id["quality"][0] == {"metric": "nullValues", "description": "every lead has an id",
                                     "dimension": "completeness", "mustBe": 0}
    assert stage["quality"] == [{"metric": "invalidValues",
                                 "arguments": {"validValues": ["raw", "mql", "sql", "customer", "lost"]},
                                 "severity": "error", "mustBe": 0}]
    assert odcs.split(exported).terms == terms
    if SHARED.is_dir():
        assert issues_of(document) == []
        assert issues_of(exported) == []


def test_edge_cases_stay_verbatim():
    document = fixture("edge_cases")
    parts = odcs.split(document)
    terms = parts.terms
    assert [(rule["object"], rule["field"], rule["rule"]) for rule in terms["quality"]] == [
        ("events", None, "row_count"), ("events", "event_id", "not_null")]
    assert terms["quality"][1]["params"] == {"operator": "<", "value": 5, "unit": "percent"}
    assert terms["schedule"] is None, "two different schedules: not one contract schedule"
    assert terms["sla"]["freshness_hours"] == 0.25, "the first latency has an unknown unit; the second is mapped"
    assert terms["support_channel"] == "events-oncall"
    assert terms["notice_period_days"] == 14
    assert document["schema"][0]["properties"][0]["examples"] == ["2024-01-31"], "dates stay strings"
    kept = [record for record in parts.residual["schema"][0]["quality"] if "node" in record]
    assert [record["node"].get("type", record["node"].get("metric")) for record in kept] == [
        "text", "duplicateValues"]
    assert parts.residual["customProperties"][1] == {"node": {"property": "accord.futureSetting",
                                                              "value": {"enabled": True}}}

    edited = copy.deepcopy(terms)
    edited["notice_period_days"] = 0
    edited["schedule"] = "0 3 * * *"
    exported = odcs.join(ContractParts(parts.meta, edited, parts.residual))
    assert exported["customProperties"] == [
        {"property": "owner-team", "value": "platform"},
        {"property": "accord.futureSetting", "value": {"enabled": True}},
        {"property": "accord.noticePeriodDays", "value": 0, "description": "agreed at the 2024 council"},
        {"property": "accord.schedule", "value": "0 3 * * *"},
    ]
    assert odcs.split(exported).terms == edited
    if SHARED.is_dir():
        assert issues_of(exported) == []


def test_schedule_lives_in_quality_entries_when_they_carry_one():
    parts = odcs.split(example("all__full-example"))
    terms = copy.deepcopy(parts.terms)
    terms["schedule"] = "0 4 * * *"
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert exported["schema"][0]["quality"][0]["schedule"] == "0 4 * * *"
    assert exported["schema"][0]["properties"][2]["quality"][0]["schedule"] == "0 4 * * *"
    assert not any(item["property"].startswith("accord.") for item in exported["customProperties"])
    assert odcs.split(exported).terms["schedule"] == "0 4 * * *"

    terms["quality"] = []  # the carriers are gone: the schedule moves to accord.schedule
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert exported["customProperties"][-1] == {"property": "accord.schedule", "value": "0 4 * * *"}
    assert odcs.split(exported).terms["schedule"] == "0 4 * * *"

    terms = copy.deepcopy(parts.terms)
    terms["schedule"] = None
    exported = odcs.join(ContractParts(parts.meta, terms, parts.residual))
    assert "schedule" not in exported["schema"][0]["quality"][0]
    assert odcs.split(exported).terms["schedule"] is None


def test_meta_edits():
    parts = odcs.split(example("all__full-example"))
    meta = {**parts.meta, "version": "1.2.0", "name": "Seller views"}
    del meta["dataProduct"]
    exported = odcs.join(ContractParts(meta, parts.terms, parts.residual))
    assert exported["version"] == "1.2.0" and "dataProduct" not in exported
    assert list(exported)[-1] == "name", "a key the document lacked is appended"
    with pytest.raises(OdcsError, match="meta"):
        odcs.join(ContractParts({"owner": "x"}, parts.terms, parts.residual))


ODD_DOCUMENTS = {
    "sections-of-the-wrong-shape": {"schema": {"not": "a list"}, "slaProperties": "x", "support": {"channel": "a"},
                                    "customProperties": 5},
    "nested-wrong-shapes": {"schema": [{"name": "t", "properties": {"a": 1}, "quality": "q"}],
                            "slaProperties": ["s", {"property": "latency"}]},
    "nameless": {"schema": [{"properties": [{"quality": [{"metric": "nullValues", "mustBe": 0}]}]}, {"name": 7}]},
    "duplicate-names": {"schema": [
        {"name": "t", "quality": [{"metric": "rowCount", "mustBe": 1}]},
        {"name": "t", "properties": [
            {"name": "a", "required": "yes", "quality": [{"metric": "nullValues", "mustBe": 0}]},
            {"name": "a", "quality": [{"metric": "nullValues", "mustBe": 0}]}]}]},
    "checks-accord-cannot-run": {"schema": [{"name": "t", "properties": [{"name": "a", "quality": [
        {"metric": "nullValues", "mustBe": False}, {"metric": "nullValues", "mustBe": 0, "severity": None},
        {"type": "sql", "query": " ", "mustBe": 0}, {"metric": "nullValues", "mustBe": 0, "mustNotBe": 1},
        {"type": "custom", "engine": "accord", "implementation": {"rule": "freshness", "max_age_hours": 0}},
        {"metric": "rowCount", "mustBeBetween": [3, 1]}, {"metric": "rowCount", "mustBe": 1}, "text", None]}],
        "quality": [{"metric": "nullValues", "mustBe": 0}]}]},
    "odd-sla-support-custom": {
        "slaProperties": [{"property": "latency", "value": -1, "unit": "h"},
                          {"property": "latency", "value": True, "unit": "h"},
                          {"property": "availability", "value": 120}, {"property": "responseTime", "value": 90,
                                                                       "unit": "Min"}],
        "support": [{"channel": ""}, "x", {"channel": "b"}],
        "customProperties": [{"property": "accord.noticePeriodDays", "value": "30"},
                             {"property": "accord.noticePeriodDays", "value": 7},
                             {"property": "accord.stateDefinitions", "value": []}, "junk",
                             {"property": "accord.schedule"}]},
    "empty": {},
}


@pytest.mark.parametrize("document", ODD_DOCUMENTS.values(), ids=ODD_DOCUMENTS.keys())
def test_odd_documents_round_trip_too(document):
    parts = odcs.split(document)
    assert odcs.check_terms(parts.terms) == []
    assert odcs.join(parts) == document
    assert odcs.join(through_json(parts)) == document


def test_odd_documents_map_only_what_is_certain():
    assert odcs.split(ODD_DOCUMENTS["checks-accord-cannot-run"]).terms["quality"] == []
    assert odcs.split(ODD_DOCUMENTS["duplicate-names"]).terms["quality"] == []
    terms = odcs.split(ODD_DOCUMENTS["odd-sla-support-custom"]).terms
    assert terms["sla"] == {"freshness_hours": None, "availability_percent": None, "response_time_hours": 1.5}
    assert (terms["support_channel"], terms["notice_period_days"], terms["state_definitions"]) == ("b", 7, [])
    with pytest.raises(OdcsError, match="not a list"):
        odcs.join(ContractParts({}, {"schema": [{"name": "t"}]}, odcs.split(ODD_DOCUMENTS[
            "sections-of-the-wrong-shape"]).residual))


def test_join_does_not_share_state_with_its_parts():
    parts = odcs.split(fixture("edge_cases"))
    snapshot = copy.deepcopy(parts)
    exported = odcs.join(parts)
    exported["schema"][0]["tags"].append("changed")
    exported["customProperties"][1]["value"]["enabled"] = False
    assert parts == snapshot


# --------------------------------------------------------------------------------------------------------------------
# Terms checks


@pytest.mark.parametrize(("change", "problem"), [
    (lambda t: t["quality"].append({"object": "nope", "field": None, "rule": "row_count",
                                    "params": {"operator": ">", "value": 0}}), "'nope' is not a schema object"),
    (lambda t: t["quality"].append({"object": "orders", "field": "nope", "rule": "not_null"}),
     "'nope' is not a field of 'orders'"),
    (lambda t: t["quality"].append({"object": "orders", "field": None, "rule": "median"}), "rule must be one of"),
    (lambda t: t["quality"].append({"object": "orders", "field": None, "rule": "row_count"}),
     "needs an operator and a value"),
    (lambda t: t["quality"].append({"object": "orders", "field": None, "rule": "row_count",
                                    "params": {"operator": "between", "value": [5, 1]}}), "low < high"),
    (lambda t: t["schema"][0]["fields"][0].update(required="yes"), "required must be true or false"),
    (lambda t: t["sla"].update(availability_percent=101), "at most 100"),
    (lambda t: t.update(notice_period_days=-1), "notice_period_days"),
    (lambda t: t.update(owner="x"), "unknown terms key 'owner'"),
    (lambda t: t["quality"].append({"object": "orders", "field": None, "rule": "not_null"}), "applies to a field"),
    (lambda t: t["quality"].append({"object": "orders", "field": "amount", "rule": "row_count",
                                    "params": {"operator": ">", "value": 0}}), "row_count applies to the object"),
])
def test_malformed_terms_are_refused(change, problem):
    terms = copy.deepcopy(ACCORD_TERMS)
    change(terms)
    assert any(problem in message for message in odcs.check_terms(terms)), odcs.check_terms(terms)
    with pytest.raises(OdcsError, match="invalid terms"):
        odcs.from_terms(ACCORD_META, terms)


def test_check_terms_accepts_accord_terms():
    assert odcs.check_terms(ACCORD_TERMS) == []
    assert odcs.check_terms({}) == []


# --------------------------------------------------------------------------------------------------------------------
# Loading


def test_load_yaml_and_json():
    yaml_text = "apiVersion: v3.1.0\nkind: DataContract\nid: a\nversion: 1.0.0\nstatus: active\ncreated: 2024-01-02\n"
    json_text = json.dumps({"apiVersion": "v3.1.0", "kind": "DataContract", "id": "a", "version": "1.0.0",
                            "status": "active", "created": "2024-01-02"})
    assert odcs.load_document(yaml_text) == odcs.load_document(json_text)
    assert odcs.load_document("\ufeff" + yaml_text)["created"] == "2024-01-02"
    # Not JSON, but YAML flow style (YAML is a superset): accepted as YAML reads it.
    assert odcs.load_document('{"id": "a", "version": }') == {"id": "a", "version": None}


@pytest.mark.parametrize(("text", "message", "line"), [
    ("id: a\nschema:\n  - name: x\n   bad: indentation\n", "invalid YAML", 4),
    ("id: a\nid: b\n", "duplicate key 'id'", 2),
    ("id: a\n1: number key\n", "mapping keys must be strings", 2),
    ('{"id": "a",\n "version": "1" "x"}', "invalid JSON", 2),
    ("id: [unclosed\n", "invalid YAML", 2),
])
def test_load_errors_say_where(text, message, line):
    with pytest.raises(OdcsError, match=message) as caught:
        odcs.load_document(text)
    assert caught.value.line == line
    assert caught.value.column is not None
    assert str(caught.value).startswith(f"line {line}, column ")


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("- a\n- b\n", "mapping"),
    ("just text", "mapping"),
    ('{"id": "a", "id": "b"}', "duplicate key 'id'"),
    ('{"value": NaN}', "not a JSON number"),
    ("value: .nan\n", "value: nan is not a JSON number"),
    ("value: !!binary aGVsbG8=\n", "no JSON equivalent"),
    ("first: 1\n---\nsecond: 2\n", "invalid YAML"),
])
def test_load_refuses_what_is_not_a_json_document(text, message):
    with pytest.raises(OdcsError, match=message):
        odcs.load_document(text)


# --------------------------------------------------------------------------------------------------------------------
# Validation


def valid_contract() -> dict:
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "c", "version": "1.0.0", "status": "active",
        "schema": [{"name": "t", "properties": [
            {"name": "a", "logicalType": "string"},
            {"name": "b", "logicalType": "integer", "quality": [{"metric": "nullValues", "mustBe": 0}]},
        ]}],
    }


def test_validation_points_at_the_offending_path():
    document = valid_contract()
    assert odcs.validate(document) == []

    document["schema"][0]["properties"][1]["logicalType"] = "int"
    (issue,) = odcs.validate(document)
    assert (issue.path, issue.validator) == ("schema[0].properties[1].logicalType", "enum")
    assert "'int' is not one of" in issue.message

    document = valid_contract()
    del document["id"]
    document["schema"][0]["properties"][0]["required"] = "yes"
    issues = odcs.validate(document)
    assert [(issue.path, issue.validator) for issue in issues] == [
        ("id", "required"), ("schema[0].properties[0].required", "type")]
    assert issues[0].message == "required property 'id' is missing"


@pytest.mark.parametrize(("change", "path", "message"), [
    (lambda d: d.update(owner="me"), "owner", "property 'owner' is not allowed here"),
    (lambda d: d["schema"][0]["properties"][1]["quality"][0].pop("mustBe"),
     "schema[0].properties[1].quality[0]", "needs one of mustBe, mustNotBe"),
    (lambda d: d["schema"][0]["properties"][1]["quality"][0].update(mustBeLessThan=3),
     "schema[0].properties[1].quality[0]", "use only one of mustBe, mustBeLessThan"),
    (lambda d: d.update(team="data"), "team", "is not of type"),
    (lambda d: d.update(support=[{"tool": "slack"}]), "support[0].channel", "required property 'channel'"),
    (lambda d: d.update(apiVersion="v9"), "apiVersion", "is not one of"),
])
def test_validation_messages(change, path, message):
    document = valid_contract()
    change(document)
    issues = odcs.validate(document)
    assert [issue.path for issue in issues] == [path], [str(issue) for issue in issues]
    assert message in issues[0].message


def test_validation_follows_the_declared_version():
    document = valid_contract()
    document["support"] = [{"channel": "#data"}]  # 3.0.2 also wants a url
    assert odcs.validate(document) == []
    document["apiVersion"] = "v3.0.2"
    document["schema"][0]["properties"][1].pop("quality")
    assert [issue.path for issue in odcs.validate(document)] == ["support[0].url"]
    assert odcs.validate(document, "3.1.0") == []
    assert odcs.validate(document, "v3.1") == []
    with pytest.raises(OdcsError, match="unknown ODCS schema version"):
        odcs.validate(document, "4.0.0")


def test_the_schemas_are_the_products_own():
    """validate() reads the installed package's v3.2.0 schema and the vendored v3.1.0 and v3.0.2 ones, nothing
    beside the checkout; the package must be the 3.2 line pinned in requirements.txt."""
    from importlib import metadata, resources

    assert metadata.version("open-data-contract-standard").startswith("3.2.")
    packaged = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    assert packaged["properties"]["apiVersion"]["enum"][0] == "v3.2.0"
    for version, path in odcs.VENDORED_SCHEMAS.items():
        vendored = json.loads(path.read_text())
        assert vendored["properties"]["apiVersion"]["enum"][0] == f"v{version}"
        assert path.is_relative_to(ROOT / "governance")


def test_another_release_of_the_schema_package_is_a_clear_error(monkeypatch):
    from importlib import metadata

    odcs._schema_validator.cache_clear()
    monkeypatch.setattr(metadata, "version", lambda name: "3.3.0")
    try:
        with pytest.raises(OdcsError, match=r"open-data-contract-standard 3.3.0 is installed, but its schema is not "
                                            r"ODCS v3.2.0; install the version pinned in requirements.txt"):
            odcs.validate({**valid_contract(), "apiVersion": "v3.2.0"})
        assert issues_of(fixture("legacy_v302"), "3.0.2") == []  # the vendored schemas do not depend on it
        assert odcs.validate(valid_contract(), "3.1.0") == []
    finally:
        odcs._schema_validator.cache_clear()


@needs_shared
@pytest.mark.parametrize("version", ("3.1.0", "3.0.2"))
def test_the_schemas_are_the_published_ones(version):
    """Against the standard's published schema files in ../shared: v3.0.2 is the same JSON, and the vendored v3.1.0
    (the 3.1.2 package's) differs only by the deprecation note on dataProduct, an annotation that changes no
    validation result."""
    published = json.loads((SHARED / "schema" / f"odcs-json-schema-v{version}.json").read_text())
    ours = json.loads(odcs.VENDORED_SCHEMAS[version].read_text())
    if version == "3.1.0":
        published["properties"]["dataProduct"] = ours["properties"]["dataProduct"]
    assert ours == published
