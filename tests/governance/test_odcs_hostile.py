"""Hostile and unusual ODCS documents: every one answers a JSON 4xx that says what was wrong, in bounded time,
and leaves nothing half-written. None reaches a 500, a crash of the process or a worker time-out.

Each case is tried through the API as a council user and through the service (``odcs_io.import_document``),
which is what commands and tasks that parse documents call."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from rest_framework.test import APIClient

from governance import odcs
from governance.models import ContractVersion, DataContract
from governance.services import odcs_io
from permissions.errors import Invalid
from permissions.models import AuditRecord
from tests import factories
from tests.mixins import make_user

ROOT = Path(__file__).resolve().parents[2]


def nested_document(depth: int, *, leaf: dict | None = None) -> dict:
    """A valid contract whose first property nests `depth` levels of object properties."""
    prop = leaf or {"name": "leaf", "logicalType": "string"}
    for level in range(depth):
        prop = {"name": f"p{level}", "logicalType": "object", "properties": [prop]}
    return {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "nested", "name": f"Nested {depth}",
            "version": "1.0.0", "status": "active",
            "schema": [{"name": "t", "logicalType": "object", "properties": [prop]}]}


@pytest.fixture
def council(db):
    user = make_user(f"council-{factories.n()}")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client = APIClient()
    client.force_authenticate(user)
    producer = factories.department(name="Producers", slug="producers")
    consumer = factories.department(name="Consumers", slug="consumers")
    return client, user, producer, consumer


def _counts() -> tuple[int, int, int]:
    return DataContract._base_manager.count(), ContractVersion._base_manager.count(), AuditRecord.objects.count()


def _post(client, document):
    return client.post("/api/v1/contracts/import-odcs/", {"document": document, "producer": "producers",
                                                           "consumers": ["consumers"]}, format="json")


def refused_everywhere(council, document, *words: str) -> dict:
    """The API answers a JSON 400 whose body names `words`; the service refuses the same; nothing is written."""
    client, user, producer, consumer = council
    before = _counts()
    response = _post(client, document)
    assert response.status_code == 400, (response.status_code, response.content[:500])
    body = response.json()
    text = json.dumps(body).lower()
    for word in words:
        assert word.lower() in text, (word, body)
    with pytest.raises(Invalid):
        odcs_io.import_document(document, producer=producer, consumers=[consumer], contract=None, actor=user)
    assert _counts() == before
    return body


# --------------------------------------------------------------------------------------------------------------------
# Nesting: validation time linear in the document, depth bounded before validating


def test_nested_properties_validate_in_linear_time():
    timings = {}
    for depth in (6, 12, 24):
        document = nested_document(depth)
        started = time.perf_counter()
        assert odcs.validate(document) == []
        timings[depth] = time.perf_counter() - started
    # Before: depth 7 took 3 s and every level tripled it; a depth-12 document is now validated well under a second.
    assert timings[12] < 1.0, timings
    assert timings[24] < 1.0, timings


def test_an_error_deep_down_is_reported_at_its_path():
    document = nested_document(12, leaf={"name": "leaf", "logicalType": "string", "unknownKey": 1})
    issues = odcs.validate(document)
    deepest = "schema[0]" + ".properties[0]" * 13 + ".unknownKey"
    assert [issue.path for issue in issues] == [deepest], issues
    wrong_type = nested_document(3, leaf={"name": "leaf", "logicalType": "strange"})
    assert [issue.path for issue in odcs.validate(wrong_type)] == ["schema[0]" + ".properties[0]" * 4 + ".logicalType"]


@pytest.mark.parametrize("version", odcs.SCHEMA_VERSIONS)
@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("leaf", [
    pytest.param({"name": "ok", "logicalType": "integer", "logicalTypeOptions": {"minimum": 1}}, id="valid"),
    pytest.param({"name": "bad", "logicalType": "integer", "logicalTypeOptions": {"minLength": 1}}, id="option"),
    pytest.param({"logicalType": "string"}, id="no-name"),
    pytest.param({"name": "list", "logicalType": "array", "items": {"logicalType": "string", "extra": True}},
                 id="item-key"),
    pytest.param({"name": "list", "logicalType": "array", "items": {"logicalType": "object", "properties": [
        {"name": "x", "logicalType": "date", "logicalTypeOptions": {"maximum": 3}}]}}, id="item-properties"),
    pytest.param({"name": "stray", "logicalType": "string", "properties": [{"name": "x"}]}, id="stray-properties"),
    pytest.param({"name": "untyped", "properties": [{"name": "x", "unique": "yes"}]}, id="untyped-parent"),
    pytest.param({"name": "x", "logicalType": "object", "properties": ["text", {"name": 3}]}, id="non-objects"),
])
def test_validation_by_levels_answers_as_the_whole_schema(version, depth, leaf):
    """Validating one level of properties at a time reports what the standard's schema applied to the whole
    document reports, except the "unevaluated property" echoes of a failing nested property on its ancestors."""
    document = nested_document(depth, leaf=leaf)
    document["apiVersion"] = f"v{version}"
    whole = odcs._issues(((), error) for error in odcs._whole_schema_validator(version).iter_errors(document))
    by_levels = odcs.validate(document)
    assert (by_levels == []) == (whole == [])
    real = [issue for issue in whole if issue.validator != "unevaluatedProperties"]
    assert [issue for issue in by_levels if issue.validator != "unevaluatedProperties"] == real
    assert set(by_levels) <= set(whole)


SHARED_EXAMPLES = ROOT.parent / "shared" / "data" / "odcs" / "examples"
FIXTURES = Path(__file__).parent / "fixtures"
KNOWN_DOCUMENTS = [*sorted(SHARED_EXAMPLES.glob("*.yaml")), *sorted(FIXTURES.glob("*.yaml"))]


def _mutations(document: dict):
    """The document, and copies broken in one place each: a stray key, a wrong type, a missing name."""
    yield document
    for path, change in ((("schema",), lambda node: node.append({"name": "x", "stray": 1})),
                         (("schema", 0), lambda node: node.update(physicalType=3)),
                         (("schema", 0, "properties", 0), lambda node: node.pop("name", None)),
                         (("schema", 0, "properties", -1), lambda node: node.update(logicalType="strange"))):
        broken = json.loads(json.dumps(document))
        node = broken
        try:
            for part in path:
                node = node[part]
        except (KeyError, IndexError, TypeError):
            continue
        change(node)
        yield broken


@pytest.mark.parametrize("version", odcs.SCHEMA_VERSIONS)
def test_the_fast_check_answers_as_jsonschema(version):
    """jsonschema-rs decides whether a document is valid and where to look; the answers are those of jsonschema
    validating every part (the standard's examples where ../shared is checked out, Accord's fixtures, broken
    copies of them)."""
    levels = odcs._schema_validator(version)
    compared = 0
    for path in KNOWN_DOCUMENTS:
        for document in _mutations(odcs.load_document(path.read_text())):
            assert odcs.validate(document, version) == odcs._issues(levels.errors(document)), path.name
            compared += 1
    assert compared >= 5


@pytest.mark.parametrize("extra", [
    pytest.param({"contractCreatedTs": "not a time"}, id="date-time-unchecked"),
    pytest.param({"team": [{"username": "a", "dateIn": "2020-13-45"}]}, id="date-checked"),
    pytest.param({"team": [{"username": "a", "dateIn": "2020-01-05"}]}, id="date-valid"),
    pytest.param({"servers": [{"server": "s", "type": "s3", "location": "not a uri"}]}, id="uri-unchecked"),
])
def test_formats_are_checked_as_jsonschema_checks_them(extra):
    document = {**nested_document(0), **extra}
    for version in odcs.SCHEMA_VERSIONS:
        document["apiVersion"] = f"v{version}"
        assert odcs.validate(document) == odcs._issues(odcs._schema_validator(version).errors(document)), version


def test_ten_thousand_properties_validate_in_well_under_a_second():
    """jsonschema alone took 18 s (2 ms a property: unevaluatedProperties re-evaluating every branch)."""
    properties = [{"name": f"col_{index}", "logicalType": "string", "physicalType": "varchar(20)", "required": True,
                   "quality": [{"metric": "nullValues", "mustBe": 0}]} for index in range(10_000)]
    document = nested_document(0)
    document["schema"][0]["properties"] = properties
    odcs.validate(nested_document(0))  # the schemas are compiled once per process
    started = time.perf_counter()
    assert odcs.validate(document) == []
    properties[5_000]["stray"] = True
    properties[7_000]["logicalType"] = "strange"
    assert [issue.path for issue in odcs.validate(document)] == [
        "schema[0].properties[5000].stray", "schema[0].properties[7000].logicalType"]
    assert time.perf_counter() - started < 2.0


@pytest.mark.django_db
def test_a_deep_valid_document_imports_quickly(council):
    client = council[0]
    started = time.perf_counter()
    response = _post(client, json.dumps(nested_document(12)))
    assert response.status_code == 201, response.content[:500]
    assert time.perf_counter() - started < 5


@pytest.mark.django_db
def test_nesting_beyond_the_limit_is_refused_naming_it(council):
    body = refused_everywhere(council, json.dumps(nested_document(odcs.MAX_DEPTH)), "nested", str(odcs.MAX_DEPTH))
    assert "document" in body["errors"]


@pytest.mark.django_db
def test_deep_json_is_refused_not_a_recursion_error(council):
    refused_everywhere(council, "[" * 100_000 + "]" * 100_000, "nested", str(odcs.MAX_DEPTH))
    refused_everywhere(council, '{"a":' * 50_000 + "1" + "}" * 50_000, "nested")


@pytest.mark.django_db
def test_deep_yaml_is_refused(council):
    refused_everywhere(council, "[" * 50_000 + "]" * 50_000, "nested", str(odcs.MAX_DEPTH))
    block = "".join(" " * level + "-\n" for level in range(2000))
    refused_everywhere(council, block, "nested")


@pytest.mark.parametrize("text", [
    pytest.param("a: " + "[" * 50_000 + "]" * 50_000, id="flow"),
    pytest.param("- " * 50_000 + "x", id="block"),
    pytest.param("[" * 50_000 + "]" * 50_000, id="json-or-flow"),
])
def test_deep_yaml_does_not_crash_the_process(text, tmp_path):
    """50,000 nested lists (100 KB) made libyaml's composer overflow the C stack: a segmentation fault."""
    source = tmp_path / "deep.yaml"
    source.write_text(text)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from governance import odcs
        try:
            odcs.load_document(Path({str(source)!r}).read_text())
        except odcs.OdcsError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert f"nested more than {odcs.MAX_DEPTH} levels" in result.stdout


