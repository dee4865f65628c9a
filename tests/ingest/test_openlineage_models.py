"""OpenLineage's rows through the shared mixins: a namespace goes with its System (written by
whoever may change it); unknown namespaces are written by the ingestion and read by everyone."""

from __future__ import annotations

from django.test import TestCase
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


class UnknownNamespaceDateFilterTests(TestCase):
    def test_the_common_date_filters_read_first_and_last_seen(self):
        import datetime

        from django.utils import timezone
        from rest_framework.test import APIClient

        from tests.mixins import make_user

        make_unknown()
        client = APIClient()
        client.force_authenticate(make_user("namespace-reader"))
        past = (timezone.now() - datetime.timedelta(days=1)).isoformat()
        for key, count in (("created_after", 1), ("created_before", 0), ("updated_after", 1), ("updated_before", 0)):
            response = client.get("/api/v1/unknown-namespaces/", {key: past})
            self.assertEqual(response.status_code, 200, response.content)
            self.assertEqual(len(response.json()["results"]), count, key)
