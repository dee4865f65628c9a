"""A schema facet that narrows a contracted field is breaking drift, classified and announced by
the harvest's own code: the change names the contract and an incident is opened on it."""

from __future__ import annotations

import json
import uuid

import pytest
from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import schema_dataset
from openlineage.client.serde import Serde
from rest_framework.test import APIClient

from governance.models import Incident
from harvest.models import Compatibility, SchemaChange
from ingest.models import LineageNamespace
from tests.governance.compliance_fixtures import build_contract
from tests.mixins import make_user

pytestmark = pytest.mark.django_db
NAMESPACE = "sqlite:///warehouse.sqlite3"


def test_a_narrowed_contracted_field_is_breaking_drift_with_an_incident(tmp_path, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    world = build_contract(tmp_path, monkeypatch)
    LineageNamespace.objects.create(namespace=NAMESPACE, system=world["dataset"].system)
    facet = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="lead_id", type="integer"),
        schema_dataset.SchemaDatasetFacetFields(name="email", type="varchar(100)")])
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-12-07T10:00:00Z", run=Run(runId=str(uuid.uuid4())),
                     job=Job(namespace="spark", name="score_leads"),
                     inputs=[InputDataset(namespace=NAMESPACE, name="leads", facets={"schema": facet})])
    client = APIClient()
    client.force_authenticate(make_user("ol-admin", is_superuser=True, is_staff=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/lineage/openlineage/", json.loads(Serde.to_json(event)), format="json")
    assert response.status_code == 200, response.content
    change = SchemaChange.objects.get(field_name="email")
    assert (change.kind, change.before, change.after) == ("type_narrowed", "varchar(255)", "varchar(100)")
    assert (change.compatibility, change.contracts) == (Compatibility.BREAKING, [world["contract"].pk])
    assert Incident.objects.filter(contract=world["contract"]).exists()