# --------------------------------------------------------------------------------------------------------------------
# Values JSON or the database cannot hold


@pytest.mark.django_db
@pytest.mark.parametrize("text, words", [
    pytest.param('{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1.0.0", "status": "a", '
                 '"price": {"priceAmount": ' + "9" * 5000 + "}}", ("digits",), id="json-huge-integer"),
    pytest.param("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: a\nprice:\n  priceAmount: "
                 + "9" * 5000 + "\n", ("digits",), id="yaml-huge-integer"),
    pytest.param('{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x\\ud800", "version": "1.0.0", '
                 '"status": "a"}', ("surrogate",), id="json-lone-surrogate"),
    pytest.param('apiVersion: v3.1.0\nkind: DataContract\nid: "x\\ud800"\nversion: 1.0.0\nstatus: a\n',
                 ("unicode",), id="yaml-lone-surrogate"),  # libyaml refuses the escape itself
    pytest.param('{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1.0.0", "status": "a", '
                 '"\\udfff": 1}', ("surrogate",), id="json-lone-surrogate-key"),
    pytest.param("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: a\nprice:\n  priceAmount: "
                 "1e400\n", ("number",), id="yaml-infinite-float"),
])
def test_values_without_a_json_equivalent_are_refused(council, text, words):
    refused_everywhere(council, text, *words)


