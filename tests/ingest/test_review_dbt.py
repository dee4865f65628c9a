"""Review (R17): hostile dbt artifacts and failures mid-ingestion. Each test names the defect it
guards against: a 500 or a run left 'running' where a clear failure or a warning belongs."""

from __future__ import annotations

import copy
import json
from unittest import mock

from django.test import TestCase

from catalog.models import Dataset, Field
from ingest import dbt
from ingest.models import DbtNode, IngestionRun, IngestionStatus
from permissions.models import AuditRecord
from tests import factories
from tests.ingest.test_dbt import artifact, footprint, run_ingestion


def manifest() -> dict:
    return copy.deepcopy(artifact("shop/built/manifest.json"))


def parsed(document: dict) -> dbt.Artifacts:
    return dbt.parse_artifacts(document)


class HostileArtifactTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def test_a_column_name_longer_than_a_field_name_ingests_twice(self):
        document = manifest()
        long_name = "c" * 300
        document["nodes"]["model.shop.stg_orders"]["columns"][long_name] = {
            "name": long_name, "description": "long", "meta": {}, "data_type": None, "constraints": [],
            "quote": None, "tags": [], "granularity": None, "doc_blocks": []}
        first = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(first.status, IngestionStatus.FAILED, first.errors)
        before = footprint()
        second = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(second.status, IngestionStatus.FAILED, second.errors)
        self.assertEqual(footprint(), before)

    def test_a_unique_id_longer_than_the_node_column_ingests_twice(self):
        document = manifest()
        node = document["nodes"].pop("model.shop.stg_accounts")
        node["unique_id"] = "model.shop." + "x" * 600
        document["nodes"][node["unique_id"]] = node
        first = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(first.status, IngestionStatus.FAILED, first.errors)
        before = footprint()
        second = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(second.status, IngestionStatus.FAILED, second.errors)
        self.assertEqual(footprint(), before)

    def test_two_models_with_the_same_schema_and_alias(self):
        document = manifest()
        document["nodes"]["model.shop.stg_customers"]["alias"] = "stg_orders"
        run = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.RUNNING)
        before = footprint()
        run_ingestion(parsed(document), self.warehouse)
        self.assertEqual(footprint(), before)

    def test_case_twins_among_columns(self):
        document = manifest()
        columns = document["nodes"]["model.shop.stg_orders"]["columns"]
        columns["Order_ID"] = {**columns["order_id"], "name": "Order_ID"}
        run = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.RUNNING)

    def test_meta_owner_as_a_list_or_number_and_punctuation_tags(self):
        document = manifest()
        node = document["nodes"]["model.shop.stg_orders"]
        node["meta"] = {"owner": ["a", "b"], "department": 12, "deep": {"a": {"b": {"c": [1, [2, [3]]]}}}}
        node["tags"] = ["!!!", "---", "¿?"]
        run = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.FAILED, run.errors)

    def test_depends_on_and_attached_node_pointing_at_missing_ids(self):
        document = manifest()
        document["nodes"]["model.shop.stg_orders"]["depends_on"]["nodes"] = ["model.shop.nowhere"]
        test = document["nodes"]["test.shop.not_null_stg_orders_order_id.81cfe2fe64"]
        test["attached_node"] = "model.shop.nowhere"
        test["depends_on"]["nodes"] = ["model.shop.nowhere"]
        run = run_ingestion(parsed(document), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.FAILED, run.errors)


class FailureMidIngestionTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def test_an_unexpected_error_fails_the_run_and_writes_nothing(self):
        artifacts = parsed(manifest())
        before = (Dataset.objects.count(), Field.objects.count(), DbtNode.objects.count(),
                  AuditRecord.objects.count())
        with mock.patch.object(dbt._Ingestion, "_tests", side_effect=RuntimeError("boom")):
            try:
                run_ingestion(artifacts, self.warehouse)
            except RuntimeError:
                pass
        run = IngestionRun.objects.get()
        self.assertEqual(run.status, IngestionStatus.FAILED)
        self.assertIsNotNone(run.finished_at)
        project_audits = AuditRecord.objects.count() - before[3]
        self.assertEqual((Dataset.objects.count(), Field.objects.count(), DbtNode.objects.count()), before[:3])
        self.assertLessEqual(project_audits, 1)  # at most the project's registration


class PermissionReviewTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        from tests.mixins import make_user

        sales, marketing = factories.department(slug="sales"), factories.department(slug="marketing")
        cls.lead = make_user("review-sales-lead")
        factories.membership(cls.lead, department=sales, role="lead")
        cls.warehouse = factories.system(slug="warehouse", owner_department=sales)
        cls.crm = factories.system(slug="crm", name="CRM", owner_department=marketing)

    def client_for(self, user):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(user)
        return client

    def test_schema_systems_do_not_carry_an_ingestion_into_another_departments_system(self):
        """The sales lead may change the warehouse, not marketing's CRM: mapping a schema onto the
        CRM must not let the ingestion write there on the lead's behalf."""
        client = self.client_for(self.lead)
        response = client.post("/api/v1/dbt-projects/", {"name": "shop", "system": self.warehouse.pk,
                                                          "schema_systems": {"raw": "crm"}}, format="json")
        if response.status_code == 201:
            response = client.post("/api/v1/ingest/dbt/", {"manifest": manifest()}, format="json")
            self.assertEqual(response.status_code, 403, response.content[:500])
        else:
            self.assertIn(response.status_code, (400, 403), response.content[:500])
        self.assertFalse(Dataset.objects.filter(system=self.crm).exists())


class DraftHiddenFieldTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        from django.contrib.contenttypes.models import ContentType

        from permissions.models import AccessRule
        from tests.ingest.test_dbt import built
        from tests.mixins import make_user

        finance, cls.sales = factories.department(slug="finance"), factories.department(slug="sales")
        cls.lead = make_user("review-finance-lead", is_staff=True)
        factories.membership(cls.lead, department=finance, role="lead")
        warehouse = factories.system(slug="warehouse", owner_department=finance)
        run_ingestion(built(), warehouse)
        cls.fct = DbtNode.objects.get(unique_id="model.shop.fct_orders")
        email = Field.objects.get(dataset=cls.fct.dataset, name="customer_email")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.lead, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(email), target_id=email.pk,
                                  reason="review: emails are hidden from this lead")

    def test_the_draft_does_not_show_a_field_hidden_from_its_drafter(self):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(self.lead)
        response = client.post(f"/api/v1/dbt-nodes/{self.fct.pk}/draft-contract/", {"consumers": ["sales"]},
                               format="json")
        self.assertIn(response.status_code, (201, 400, 403), response.content[:500])
        self.assertNotIn(b"customer_email", response.content)


