"""Ingestion's rows through the shared mixins: dbt projects are written by whoever may change
their System; runs, nodes and tests are read-only (written by the ingestion)."""

from __future__ import annotations

from django.utils import timezone

from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun
from tests import factories
from tests.mixins import AdminTests, CRUDAPITests, ReadAPITests


def make_project(**kw) -> DbtProject:
    kw.setdefault("name", f"project_{factories.n()}")
    kw.setdefault("system", factories.system())
    return DbtProject.objects.create(**kw)


def make_run() -> IngestionRun:
    return IngestionRun.objects.create(project=make_project(), status="succeeded", finished_at=timezone.now(),
                                       manifest_version="v12", dbt_version="1.10.23")


def make_node() -> DbtNode:
    dataset = factories.dataset()
    project = make_project(system=dataset.system)
    return DbtNode.objects.create(project=project, unique_id=f"model.{project.name}.m{factories.n()}",
                                  resource_type="model", dataset=dataset, materialized="table")


def make_test() -> DbtTest:
    field = factories.field()
    project = make_project(system=field.dataset.system)
    return DbtTest.objects.create(project=project, unique_id=f"test.{project.name}.not_null_{factories.n()}",
                                  name=f"not_null_{field.name}", test_type="not_null", dataset=field.dataset,
                                  field=field, column_name=field.name, status="pass", failures=0)


class TestDbtProjectAPI(CRUDAPITests):
    model = DbtProject
    basename = "dbtproject"
    update_payload = {"qualify_with_database": True, "owner_meta_key": "maintainer"}
    invalid_payloads = [
        ({"schema_systems": ["raw"]}, "schema_systems"),
        ({"schema_systems": {"raw": ""}}, "schema_systems"),
        ({"schema_systems": {"raw": "no-such-system"}}, "schema_systems"),
        ({"name": ""}, "name"),
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.target = factories.system()
        cls.invalid_payloads = [({"name": "x", "system": cls.target.pk, **body}, key)
                                for body, key in cls.invalid_payloads]

    @classmethod
    def make_objects(cls, count):
        return [make_project() for _ in range(count)]

    def test_a_lead_may_not_map_schemas_to_a_system_of_another_department(self):
        from tests.mixins import make_user

        sales, finance = factories.department(), factories.department()
        lead = make_user("dbt-project-lead")
        factories.membership(lead, department=sales, role="lead")
        project = make_project(system=factories.system(owner_department=sales))
        factories.system(slug="finance-ledger", owner_department=finance)
        factories.system(slug="sales-replica", owner_department=sales)
        url = self.detail_url(project.pk)
        response = self.client_for(lead).patch(url, {"schema_systems": {"ledger": "finance-ledger"}}, format="json")
        self.assertEqual(response.status_code, 400, response.content)
        errors = " ".join(response.json()["errors"]["schema_systems"])
        self.assertIn("may not change the system 'finance-ledger'", errors)
        response = self.client_for(lead).patch(url, {"schema_systems": {"raw": "sales-replica"}}, format="json")
        self.assertEqual(response.status_code, 200, response.content)

    def test_the_admin_form_refuses_it_too(self):
        from django.urls import reverse

        from tests.mixins import make_user

        sales, finance = factories.department(), factories.department()
        lead = make_user("dbt-admin-lead", is_staff=True)
        factories.membership(lead, department=sales, role="lead")
        system = factories.system(owner_department=sales)
        project = make_project(system=system)
        factories.system(slug="finance-books", owner_department=finance)
        self.client.force_login(lead)
        response = self.client.post(reverse("admin:ingest_dbtproject_change", args=[project.pk]), {
            "name": project.name, "system": system.pk, "schema_systems": '{"books": "finance-books"}',
            "owner_meta_key": "owner", "department_meta_key": "department"})
        self.assertEqual(response.status_code, 200)  # the form again, with the error
        self.assertIn("may not change the system", response.content.decode())
        project.refresh_from_db()
        self.assertEqual(project.schema_systems, {})

    def create_payloads(self):
        return [{"name": f"jaffle_{factories.n()}", "system": self.target.pk},
                {"name": f"finance_{factories.n()}", "system": self.target.slug, "qualify_with_database": True}]


class TestIngestionRunAPI(ReadAPITests):
    model = IngestionRun
    basename = "ingestionrun"
    ordering_field = "started_at"

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]


class TestDbtNodeAPI(ReadAPITests):
    model = DbtNode
    basename = "dbtnode"
    ordering_field = "unique_id"

    @classmethod
    def make_objects(cls, count):
        return [make_node() for _ in range(count)]


class TestDbtTestAPI(ReadAPITests):
    model = DbtTest
    basename = "dbttest"
    ordering_field = "unique_id"

    @classmethod
    def make_objects(cls, count):
        return [make_test() for _ in range(count)]


class TestDbtProjectAdmin(AdminTests):
    model = DbtProject
    search_term = "project_"

    @classmethod
    def make_objects(cls, count):
        return [make_project() for _ in range(count)]

    def listed_text(self, obj):
        return obj.name


class TestIngestionRunAdmin(AdminTests):
    model = IngestionRun
    can_add = False
    search_term = "project_"

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]

    def listed_text(self, obj):
        return obj.project.name


class TestDbtNodeAdmin(AdminTests):
    model = DbtNode
    can_add = False
    search_term = "model."

    @classmethod
    def make_objects(cls, count):
        return [make_node() for _ in range(count)]

    def listed_text(self, obj):
        return obj.unique_id


class TestDbtTestAdmin(AdminTests):
    model = DbtTest
    can_add = False
    search_term = "not_null"

    @classmethod
    def make_objects(cls, count):
        return [make_test() for _ in range(count)]

    def listed_text(self, obj):
        return obj.name