@pytest.mark.django_db
def test_huge_sla_durations_are_refused(council):
    document = nested_document(0)
    for value, unit in ((1e308, "d"), (10 ** 400, "y"), (1e308, "ms")):
        document["slaProperties"] = [{"property": "latency", "value": value, "unit": unit}]
        text = json.dumps(document)
        client = council[0]
        response = _post(client, text)
        assert response.status_code in (201, 400), (value, unit, response.content[:500])
        if response.status_code == 201:  # a representable number of hours
            hours = ContractVersion.objects.get(pk=response.json()["id"]).terms["sla"]["freshness_hours"]
            assert hours is None or hours < float("inf")
            ContractVersion.objects.all().delete()
            DataContract._base_manager.all().delete()
        else:
            assert "latency" in json.dumps(response.json()) or "slaProperties" in json.dumps(response.json())


@pytest.mark.django_db
def test_a_lone_surrogate_in_the_request_body_object_is_refused(council):
    client = council[0]
    before = _counts()
    body = '{"document": {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "\\ud800", "version": "1", ' \
           '"status": "active"}, "producer": "producers", "consumers": ["consumers"]}'
    response = client.post("/api/v1/contracts/import-odcs/", body, content_type="application/json")
    assert response.status_code == 400 and "surrogate" in response.content.decode().lower(), response.content[:300]
    assert _counts() == before


@pytest.mark.django_db
def test_a_deep_request_body_is_refused(council):
    client = council[0]
    body = '{"document": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post("/api/v1/contracts/import-odcs/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")


