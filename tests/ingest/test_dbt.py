"""Ingesting real dbt artifacts (tests/ingest/dbt_artifacts/, written by dbt-core 1.10 with
dbt-postgres from the projects in tests/ingest/dbt_projects/ by scripts/dbt_fixtures.sh): what
appears, who wins, lineage with and without compiled code, tests and their results, two projects
side by side, and the same artifacts twice changing nothing."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from catalog.models import Dataset, Field, LineageEdge, Tag
from ingest import dbt
from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun, IngestionStatus
from permissions.context import system_actor
from permissions.models import AuditRecord
from tests import factories
from tests.mixins import make_user

ARTIFACTS = Path(__file__).parent / "dbt_artifacts"


@cache
def _read(path: str) -> str:
    return (ARTIFACTS / path).read_text()


def artifact(path: str) -> dict:
    return json.loads(_read(path))


def built(project: str = "shop", *, results: bool = True) -> dbt.Artifacts:
    return dbt.parse_artifacts(artifact(f"{project}/built/manifest.json"), artifact(f"{project}/built/catalog.json"),
                               artifact(f"{project}/built/run_results.json") if results else None)


def run_ingestion(artifacts: dbt.Artifacts, system) -> IngestionRun:
    with system_actor("tests", reason="dbt ingestion under test") as audit_context:
        project = dbt.project_for(artifacts, system=system, actor=audit_context.actor)
    return dbt.ingest(project, artifacts)


def footprint() -> tuple:
    return (Dataset.objects.count(), Field.objects.count(), LineageEdge.objects.count(), DbtNode.objects.count(),
            DbtTest.objects.count(), Tag.objects.count(), AuditRecord.objects.count())


class DbtIngestionTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.marketing = factories.department(slug="marketing", name="Marketing")
        cls.finance = factories.department(slug="finance", name="Finance")
        cls.maria = make_user("maria.marketing")
        cls.frank = make_user("frank.finance")
        cls.warehouse = factories.system(slug="warehouse", name="Warehouse", kind="warehouse")

    def dataset(self, name: str) -> Dataset:
        return Dataset.objects.get(system=self.warehouse, qualified_name=name)

    def test_first_ingestion_registers_relations_fields_owners_tags_and_tests(self):
        run = run_ingestion(built(), self.warehouse)
        self.assertEqual(run.status, IngestionStatus.PARTIAL, run.errors)  # unknown owner: a warning
        names = set(Dataset.objects.filter(system=self.warehouse).values_list("qualified_name", "kind"))
        self.assertEqual(names, {("staging.stg_orders", "view"), ("staging.stg_customers", "view"),
                                 ("staging.stg_accounts", "view"), ("marts.fct_orders", "table"),
                                 ("raw.raw_orders", "table"), ("raw.raw_customers", "table"),
                                 ("snapshots.orders_snapshot", "table"), ("crm.accounts", "table")})
        orders = self.dataset("staging.stg_orders")
        self.assertEqual(orders.description, "One row per order, cleaned.")
        self.assertEqual((orders.steward, orders.owner_department), (self.maria, self.marketing))
        self.assertEqual(set(orders.tags.values_list("slug", flat=True)), {"orders", "staging"})
        fct = self.dataset("marts.fct_orders")
        self.assertEqual(fct.steward, self.frank)
        amount = fct.fields.get(name="amount")
        self.assertEqual((amount.data_type, amount.position, amount.description),
                         ("numeric(10,2)", 4, "What was paid, in EUR."))
        self.assertEqual(self.dataset("staging.stg_customers").fields.get(name="email").tags.get().slug, "pii")
        self.assertTrue(DbtNode.objects.get(unique_id="model.shop.fct_orders").contract_enforced)
        self.assertFalse(DbtNode.objects.get(unique_id="model.shop.stg_orders").contract_enforced)
        self.assertEqual(DbtNode.objects.get(unique_id="source.shop.crm.accounts").resource_type, "source")
        self.assertTrue(any("nobody.we.know" in w for w in run.warnings), run.warnings)
        self.assertTrue(any("no-such-department" in w for w in run.warnings), run.warnings)
        self.assertIsNone(self.dataset("staging.stg_customers").steward, "unknown people are not invented")

        country = DbtTest.objects.get(name="accepted_values_stg_customers_country_code__PT__DE")
        self.assertEqual((country.test_type, country.status, country.failures, country.field.name,
                          country.arguments), ("accepted_values", "fail", 1, "country_code", {"values": ["PT", "DE"]}))
        self.assertIsNotNone(country.executed_at)
        relationship = DbtTest.objects.get(test_type="relationships")
        self.assertEqual((relationship.field.name, relationship.arguments["field"], relationship.status),
                         ("customer_id", "customer_id", "pass"))
        self.assertEqual(relationship.related_dataset, self.dataset("staging.stg_customers"))
        self.assertEqual(DbtTest.objects.get(name="not_null_stg_customers_email").status, "warn")
        self.assertEqual(DbtTest.objects.get(name="source_unique_crm_accounts_account_id").dataset,
                         self.dataset("crm.accounts"))
        self.assertEqual(run.counts["tests"]["added"], 12)
        # Every write is audited under the run's actor.
        self.assertTrue(AuditRecord.objects.filter(actor_name=f"system:ingest:{run.pk}",
                                                   object_type="catalog.dataset", action="create").exists())

    def test_meta_owner_may_name_an_email(self):
        manifest = artifact("shop/built/manifest.json")
        manifest["nodes"]["model.shop.stg_customers"]["meta"]["owner"] = self.maria.email
        run_ingestion(dbt.parse_artifacts(manifest), self.warehouse)
        self.assertEqual(self.dataset("staging.stg_customers").steward, self.maria)

    def test_lineage_from_depends_on_and_field_mappings_from_compiled_sql(self):
        run_ingestion(built(), self.warehouse)
        fct = self.dataset("marts.fct_orders")
        edges = LineageEdge.objects.filter(target=fct)
        self.assertEqual({(e.source.qualified_name, e.source_field and e.source_field.name,
                           e.target_field and e.target_field.name) for e in edges}, {
            ("staging.stg_orders", None, None), ("staging.stg_customers", None, None),
            ("staging.stg_orders", "order_id", "order_id"), ("staging.stg_orders", "customer_id", "customer_id"),
            ("staging.stg_orders", "amount", "amount"), ("staging.stg_orders", "ordered_at", "ordered_at"),
            ("staging.stg_customers", "email", "customer_email")})
        self.assertEqual({(e.origin, e.job) for e in edges}, {("dbt", "model.shop.fct_orders")})
        source_edge = LineageEdge.objects.get(target=self.dataset("staging.stg_accounts"))
        self.assertEqual(source_edge.source, self.dataset("crm.accounts"))

    def test_a_manifest_without_compiled_code_gives_dataset_lineage_and_says_so(self):
        run_ingestion(built(), self.warehouse)
        parsed = dbt.parse_artifacts(artifact("shop/parsed/manifest.json"))
        run = run_ingestion(parsed, self.warehouse)
        self.assertTrue(any("No compiled SQL" in w and "model.shop.fct_orders" in w for w in run.warnings),
                        run.warnings)
        fct = self.dataset("marts.fct_orders")
        self.assertFalse(LineageEdge.objects.filter(target=fct, source_field__isnull=False).exists(),
                         "the field mappings of the earlier ingestion are replaced")
        self.assertEqual(LineageEdge.objects.filter(target=fct).count(), 2)
        self.assertGreater(run.counts["lineage"]["removed"], 0)
        # Test results stay as the last run_results said: a manifest alone does not erase them.
        self.assertEqual(DbtTest.objects.get(name="accepted_values_stg_customers_country_code__PT__DE").status,
                         "fail")

    def test_the_same_artifacts_twice_write_nothing(self):
        run_ingestion(built(), self.warehouse)
        before = footprint()
        run = run_ingestion(built(), self.warehouse)
        self.assertEqual(footprint(), before)
        for kind, counts in run.counts.items():
            self.assertEqual((counts["added"], counts["changed"], counts["removed"]), (0, 0, 0), kind)

    def test_people_win_over_dbt_for_what_they_changed(self):
        run_ingestion(built(), self.warehouse)
        orders = self.dataset("staging.stg_orders")
        someone = make_user("sofia")
        with system_actor("tests", reason="curation"):
            orders.description = "Orders as Sales understands them."
            orders.steward = someone
            orders.save()
            orders.tags.remove(Tag.objects.get(slug="staging"))
            people_tag = factories.tag(slug="curated", name="curated")
            orders.tags.add(people_tag)
            amount = orders.fields.get(name="amount")
            amount.description = "Gross amount, VAT included."
            amount.save()
        manifest = artifact("shop/built/manifest.json")
        node = manifest["nodes"]["model.shop.stg_orders"]
        node["description"] = "dbt's new text."
        node["columns"]["amount"]["description"] = "dbt's new amount text."
        node["columns"]["order_id"]["description"] = "dbt's new order id text."
        changed = dbt.parse_artifacts(manifest, artifact("shop/built/catalog.json"))
        run_ingestion(changed, self.warehouse)
        orders.refresh_from_db()
        self.assertEqual((orders.description, orders.steward), ("Orders as Sales understands them.", someone))
        self.assertEqual(orders.fields.get(name="amount").description, "Gross amount, VAT included.")
        self.assertEqual(orders.fields.get(name="order_id").description, "dbt's new order id text.",
                         "what dbt wrote and nobody changed follows dbt")
        self.assertIn("curated", set(orders.tags.values_list("slug", flat=True)))

    def test_two_projects_side_by_side(self):
        run_ingestion(built("shop"), self.warehouse)
        run = run_ingestion(built("finance"), self.warehouse)
        self.assertEqual(run.status, IngestionStatus.SUCCEEDED, run.warnings)
        self.assertEqual(set(DbtProject.objects.values_list("name", flat=True)), {"shop", "finance"})
        fct = self.dataset("marts.fct_orders")  # shop's model is finance's source: one dataset
        revenue = self.dataset("finance.revenue_by_day")
        self.assertTrue(LineageEdge.objects.filter(source=fct, target=revenue, job="model.finance.revenue_by_day")
                        .exists())
        before = footprint()
        run_ingestion(built("shop"), self.warehouse)  # shop again leaves finance's nodes and edges alone
        self.assertEqual(footprint(), before)
        self.assertEqual(DbtNode.objects.filter(dataset=fct).count(), 2)
        # A node gone from a project goes from that project only; the dataset stays.
        manifest = artifact("finance/built/manifest.json")
        del manifest["sources"]["source.finance.shop_marts.fct_orders"]
        manifest["nodes"]["model.finance.revenue_by_day"]["depends_on"]["nodes"] = []
        run_ingestion(dbt.parse_artifacts(manifest), self.warehouse)
        self.assertEqual(list(DbtNode.objects.filter(dataset=fct).values_list("project__name", flat=True)), ["shop"])
        self.assertFalse(LineageEdge.objects.filter(target=revenue).exists())
        self.assertTrue(LineageEdge.objects.filter(target=fct).exists())

    def test_edges_people_drew_are_left_alone_and_not_doubled(self):
        stg = factories.dataset(system=self.warehouse, qualified_name="staging.stg_orders", name="Orders")
        fct = factories.dataset(system=self.warehouse, qualified_name="marts.fct_orders", name="Facts")
        drawn = LineageEdge.objects.create(source=stg, target=fct, transformation="Drawn by Finance.")
        run_ingestion(built(), self.warehouse)
        drawn.refresh_from_db()
        self.assertEqual((drawn.origin, drawn.transformation), ("", "Drawn by Finance."))
        self.assertEqual(LineageEdge.objects.filter(source=stg, target=fct, source_field__isnull=True).count(), 1)
        self.assertEqual(fct.name, Dataset.objects.get(pk=fct.pk).name, "the name people gave stays")

    def test_schemas_map_to_other_systems(self):
        replica = factories.system(slug="crm-replica", name="CRM replica")
        with system_actor("tests", reason="project"):
            DbtProject.objects.create(name="shop", system=self.warehouse,
                                      schema_systems={"warehouse.crm": "crm-replica", "raw": "no-such-system"})
        run = run_ingestion(built(), self.warehouse)
        self.assertTrue(Dataset.objects.filter(system=replica, qualified_name="crm.accounts").exists())
        self.assertFalse(Dataset.objects.filter(system=self.warehouse, qualified_name="crm.accounts").exists())
        self.assertTrue(any("no-such-system" in w for w in run.warnings), run.warnings)
        self.assertTrue(LineageEdge.objects.filter(source__system=replica,
                                                   target__qualified_name="staging.stg_accounts").exists())

    def test_unsupported_and_malformed_manifests_name_what_is_wrong(self):
        old = artifact("shop/parsed/manifest.json")
        old["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v9.json"
        with self.assertRaisesMessage(dbt.IngestError, "schema version v9"):
            dbt.parse_artifacts(old)
        with self.assertRaisesMessage(dbt.IngestError, "not a dbt manifest.json"):
            dbt.parse_artifacts({"nodes": {}})
        with self.assertRaisesMessage(dbt.IngestError, "must be a JSON object"):
            dbt.parse_artifacts([1, 2])
        broken = copy.deepcopy(artifact("shop/parsed/manifest.json"))
        broken["nodes"]["model.shop.stg_orders"]["columns"] = "not a mapping"
        with self.assertRaisesMessage(dbt.IngestError, "does not parse"):
            dbt.parse_artifacts(broken)
        catalog = artifact("shop/built/catalog.json")
        with self.assertRaisesMessage(dbt.IngestError, "not a dbt run_results.json"):
            dbt.parse_artifacts(artifact("shop/parsed/manifest.json"), run_results=catalog)
        self.assertEqual(footprint()[:6], (0, 0, 0, 0, 0, 0))

    def test_an_unregistered_project_needs_a_system(self):
        with self.assertRaisesMessage(dbt.IngestError, "not registered"):
            dbt.project_for(built(), system=None, actor=None)

    def test_the_command_reads_a_target_folder(self):
        from io import StringIO

        out = StringIO()
        call_command("ingest_dbt", str(ARTIFACTS / "shop" / "built"), "--system", "warehouse", stdout=out)
        self.assertIn("Ingestion #", out.getvalue())
        self.assertIn("warning: meta.owner", out.getvalue())
        self.assertEqual(DbtTest.objects.exclude(status="").count(), 12, "run_results.json was read")
        with self.assertRaisesMessage(CommandError, "No system with slug"):
            call_command("ingest_dbt", str(ARTIFACTS / "shop" / "built"), "--system", "nope", stdout=out)
        with self.assertRaisesMessage(CommandError, "No manifest.json"):
            call_command("ingest_dbt", str(ARTIFACTS), stdout=out)


class LineageEdgeAPIOriginTests(TestCase):
    def test_the_api_shows_who_made_an_edge_and_does_not_let_anyone_set_it(self):
        from rest_framework.test import APIClient

        warehouse = factories.system(slug="warehouse")
        run_ingestion(built(), warehouse)
        admin = make_user("edge-admin", is_superuser=True, is_staff=True)
        client = APIClient()
        client.force_authenticate(admin)
        edge = LineageEdge.objects.filter(origin="dbt", source_field__isnull=True).first()
        data = client.get(f"/api/v1/lineage-edges/{edge.pk}/").json()
        self.assertEqual((data["origin"], data["job"]), ("dbt", edge.job))
        a, b = factories.dataset(system=warehouse), factories.dataset(system=warehouse)
        response = client.post("/api/v1/lineage-edges/", {"source": a.pk, "target": b.pk, "origin": "dbt",
                                                          "job": "forged"}, format="json")
        self.assertEqual(response.status_code, 201, response.content)  # read-only keys are ignored, as DRF does
        self.assertEqual((response.json()["origin"], response.json()["job"]), ("", ""))
