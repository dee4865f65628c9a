"""``POST /api/v1/lineage/openlineage/`` with events built by openlineage-python's own classes and
serialized by its serializer, as a scheduler's OpenLineage client sends them."""

from __future__ import annotations

import json
import uuid

from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.serde import Serde
from rest_framework.test import APIClient

from catalog.models import Dataset, Field, LineageEdge
from catalog.models.lineage import LineageOrigin
from harvest.models import SchemaChange
from ingest.models import LineageNamespace, UnknownNamespace
from ingest.openlineage import qualified_name
from permissions.models import AccessRule, AuditRecord
from permissions.services import create_token
from tests import factories
from tests.mixins import make_user

URL = "/api/v1/lineage/openlineage/"
WAREHOUSE = "postgres://warehouse.example.com:5432/shop"
LAKE = "s3://raw-events"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def schema(*columns: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=name, type=kind, ordinal_position=i)
        for i, (name, kind) in enumerate(columns, start=1)])


def column_lineage(**mapping: list[tuple[str, str, str]]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        target: column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(namespace=namespace, name=name, field=column, transformations=[
                column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")])
            for namespace, name, column in sources])
        for target, sources in mapping.items()})


def event(state=RunState.COMPLETE, *, inputs=(), outputs=(), time="2026-12-07T10:00:00.000Z",
          job="nightly.build_leads", run_id=None) -> dict:
    built = RunEvent(eventType=state, eventTime=time, run=Run(runId=run_id or str(uuid.uuid4())),
                     job=Job(namespace="airflow", name=job), inputs=list(inputs), outputs=list(outputs),
                     producer=PRODUCER)
    return json.loads(Serde.to_json(built))


def leads_run(time="2026-12-07T10:00:00.000Z", email_type="varchar(200)", run_id=None) -> dict:
    return event(time=time, run_id=run_id, inputs=[
        InputDataset(namespace=WAREHOUSE, name="shop.raw.leads",
                     facets={"schema": schema(("id", "integer"), ("email", email_type))}),
        InputDataset(namespace=LAKE, name="clicks/2026/12/07"),
    ], outputs=[
        OutputDataset(namespace=WAREHOUSE, name="shop.staging.stg_leads", facets={
            "schema": schema(("lead_id", "integer"), ("email", email_type)),
            "columnLineage": column_lineage(lead_id=[(WAREHOUSE, "shop.raw.leads", "id")],
                                            email=[(WAREHOUSE, "shop.raw.leads", "email")])}),
    ])


class OpenLineageTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        sales = factories.department()
        cls.lead, cls.employee = make_user("ol-lead"), make_user("ol-employee")
        factories.membership(cls.lead, department=sales, role="lead")
        factories.membership(cls.employee, department=sales)
        cls.warehouse = factories.system(slug="warehouse", owner_department=sales)
        LineageNamespace.objects.create(namespace=WAREHOUSE, system=cls.warehouse)
        cls.raw = factories.dataset(system=cls.warehouse, qualified_name="raw.leads", name="Raw leads",
                                    description="Leads as the web form writes them")
        cls.raw_id = factories.field(dataset=cls.raw, name="id", data_type="integer", position=1,
                                     description="The form's id")
        _, cls.raw_token = create_token(user=cls.lead, name="airflow", actor=cls.lead)

    def send(self, body, user=None, token=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        else:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or self.raw_token}")
        return client.post(URL, body, format="json")

    def test_a_complete_run_links_inputs_to_outputs_field_to_field(self):
        response = self.send(leads_run())
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(body["events"], {"COMPLETE": 1})
        self.assertEqual(body["unknown_namespaces"], [LAKE])
        staging = Dataset.objects.get(system=self.warehouse, qualified_name="staging.stg_leads")
        edge = LineageEdge.objects.get(source=self.raw, target=staging, source_field=None)
        self.assertEqual((edge.origin, edge.job), (LineageOrigin.OPENLINEAGE, "airflow/nightly.build_leads"))
        self.assertEqual(edge.last_run_at.isoformat(), "2026-12-07T10:00:00+00:00")
        mapped = set(LineageEdge.objects.filter(target=staging, source_field__isnull=False).values_list(
            "source_field__name", "target_field__name"))
        self.assertEqual(mapped, {("id", "lead_id"), ("email", "email")})
        # The schema facet registered the new fields, with their types, as a harvest would.
        self.assertEqual(dict(Field.objects.filter(dataset=staging).values_list("name", "data_type")),
                         {"lead_id": "integer", "email": "varchar(200)"})
        self.assertEqual(Field.objects.get(dataset=self.raw, name="email").data_type, "varchar(200)")
        # Curated metadata stays people's.
        self.raw.refresh_from_db()
        self.raw_id.refresh_from_db()
        self.assertEqual(self.raw.description, "Leads as the web form writes them")
        self.assertEqual(self.raw_id.description, "The form's id")
        # Written under the system actor, in the request.
        actors = set(AuditRecord.objects.filter(object_type="catalog.lineageedge").values_list("actor_name",
                                                                                            flat=True))
        self.assertEqual(actors, {"system:openlineage"})

    def test_unknown_namespaces_are_recorded_for_someone_to_map(self):
        self.send(leads_run())
        self.send(leads_run(time="2026-12-08T10:00:00Z"))
        row = UnknownNamespace.objects.get(namespace=LAKE)
        self.assertEqual((row.events, row.example_names), (2, ["clicks/2026/12/07"]))
        listed = APIClient()
        listed.force_authenticate(self.employee)
        self.assertEqual([r["namespace"] for r in listed.get("/api/v1/unknown-namespaces/").json()["results"]],
                         [LAKE])
        # Once mapped, it is no longer listed, and the next events land on the System.
        LineageNamespace.objects.create(namespace=LAKE, system=factories.system(owner_department=self.warehouse
                                                                                .owner_department))
        self.assertEqual(listed.get("/api/v1/unknown-namespaces/").json()["results"], [])
        self.assertEqual(self.send(leads_run(time="2026-12-09T10:00:00Z")).json()["unknown_namespaces"], [])
        self.assertTrue(Dataset.objects.filter(qualified_name="clicks/2026/12/07").exists())

    def test_the_same_event_twice_writes_nothing_and_a_later_run_moves_last_run_at_only(self):
        run_id = str(uuid.uuid4())
        self.send(leads_run(run_id=run_id))
        records, edges, fields = AuditRecord.objects.count(), LineageEdge.objects.count(), Field.objects.count()
        again = self.send(leads_run(run_id=run_id)).json()
        self.assertEqual(again["counts"]["lineage"]["added"] + again["counts"]["lineage"]["changed"], 0)
        self.assertEqual((AuditRecord.objects.count(), LineageEdge.objects.count(), Field.objects.count()),
                         (records, edges, fields))
        later = self.send(leads_run(time="2026-12-08T10:00:00Z")).json()
        self.assertEqual(later["counts"]["lineage"], {"added": 0, "changed": 3, "unchanged": 0})
        self.assertEqual(LineageEdge.objects.count(), edges)
        self.assertEqual({e.last_run_at.isoformat() for e in LineageEdge.objects.all()},
                         {"2026-12-08T10:00:00+00:00"})
        # An older event arriving late does not move it back.
        self.send(leads_run(time="2026-12-01T10:00:00Z"))
        self.assertEqual({e.last_run_at.isoformat() for e in LineageEdge.objects.all()},
                         {"2026-12-08T10:00:00+00:00"})

    def test_a_changed_type_is_drift_classified_like_a_harvest(self):
        self.send(leads_run())
        # A field new to a registered dataset is drift; the fields of a dataset new to Accord are not.
        changes = {(c.dataset.qualified_name, c.field_name, c.kind, c.compatibility, c.run.trigger)
                   for c in SchemaChange.objects.select_related("dataset", "run")}
        self.assertEqual(changes, {("raw.leads", "email", "field_added", "compatible", "api")})
        SchemaChange.objects.all().delete()
        self.send(leads_run(time="2026-12-08T10:00:00Z", email_type="varchar(100)"))
        changes = {(c.dataset.qualified_name, c.field_name, c.kind, c.compatibility)
                   for c in SchemaChange.objects.select_related("dataset")}
        self.assertEqual(changes, {("raw.leads", "email", "type_narrowed", "compatible"),
                                   ("staging.stg_leads", "email", "type_narrowed", "compatible")})
        self.assertEqual(Field.objects.get(dataset=self.raw, name="email").data_type, "varchar(100)")

    def test_edges_people_drew_are_neither_touched_nor_doubled(self):
        staging = factories.dataset(system=self.warehouse, qualified_name="staging.stg_leads")
        drawn = LineageEdge.objects.create(source=self.raw, target=staging, transformation="Cleaned by hand")
        self.send(leads_run())
        self.assertEqual(LineageEdge.objects.filter(source=self.raw, target=staging, source_field=None).count(), 1)
        drawn.refresh_from_db()
        self.assertEqual((drawn.origin, drawn.job, drawn.last_run_at), ("", "", None))

    def test_start_running_and_fail_events_write_no_lineage(self):
        for state in (RunState.START, RunState.RUNNING, RunState.FAIL):
            body = leads_run()
            body["eventType"] = state.value
            self.assertEqual(self.send(body).status_code, 200)
        self.assertFalse(LineageEdge.objects.exists())
        self.assertFalse(Dataset.objects.filter(qualified_name="staging.stg_leads").exists())

    def test_a_list_of_events_is_taken_in_one_request(self):
        first = leads_run()
        second = event(inputs=[InputDataset(namespace=WAREHOUSE, name="shop.staging.stg_leads")],
                       outputs=[OutputDataset(namespace=WAREHOUSE, name="shop.marts.leads")], job="nightly.marts")
        body = self.send([first, second]).json()
        self.assertEqual(body["events"], {"COMPLETE": 2})
        self.assertTrue(LineageEdge.objects.filter(source__qualified_name="staging.stg_leads",
                                                   target__qualified_name="marts.leads").exists())

    def test_a_job_event_links_without_a_run_time_and_a_dataset_event_registers_its_schema(self):
        job = JobEvent(eventTime="2026-12-07T09:00:00Z", producer=PRODUCER, job=Job(namespace="airflow", name="plan"),
                       inputs=[InputDataset(namespace=WAREHOUSE, name="shop.raw.leads")],
                       outputs=[OutputDataset(namespace=WAREHOUSE, name="shop.marts.plan")])
        dataset = DatasetEvent(eventTime="2026-12-07T09:00:00Z", producer=PRODUCER, dataset=StaticDataset(
            namespace=WAREHOUSE, name="shop.raw.orders", facets={"schema": schema(("id", "bigint"))}))
        body = self.send([json.loads(Serde.to_json(job)), json.loads(Serde.to_json(dataset))]).json()
        self.assertEqual(body["events"], {"JobEvent": 1, "DatasetEvent": 1})
        edge = LineageEdge.objects.get(source=self.raw, target__qualified_name="marts.plan")
        self.assertEqual((edge.job, edge.last_run_at), ("airflow/plan", None))
        self.assertEqual(list(Field.objects.filter(dataset__qualified_name="raw.orders").values_list(
            "name", "data_type")), [("id", "bigint")])

    def test_a_facet_without_positions_leaves_the_registered_ones(self):
        factories.field(dataset=self.raw, name="status", data_type="text", position=7)
        facet = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="status", type="text")])
        self.send(event(inputs=[InputDataset(namespace=WAREHOUSE, name="shop.raw.leads",
                                             facets={"schema": facet})]))
        self.assertEqual(Field.objects.get(dataset=self.raw, name="status").position, 7)

    def test_malformed_events_are_a_400_naming_the_path_and_nothing_is_written(self):
        good = leads_run()
        cases = [
            ({k: v for k, v in good.items() if k != "eventType"}, "eventType"),
            ({**good, "eventTime": "yesterday"}, "eventTime"),
            ({**good, "run": {"runId": "not-a-uuid"}}, "run.runId"),
            ({**good, "inputs": {"namespace": WAREHOUSE}}, "inputs"),
            ({**good, "outputs": [{**good["outputs"][0], "name": 42}]}, "outputs[0].name"),
            ({**good, "eventType": "DONE"}, "eventType"),
        ]
        broken_schema = json.loads(json.dumps(good))
        broken_schema["outputs"][0]["facets"]["schema"]["fields"][1]["ordinal_position"] = "two"
        cases.append((broken_schema, "outputs[0].facets.schema.fields[1].ordinal_position"))
        broken_lineage = json.loads(json.dumps(good))
        del broken_lineage["outputs"][0]["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]["field"]
        cases.append((broken_lineage, "outputs[0].facets.columnLineage.fields.email.inputFields[0].field"))
        for body, path in cases:
            with self.subTest(path=path):
                response = self.send(body)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(path, response.json()["errors"])
        response = self.send([good, {**good, "eventTime": 7}])
        self.assertEqual(response.status_code, 400)
        self.assertIn("[1].eventTime", response.json()["errors"])
        self.assertFalse(LineageEdge.objects.exists())
        self.assertFalse(UnknownNamespace.objects.exists())
        self.assertFalse(Dataset.objects.filter(qualified_name="staging.stg_leads").exists())

    def test_who_may_not_change_the_system_is_refused_and_nothing_is_written(self):
        response = self.send(leads_run(), user=self.employee)
        self.assertEqual(response.status_code, 403)
        self.assertIn(self.warehouse.name, response.json()["detail"])
        self.assertFalse(LineageEdge.objects.exists())

    def test_a_hidden_system_answers_as_an_unknown_namespace(self):
        AccessRule.objects.create(subject_kind="user", subject_user=self.lead, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(self.warehouse),
                                  target_id=self.warehouse.pk, reason="tests")
        body = self.send(leads_run()).json()
        self.assertEqual(body["unknown_namespaces"], sorted([LAKE, WAREHOUSE]))
        self.assertFalse(LineageEdge.objects.exists())
        # Mapped, so not listed as unknown for the others.
        self.assertEqual(list(UnknownNamespace.objects.values_list("namespace", flat=True)), [LAKE])

    def test_a_reader_does_not_see_edges_into_a_dataset_hidden_from_them(self):
        self.send(leads_run())
        staging = Dataset.objects.get(qualified_name="staging.stg_leads")
        AccessRule.objects.create(subject_kind="user", subject_user=self.employee, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(staging), target_id=staging.pk,
                                  reason="tests")
        reader = APIClient()
        reader.force_authenticate(self.employee)
        seen = reader.get("/api/v1/lineage-edges/", {"page_size": 100}).json()["results"]
        self.assertEqual(seen, [])
        self.assertEqual(LineageEdge.objects.count(), 3)

    def test_anonymous_callers_are_refused(self):
        self.assertIn(APIClient().post(URL, leads_run(), format="json").status_code, (401, 403))


class QualifiedNameTests(TestCase):
    def test_the_rule_per_scheme(self):
        self.assertEqual(qualified_name(WAREHOUSE, "shop.crm.leads"), "crm.leads")
        self.assertEqual(qualified_name("postgres://h:5432/shop", "other.crm.leads"), "other.crm.leads")
        self.assertEqual(qualified_name("snowflake://acme-xy12345", "DB.CRM.LEADS"), "DB.CRM.LEADS")
        self.assertEqual(qualified_name("bigquery", "project.crm.leads"), "project.crm.leads")
        self.assertEqual(qualified_name("s3://raw-events", "clicks/2026"), "clicks/2026")
        self.assertEqual(qualified_name("mysql://h:3306", "crm.leads"), "crm.leads")