class HiddenDatasetTests(TestCase):
    """A deny rule hiding a dataset hides its dbt node and tests on every read path."""

    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth.models import Group
        from django.contrib.contenttypes.models import ContentType

        from permissions.models import AccessRule
        from tests.ingest.test_dbt import built
        from tests.mixins import make_user

        finance = factories.department(slug="finance")
        factories.department(slug="sales")
        cls.lead = make_user("review-hidden-lead", is_staff=True)
        factories.membership(cls.lead, department=finance, role="lead")
        cls.reader = make_user("review-hidden-reader", is_staff=True)
        cls.reader.groups.add(Group.objects.get(name="Readers"))
        warehouse = factories.system(slug="warehouse", owner_department=finance)
        run_ingestion(built(), warehouse)
        cls.node = DbtNode.objects.get(unique_id="model.shop.stg_customers")
        cls.hidden = cls.node.dataset
        cls.hidden.owner_department = finance
        cls.hidden.save()
        for user in (cls.lead, cls.reader):
            AccessRule.objects.create(subject_kind="user", subject_user=user, target_kind="object",
                                      target_type=ContentType.objects.get_for_model(cls.hidden),
                                      target_id=cls.hidden.pk, reason="review: hidden")

    def api(self, user):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(user)
        return client

    def test_api_read_paths(self):
        for user in (self.lead, self.reader):
            client = self.api(user)
            for url in ("/api/v1/dbt-nodes/", "/api/v1/dbt-tests/", "/api/v1/dbt-nodes/?ordering=-unique_id",
                        "/api/v1/dbt-tests/?ordering=-executed_at", "/api/v1/dbt-tests/?q=stg_customers"):
                response = client.get(url)
                self.assertEqual(response.status_code, 200, (url, response.content[:300]))
                self.assertNotIn(b"staging.stg_customers", response.content, (user, url))
                self.assertNotIn(b"unique_stg_customers", response.content, (user, url))
            for url in (f"/api/v1/dbt-nodes/?dataset={self.hidden.pk}", f"/api/v1/dbt-tests/?dataset={self.hidden.pk}"):
                response = client.get(url)
                self.assertNotIn(b"staging.stg_customers", response.content, (user, url))
            self.assertEqual(client.get(f"/api/v1/dbt-nodes/{self.node.pk}/").status_code, 404)
            response = client.post(f"/api/v1/dbt-nodes/{self.node.pk}/draft-contract/", {"consumers": ["sales"]},
                                   format="json")
            self.assertEqual(response.status_code, 404, response.content[:300])

    def test_admin_read_paths(self):
        from django.urls import reverse

        from ingest.models import DbtTest

        test = DbtTest.objects.filter(dataset=self.hidden).first()
        for user in (self.lead, self.reader):
            self.client.force_login(user)
            for name in ("admin:ingest_dbtnode_changelist", "admin:ingest_dbttest_changelist"):
                response = self.client.get(reverse(name))
                self.assertEqual(response.status_code, 200)
                self.assertNotIn(b"staging.stg_customers", response.content, (user, name))
                self.assertNotIn(b"unique_stg_customers", response.content, (user, name))
                response = self.client.get(reverse(name) + "?q=stg_customers")
                self.assertNotIn(b"staging.stg_customers", response.content, (user, name))
            for name, pk in (("admin:ingest_dbtnode_change", self.node.pk), ("admin:ingest_dbttest_change", test.pk)):
                response = self.client.get(reverse(name, args=[pk]))
                self.assertIn(response.status_code, (302, 404), (user, name))

    def test_a_relationships_test_does_not_name_the_hidden_dataset_it_points_to(self):
        """A relationships test on a visible dataset names the other end in its name, unique id and
        arguments (``to: ref('stg_customers')``): that dataset is its ``related_dataset``, a container,
        so the test is hidden with it."""
        response = self.api(self.reader).get("/api/v1/dbt-tests/")
        self.assertNotIn(b"stg_customers", response.content)


class HostileTextTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def test_a_nul_character_is_refused_naming_where(self):
        document = manifest()
        document["nodes"]["model.shop.stg_orders"]["description"] = "before\x00after"
        with self.assertRaisesMessage(dbt.IngestError, "NUL character (\\u0000) at nodes.model.shop.stg_orders."
                                                       "description"):
            parsed(document)
        document = manifest()
        document["nodes"]["model.shop.stg_orders"]["columns"]["a\x00b"] = {"name": "a\x00b"}
        with self.assertRaisesMessage(dbt.IngestError, "NUL character"):
            parsed(document)

    def test_deeply_nested_compiled_sql_is_dataset_lineage_with_a_warning(self):
        import time

        document = manifest()
        node = document["nodes"]["model.shop.fct_orders"]
        node["compiled_code"] = "select " + "(" * 3000 + "1" + ")" * 3000 + " as order_id from staging.stg_orders"
        started = time.monotonic()
        run = run_ingestion(parsed(document), self.warehouse)
        self.assertLess(time.monotonic() - started, 60)
        self.assertNotEqual(run.status, IngestionStatus.FAILED, run.errors)
        self.assertTrue(any("model.shop.fct_orders" in w and "does not parse" in w for w in run.warnings),
                        run.warnings)


class AuditReviewTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def test_every_row_an_ingestion_creates_has_its_audit_record(self):
        from catalog.models import LineageEdge, Tag
        from ingest.models import DbtTest
        from tests.ingest.test_dbt import built

        run = run_ingestion(built(), self.warehouse)
        records = AuditRecord.objects.filter(actor_name__endswith=f"ingest:{run.pk}")
        created = set(records.filter(action="create").values_list("object_type", "object_id"))
        for model in (Dataset, Field, DbtNode, DbtTest, LineageEdge, Tag):
            label = f"{model._meta.app_label}.{model._meta.model_name}"
            for pk in model.objects.values_list("pk", flat=True):
                self.assertIn((label, str(pk)), created)
        self.assertEqual(set(records.values_list("actor_name", flat=True)), {f"system:ingest:{run.pk}"})


class HostileRequestTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        from tests.mixins import make_user

        sales = factories.department(slug="sales")
        cls.lead = make_user("review-request-lead")
        factories.membership(cls.lead, department=sales, role="lead")
        factories.system(slug="warehouse", owner_department=sales)

    def test_a_body_that_is_not_an_object_is_a_400(self):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(self.lead)
        for body in ([1, 2], "manifest", 3, None):
            response = client.post("/api/v1/ingest/dbt/", json.dumps(body), content_type="application/json")
            self.assertEqual(response.status_code, 400, (body, response.content[:300]))
        response = client.post("/api/v1/ingest/dbt/", {"manifest": manifest(), "system": {"slug": "warehouse"}},
                               format="json")
        self.assertEqual(response.status_code, 400, response.content[:300])


class DraftRequestTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        from tests.ingest.test_dbt import built
        from tests.mixins import make_user

        cls.finance, cls.sales = factories.department(slug="finance"), factories.department(slug="sales")
        cls.lead = make_user("review-draft-lead", is_staff=True)
        factories.membership(cls.lead, department=cls.finance, role="lead")
        cls.steward = make_user("review-draft-steward")
        warehouse = factories.system(slug="warehouse", owner_department=cls.finance)
        run_ingestion(built(), warehouse)
        cls.fct = DbtNode.objects.get(unique_id="model.shop.fct_orders")
        dataset = cls.fct.dataset
        dataset.steward = cls.steward
        dataset.save()

    def post(self, user, body):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(user)
        return client.post(f"/api/v1/dbt-nodes/{self.fct.pk}/draft-contract/", body, format="json")

    def test_odd_bodies_are_400s(self):
        for body in ({"consumers": ["nobody"]}, {"consumers": "sales"}, {"consumers": [None]}, [1]):
            response = self.post(self.lead, body)
            self.assertEqual(response.status_code, 400, (body, response.content[:300]))

    def test_the_producer_as_its_own_consumer_is_refused_or_dropped(self):
        response = self.post(self.lead, {"consumers": ["finance"]})
        self.assertIn(response.status_code, (201, 400), response.content[:300])
        if response.status_code == 201:
            from governance.models import ContractVersion

            version = ContractVersion.objects.get(pk=response.json()["id"])
            self.assertNotIn(self.finance, list(version.contract.consumers.all()))

    def test_the_datasets_steward_may_not_draft(self):
        response = self.post(self.steward, {"consumers": ["sales"]})
        self.assertIn(response.status_code, (403, 404), response.content[:300])


class HostileResultsTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def test_a_failure_count_beyond_a_bigint_is_no_crash(self):
        results = copy.deepcopy(artifact("shop/built/run_results.json"))
        for result in results["results"]:
            result["failures"] = 10 ** 30
        run = run_ingestion(dbt.parse_artifacts(manifest(), None, results), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.FAILED, run.errors)

    def test_a_column_index_beyond_a_field_position_is_no_crash(self):
        catalog = copy.deepcopy(artifact("shop/built/catalog.json"))
        for node in catalog["nodes"].values():
            for column in node["columns"].values():
                column["index"] = -5 if column["name"] == "order_id" else 10 ** 12
        run = run_ingestion(dbt.parse_artifacts(manifest(), catalog), self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.FAILED, run.errors)

    def test_results_dbt_never_writes(self):
        results = copy.deepcopy(artifact("shop/built/run_results.json"))
        results["results"][0]["status"] = "exploded"
        results["results"][1]["failures"] = 10 ** 30
        results["results"][2]["unique_id"] = "test.shop.nowhere"
        results["results"][3]["message"] = "m" * 100_000
        try:
            artifacts = dbt.parse_artifacts(manifest(), None, results)
        except dbt.IngestError:
            return  # refused as a whole: a 400 naming the path
        run = run_ingestion(artifacts, self.warehouse)
        self.assertNotEqual(run.status, IngestionStatus.RUNNING)
        self.assertFalse(any("OverflowError" in e or "DataError" in e for e in run.errors), run.errors)
