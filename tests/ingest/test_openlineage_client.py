"""openlineage-python's own client, with its HTTP transport and API-key auth, sending events to
a real Accord server on 127.0.0.1, as a scheduler configured for Accord would."""

from __future__ import annotations

import uuid

import requests
from django.test import LiveServerTestCase
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from catalog.models import LineageEdge
from ingest.models import LineageNamespace, UnknownNamespace
from permissions.services import create_token
from tests import factories
from tests.mixins import make_user

WAREHOUSE = "postgres://warehouse.example.com:5432/shop"


class OpenLineageClientTests(LiveServerTestCase):
    host = "127.0.0.1"

    def setUp(self):
        sales = factories.department()
        self.lead = make_user("ol-client-lead")
        factories.membership(self.lead, department=sales, role="lead")
        self.warehouse = factories.system(slug="warehouse", owner_department=sales)
        LineageNamespace.objects.create(namespace=WAREHOUSE, system=self.warehouse)
        _, self.raw_token = create_token(user=self.lead, name="airflow", actor=self.lead)

    def client_with(self, token: str) -> OpenLineageClient:
        return OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=self.live_server_url, endpoint="api/v1/lineage/openlineage/",
            auth=ApiKeyTokenProvider({"api_key": token}), retry={"total": 0})))

    def test_the_client_sends_a_run_and_accord_keeps_its_lineage(self):
        lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={"lead_id": column_lineage_dataset.Fields(
            inputFields=[column_lineage_dataset.InputField(namespace=WAREHOUSE, name="shop.raw.leads", field="id")])})
        run, job = Run(runId=str(uuid.uuid4())), Job(namespace="airflow", name="nightly.build_leads")
        inputs = [InputDataset(namespace=WAREHOUSE, name="shop.raw.leads"),
                  InputDataset(namespace="s3://raw-events", name="clicks")]
        outputs = [OutputDataset(namespace=WAREHOUSE, name="shop.staging.stg_leads",
                                 facets={"columnLineage": lineage})]
        client = self.client_with(self.raw_token)
        client.emit(RunEvent(eventType=RunState.START, eventTime="2026-12-07T10:00:00Z", run=run, job=job,
                             inputs=inputs, outputs=outputs))
        self.assertFalse(LineageEdge.objects.exists())
        client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2026-12-07T10:05:00Z", run=run, job=job,
                             inputs=inputs, outputs=outputs))
        edges = set(LineageEdge.objects.values_list("source__qualified_name", "target__qualified_name",
                                                    "source_field__name", "target_field__name"))
        self.assertEqual(edges, {("raw.leads", "staging.stg_leads", None, None),
                                 ("raw.leads", "staging.stg_leads", "id", "lead_id")})
        self.assertEqual(UnknownNamespace.objects.get().namespace, "s3://raw-events")

    def test_a_bad_token_is_refused(self):
        client = self.client_with("not-a-token")
        with self.assertRaises(requests.HTTPError) as raised:
            client.transport.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2026-12-07T10:05:00Z",
                                           run=Run(runId=str(uuid.uuid4())), job=Job(namespace="a", name="b")))
        self.assertEqual(raised.exception.response.status_code, 401)
