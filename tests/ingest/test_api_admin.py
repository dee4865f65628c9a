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
    update_payload = {"schema_systems": {"raw": "crm"}, "owner_meta_key": "maintainer"}
    invalid_payloads = [
        ({"schema_systems": ["raw"]}, "schema_systems"),
        ({"schema_systems": {"raw": ""}}, "schema_systems"),
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
