"""ODCS versions: each document is checked against the schema of the minor version it declares
(v3.2.0 from the pinned package, v3.1.0 and v3.0.2 vendored), v3.2.0 documents import and export
unchanged, and ODCS v2 / the Data Contract Specification is refused with one clear message."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from governance import odcs
from governance.models import ContractVersion
from tests.governance.test_odcs_api import _import, council_client, orders_contract  # noqa: F401 (fixture)


def v32_contract() -> dict:
    document = copy.deepcopy(orders_contract())
    document["apiVersion"] = "v3.2.0"
    # v3.2 additions: an enum on a property, a context on the document.
    document["schema"][0]["properties"].append(
        {"name": "status", "logicalType": "string", "enum": [{"value": "open"}, {"value": "paid", "label": "Paid"}]})
    return document


def test_each_declared_version_picks_its_own_schema():
    assert odcs.schema_version_for({"apiVersion": "v3.0.1"}) == "3.0.2"
    assert odcs.schema_version_for({"apiVersion": "v3.1.0"}) == "3.1.0"
    assert odcs.schema_version_for({"apiVersion": "v3.2.0"}) == "3.2.0"
    assert odcs.schema_version_for({}) == "3.2.0"


def test_a_v32_construct_is_valid_only_under_v32():
    document = v32_contract()
    assert odcs.validate(document) == []
    assert odcs.validate(document, "3.2.0") == []
    declared_31 = {**document, "apiVersion": "v3.1.0"}
    issues = odcs.validate(declared_31)
    assert issues, "v3.1.0 has no enum on properties"
    assert any("schema[0].properties[2]" in issue.path for issue in issues)


def test_a_v31_document_is_invalid_under_v30():
    document = orders_contract()
    document["schema"][0]["properties"][0]["quality"] = [{"metric": "duplicateValues", "mustBe": 0}]
    assert odcs.validate(document) == []
    assert odcs.validate({**document, "apiVersion": "v3.0.2"}) != []  # `metric` is v3.1's; 3.0 has `rule`


@pytest.mark.django_db
def test_a_v32_document_imports_and_exports_unchanged(council_client):  # noqa: F811
    original = v32_contract()
    response = _import(council_client, yaml.safe_dump(original, sort_keys=False))
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    version = ContractVersion.objects.get(pk=response.json()["id"])
    assert [f["name"] for f in version.terms["schema"][0]["fields"]] == ["order_id", "amount", "status"]
    exported = council_client.get(f"/api/v1/contract-versions/{version.pk}/odcs/", {"as": "json"})
    assert exported.status_code == 200
    assert json.loads(exported.content) == original
    assert odcs.validate(json.loads(exported.content)) == []


@pytest.mark.django_db
def test_a_v31_document_using_v32_features_is_accepted_with_a_warning(council_client):  # noqa: F811
    document = {**v32_contract(), "apiVersion": "v3.1.0"}
    response = _import(council_client, json.dumps(document))
    assert response.status_code == 201, response.content
    assert any("declares v3.1.0 but follows ODCS v3.2.0" in w for w in response.json()["warnings"])


@pytest.mark.django_db
@pytest.mark.parametrize("document", [
    {"dataContractSpecification": "1.1.0", "id": "orders", "info": {"title": "Orders", "version": "1.0.0"}},
    {"apiVersion": "v2.2.2", "kind": "DataContract", "uuid": "x", "version": "1.0.0", "quantumName": "orders"},
], ids=["dcs", "odcs-v2"])
def test_v2_is_refused_with_one_clear_message(council_client, document):  # noqa: F811
    response = _import(council_client, json.dumps(document))
    assert response.status_code == 400
    body = response.json()
    assert "Accord imports ODCS v3.0, v3.1 and v3.2 only" in body["detail"]
    assert list(body["errors"]) == ["document.apiVersion"]
    assert not ContractVersion.objects.exists()
