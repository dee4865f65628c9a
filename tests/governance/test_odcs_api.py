"""ODCS through the API: every shared example imports, exports back unchanged, and
every contract Accord exports validates against the standard's JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rest_framework.test import APIClient

from governance import odcs
from governance.models import ContractVersion
from tests import factories
from tests.mixins import make_user

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "odcs"
EXAMPLES = sorted((SHARED / "examples").glob("*.yaml")) if SHARED.exists() else []
FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.yaml"))
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason=f"the ODCS reference files are not at {SHARED}")


@pytest.fixture
def council_client(db):
    from django.conf import settings
    from django.contrib.auth.models import Group

    user = make_user(f"council-{factories.n()}")
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client = APIClient()
    client.force_authenticate(user)
    factories.department(name="Producers", slug="producers")
    factories.department(name="Consumers", slug="consumers")
    return client


def _import(client, text):
    return client.post("/api/v1/contracts/import-odcs/", {"document": text, "producer": "producers",
                                                            "consumers": ["consumers"]}, format="json")


@needs_shared
@pytest.mark.django_db
@pytest.mark.parametrize("path", EXAMPLES + FIXTURES, ids=lambda p: p.name)
def test_every_example_imports_and_exports_unchanged(council_client, path):
    text = path.read_text()
    original = odcs.load_document(text)
    response = _import(council_client, text)
    assert response.status_code == 201, response.content
    # Three of the standard's examples declare v3.0.2 but use v3.1 features: accepted, with a warning.
    assert bool(response.json()["warnings"]) == bool(odcs.validate(original))
    version_id = response.json()["id"]
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        exported = council_client.get(f"/api/v1/contract-versions/{version_id}/odcs/", {"as": fmt})
        assert exported.status_code == 200
        document = load(exported.content.decode())
        assert odcs.load_document(json.dumps(document)) == original
        assert odcs.validate(document) == [] or odcs.validate(document, "3.1.0") == []


@needs_shared
@pytest.mark.django_db
def test_invalid_documents_point_at_the_offending_path(council_client):
    document = yaml.safe_load((SHARED / "examples" / "schema__table-column.odcs.yaml").read_text())
    document["schema"][0]["properties"][0]["logicalType"] = 42
    del document["version"]
    response = _import(council_client, json.dumps(document))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "document.version" in errors or "document" in errors
    assert any("logicalType" in key for key in errors), errors
    assert not ContractVersion.objects.exists()
    garbage = _import(council_client, "key: [unclosed")
    assert garbage.status_code == 400
    assert "line" in garbage.json()["detail"]


@needs_shared
@pytest.mark.django_db
def test_a_contract_written_in_accord_exports_valid_odcs_and_reimports(council_client):
    from governance.demo import HANDOFF_TERMS

    contract = factories.contract(name="Lead hand-off", slug="lead-handoff")
    response = council_client.post("/api/v1/contract-versions/", {
        "contract": "lead-handoff", "version": "1.0.0", "terms": HANDOFF_TERMS}, format="json")
    assert response.status_code == 201, response.content
    exported = council_client.get(f"/api/v1/contract-versions/{response.json()['id']}/odcs/", {"as": "yaml"})
    document = yaml.safe_load(exported.content)
    assert odcs.validate(document) == []
    assert document["name"] == "Lead hand-off" and document["version"] == "1.0.0"
    reimported = odcs.split(odcs.load_document(exported.content.decode()))
    for key in ("schema", "sla", "support_channel", "schedule", "notice_period_days"):
        assert reimported.terms[key] == odcs.split(document).terms[key]
    assert reimported.terms["notice_period_days"] == 30
    assert {r["rule"] for r in reimported.terms["quality"]} == {r["rule"] for r in HANDOFF_TERMS["quality"]}
    assert contract.versions.count() == 1