# --------------------------------------------------------------------------------------------------------------------
# Size


@pytest.mark.django_db
def test_an_oversized_document_is_refused_naming_the_limit(council):
    document = nested_document(0)
    document["description"] = {"purpose": "x" * (odcs.MAX_DOCUMENT_BYTES + 1)}
    body = refused_everywhere(council, yaml.safe_dump(document), "bytes", f"{odcs.MAX_DOCUMENT_BYTES:,}")
    assert "document" in body["errors"]


@pytest.mark.django_db
def test_an_oversized_request_body_answers_413_in_json(council, settings):
    client = council[0]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = _counts()
    response = _post(client, "x" * 20_000)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "10,000" in response.json()["detail"] or "10000" in response.json()["detail"]
    # The API generally, not only the import; and a form-encoded body too (Django's own check).
    other = client.post("/api/v1/departments/", {"name": "y" * 20_000}, format="json")
    assert other.status_code == 413 and other["Content-Type"].startswith("application/json")
    form = client.post("/api/v1/departments/", {"name": "y" * 20_000})
    assert form.status_code == 413 and form["Content-Type"].startswith("application/json")
    assert _counts() == before


# --------------------------------------------------------------------------------------------------------------------
# YAML 1.1 surprises


def test_yaml_is_read_with_yaml_1_2_scalars():
    document = odcs.load_document(textwrap.dedent("""\
        apiVersion: v3.1.0
        kind: DataContract
        id: x
        values: [NO, no, Yes, "off", on, y, 'n', true, False, TRUE]
        times: [12:30, 1:20:30, 0o17, 012, 0x1F, 1_000, +5, -3.5, 1e3, .5, ~, null, 190:20:30.15]
        """))
    assert document["values"] == ["NO", "no", "Yes", "off", "on", "y", "n", True, False, True]
    assert document["times"][:2] == ["12:30", "1:20:30"]
    assert document["times"][2:5] == [15, 12, 31]
    assert document["times"][5] == "1_000"
    assert document["times"][6:10] == [5, -3.5, 1000.0, 0.5]
    assert document["times"][10:12] == [None, None]
    assert document["times"][12] == "190:20:30.15"


@pytest.mark.django_db
def test_accepted_values_keep_no_and_times(council):
    client = council[0]
    text = textwrap.dedent("""\
        apiVersion: v3.1.0
        kind: DataContract
        id: answers
        name: Answers
        version: 1.0.0
        status: active
        schema:
          - name: answers
            properties:
              - name: answer
                logicalType: string
                quality:
                  - metric: invalidValues
                    arguments:
                      validValues: [YES, NO, 12:30]
                    mustBe: 0
        """)
    response = _post(client, text)
    assert response.status_code == 201, response.content[:500]
    version = ContractVersion.objects.get(pk=response.json()["id"])
    assert version.terms["quality"][0]["params"]["values"] == ["YES", "NO", "12:30"]
    # Reported, not silently applied: the import says where YAML 1.1 tools would read the document otherwise.
    warnings = response.json()["warnings"]
    assert len(warnings) == 3 and all("YAML 1.1" in warning for warning in warnings), warnings
    assert "line 15, column 38: 12:30 is read as '12:30'" in warnings[2] and "750" in warnings[2]
    quoted = _post(client, text.replace("[YES, NO, 12:30]", '["YES", "NO", "12:30"]').replace("Answers", "Quoted"))
    assert quoted.status_code == 201 and quoted.json()["warnings"] == []


# --------------------------------------------------------------------------------------------------------------------
# Names and slugs


@pytest.mark.django_db
def test_an_overlong_name_is_refused_naming_the_limit(council):
    document = nested_document(0)
    document["name"] = "n" * 1_000_000
    body = refused_everywhere(council, json.dumps(document), "200")
    assert "document.name" in body["errors"], body


@pytest.mark.django_db
def test_names_longer_than_a_slug_do_not_collide_as_already_existing(council):
    client = council[0]
    first, second = nested_document(0), nested_document(0)
    first["name"] = "a" * 195 + "-one"
    second["name"] = "a" * 195 + "-two"
    assert _post(client, json.dumps(first)).status_code == 201
    response = _post(client, json.dumps(second))
    assert response.status_code == 201, response.content[:500]
    slugs = list(DataContract.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == 2 and all(len(slug) <= 200 for slug in slugs)


@pytest.mark.django_db
def test_an_overlong_version_label_is_refused(council):
    document = nested_document(0)
    document["version"] = "1." * 100
    refused_everywhere(council, json.dumps(document), "version")
