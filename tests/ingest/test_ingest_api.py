"""``POST /api/v1/ingest/dbt/``: artifacts as JSON or uploaded files, by whoever may change the
project's System; bad artifacts are a 400 naming what is wrong, and nothing is written."""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.test import TestCase, override_settings
from rest_framework.test import APIClient

from catalog.models import Dataset
from ingest.models import DbtProject, DbtTest, IngestionRun
from permissions.models import AccessRule, AuditRecord
from tests import factories
from tests.mixins import make_user

ARTIFACTS = Path(__file__).parent / "dbt_artifacts"
URL = "/api/v1/ingest/dbt/"


def read(path: str) -> dict:
    return json.loads((ARTIFACTS / path).read_text())


class DbtIngestAPITests(TestCase):
    @classmethod
    def setUpTestData(cls):
        sales = factories.department()
        cls.lead, cls.employee = make_user("dbt-lead"), make_user("dbt-employee")
        factories.membership(cls.lead, department=sales, role="lead")
        cls.warehouse = factories.system(slug="warehouse", owner_department=sales)

    def client_for(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def test_the_lead_ingests_json_artifacts_and_gets_the_run(self):
        body = {"manifest": read("shop/built/manifest.json"), "catalog": read("shop/built/catalog.json"),
                "run_results": read("shop/built/run_results.json"), "system": "warehouse"}
        response = self.client_for(self.lead).post(URL, body, format="json")
        self.assertEqual(response.status_code, 201, response.content[:500])
        data = response.json()
        self.assertEqual((data["project"]["name"], data["manifest_version"], data["status"]),
                         ("shop", "v12", "partial"))
        self.assertEqual(data["counts"]["datasets"]["added"], 8)
        self.assertTrue(Dataset.objects.filter(system=self.warehouse, qualified_name="marts.fct_orders").exists())
        self.assertEqual(DbtTest.objects.filter(status="fail").count(), 1)
        run = IngestionRun.objects.get(pk=data["id"])
        self.assertEqual(run.requested_by, self.lead)
        # The project now exists: the next ingestion needs no system.
        del body["system"]
        response = self.client_for(self.lead).post(URL, body, format="json")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["counts"]["datasets"]["unchanged"], 8)

    def test_files_upload_as_multipart(self):
        files = {name: io.BytesIO((ARTIFACTS / "shop" / "built" / f"{name}.json").read_bytes())
                 for name in ("manifest", "catalog", "run_results")}
        for name, handle in files.items():
            handle.name = f"{name}.json"
        response = self.client_for(self.lead).post(URL, {**files, "system": "warehouse"}, format="multipart")
        self.assertEqual(response.status_code, 201, response.content[:500])
        self.assertEqual(DbtTest.objects.exclude(status="").count(), 12)

    def test_others_may_not_ingest_and_nothing_is_written(self):
        writes = AuditRecord.objects.exclude(action="access_denied")  # the refusal itself is audited
        before = (DbtProject.objects.count(), Dataset.objects.count(), writes.count())
        response = self.client_for(self.employee).post(
            URL, {"manifest": read("shop/parsed/manifest.json"), "system": "warehouse"}, format="json")
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual((DbtProject.objects.count(), Dataset.objects.count(), writes.count()), before)
        self.assertTrue(AuditRecord.objects.filter(action="access_denied", actor_id=self.employee.pk).exists())

    def test_a_hidden_system_answers_as_a_missing_one(self):
        from django.contrib.contenttypes.models import ContentType

        AccessRule.objects.create(subject_kind="user", subject_user=self.lead, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(self.warehouse),
                                  target_id=self.warehouse.pk, reason="tests")
        for slug in ("warehouse", "no-such-system"):
            response = self.client_for(self.lead).post(
                URL, {"manifest": read("shop/parsed/manifest.json"), "system": slug}, format="json")
            self.assertEqual(response.status_code, 400)
            self.assertEqual(response.json()["errors"]["system"], [f"No system with slug {slug!r}."])

    def test_bad_artifacts_are_a_400_naming_what_is_wrong(self):
        old = read("shop/parsed/manifest.json")
        old["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v7.json"
        cases = [
            ({"manifest": old, "system": "warehouse"}, "manifest", "schema version v7"),
            ({"system": "warehouse"}, "manifest", "required"),
            ({"manifest": [1]}, "manifest", "JSON object"),
            ({"manifest": read("shop/parsed/manifest.json")}, "system", "not registered"),
            ({"manifest": read("shop/parsed/manifest.json"), "project": "x"}, "project", "Unknown key"),
            ({"manifest": read("shop/parsed/manifest.json"), "system": "warehouse",
              "catalog": read("shop/built/run_results.json")}, "catalog", "not a dbt catalog.json"),
        ]
        for body, key, text in cases:
            with self.subTest(key=key, text=text):
                response = self.client_for(self.lead).post(URL, body, format="json")
                self.assertEqual(response.status_code, 400, response.content[:300])
                self.assertIn(text, " ".join(response.json()["errors"][key]))
        upload = io.BytesIO(b"{not json")
        upload.name = "manifest.json"
        response = self.client_for(self.lead).post(URL, {"manifest": upload, "system": "warehouse"},
                                                   format="multipart")
        self.assertEqual(response.status_code, 400)
        self.assertIn("not valid JSON", " ".join(response.json()["errors"]["manifest"]))
        self.assertFalse(DbtProject.objects.exists())
        self.assertFalse(IngestionRun.objects.exists())

    @override_settings(ACCORD_DBT_MAX_ARTIFACT_BYTES=1000)
    def test_an_oversized_upload_is_a_413_with_the_limit(self):
        upload = io.BytesIO((ARTIFACTS / "shop" / "parsed" / "manifest.json").read_bytes())
        upload.name = "manifest.json"
        response = self.client_for(self.lead).post(URL, {"manifest": upload, "system": "warehouse"},
                                                   format="multipart")
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["limit_bytes"], 1000)

    def test_warnings_naming_relations_are_shown_to_who_may_change_the_system(self):
        body = {"manifest": read("shop/built/manifest.json"), "system": "warehouse"}
        run_id = self.client_for(self.lead).post(URL, body, format="json").json()["id"]
        mine = self.client_for(self.lead).get(f"/api/v1/ingestion-runs/{run_id}/").json()
        theirs = self.client_for(self.employee).get(f"/api/v1/ingestion-runs/{run_id}/").json()
        self.assertTrue(any("model.shop" in w for w in mine["warnings"]))
        self.assertEqual(theirs["warnings"], ["2 warnings, shown to those who may change the system"])

    @override_settings(ACCORD_DBT_MAX_ARTIFACT_BYTES=50_000, DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
    def test_uploaded_artifacts_have_their_own_body_limit_json_the_apis(self):
        def upload():
            handle = io.BytesIO((ARTIFACTS / "shop" / "parsed" / "manifest.json").read_bytes())  # about 500 KB
            handle.name = "manifest.json"
            return {"manifest": handle, "system": "warehouse"}

        response = self.client_for(self.lead).post(URL, upload(), format="multipart")
        self.assertEqual(response.status_code, 413)
        self.assertIn("ACCORD_DBT_MAX_ARTIFACT_BYTES", response.json()["detail"])
        with override_settings(ACCORD_DBT_MAX_ARTIFACT_BYTES=5_000_000):
            response = self.client_for(self.lead).post(URL, upload(), format="multipart")
            self.assertEqual(response.status_code, 201, response.content[:300])
            # A JSON body is held to the API's general limit: DRF reads it whole.
            response = self.client_for(self.lead).post(
                URL, {"manifest": read("shop/parsed/manifest.json"), "system": "warehouse"}, format="json")
            self.assertEqual(response.status_code, 413)
            self.assertIn("ACCORD_MAX_REQUEST_BYTES", response.json()["detail"])
