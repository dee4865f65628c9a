"""OpenLineage's rows through the shared mixins: a namespace goes with its System (written by
whoever may change it); unknown namespaces are written by the ingestion and read by everyone."""

from __future__ import annotations

from django.utils import timezone

from ingest.models import LineageNamespace, UnknownNamespace
from tests import factories
from tests.mixins import AdminTests, CRUDAPITests, ReadAPITests


def make_namespace(**kw) -> LineageNamespace:
    kw.setdefault("namespace", f"postgres://db-{factories.n()}.example.com:5432/shop")
    kw.setdefault("system", factories.system())
    return LineageNamespace.objects.create(**kw)


def make_unknown() -> UnknownNamespace:
    now = timezone.now()
    return UnknownNamespace.objects.create(namespace=f"s3://bucket-{factories.n()}", first_seen_at=now,
                                           last_seen_at=now, events=2, example_names=["raw/events"])


class TestLineageNamespaceAPI(CRUDAPITests):
    model = LineageNamespace
    basename = "lineagenamespace"
    update_payload = {"namespace": "snowflake://acme-xy12345"}
    invalid_payloads = [({"namespace": ""}, "namespace"), ({"system": "no-such-system"}, "system")]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.target = factories.system()

    @classmethod
    def make_objects(cls, count):
        return [make_namespace() for _ in range(count)]

    def create_payloads(self):
        return [{"namespace": f"postgres://new-{factories.n()}:5432/db", "system": self.target.pk},
                {"namespace": f"bigquery-{factories.n()}", "system": self.target.slug}]


class TestUnknownNamespaceAPI(ReadAPITests):
    model = UnknownNamespace
    basename = "unknownnamespace"
    ordering_field = "namespace"

    @classmethod
    def make_objects(cls, count):
        return [make_unknown() for _ in range(count)]


class TestLineageNamespaceAdmin(AdminTests):
    model = LineageNamespace
    search_term = "postgres://"

    @classmethod
    def make_objects(cls, count):
        return [make_namespace() for _ in range(count)]

    def listed_text(self, obj):
        return obj.namespace


class TestUnknownNamespaceAdmin(AdminTests):
    model = UnknownNamespace
    can_add = False
    search_term = "s3://"

    @classmethod
    def make_objects(cls, count):
        return [make_unknown() for _ in range(count)]

    def listed_text(self, obj):
        return obj.namespace
