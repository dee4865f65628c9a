"""The dataset list and detail read rows (permissions.api.rows), and answer exactly what
the serializer answers from model instances: same keys, order, formats and nulls, the
same hidden fields left out, the same ETag and no more statements."""

from __future__ import annotations

import datetime
from unittest import mock

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.test import APIClient

from catalog.api import serializers as catalog_serializers
from catalog.api.views import DatasetViewSet
from catalog.models import Dataset
from permissions.api.rows import RowPlan, RowRead
from permissions.api.viewsets import AccordModelViewSet
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user

API = "/api/v1/datasets/"


class DatasetRowsTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        contractors = factories.department(name="Contractors", slug="contractors")
        sales = factories.department(name="Sales", slug="sales")
        cls.reader = make_user("reader", first_name="Rea", last_name="Der")
        factories.membership(cls.reader, department=contractors)
        steward = make_user("steward", first_name="Stew", last_name="")
        owner = make_user("owner")  # no name: shown by username
        pii, gdpr, revenue = (factories.tag(name=name, slug=name) for name in ("pii", "gdpr", "revenue"))
        warehouse = factories.system(name="Warehouse", slug="warehouse", kind="warehouse", owner_department=sales)

        cls.full = factories.dataset(
            system=warehouse, qualified_name="crm.accounts", name="Accounts", description="Customer accounts",
            owner_department=sales, steward=steward, lifecycle="active", classification="confidential",
            tags=[revenue, pii, gdpr], key_fields=["id"], sort_order=["id", "name"], row_count=500,
            size_bytes=2**40, published_at=datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC),
            source_modified_at=datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC),
        )
        factories.field(dataset=cls.full, name="id", is_key=True, nullable=False, position=1, owner=owner,
                        owner_department=sales)
        factories.field(dataset=cls.full, name="email", position=2, classification="pii", owner=steward,
                        description="Where we write")
        cls.hidden_field = factories.field(dataset=cls.full, name="tax_id", position=3, classification="restricted")
        tagged = factories.field(dataset=cls.full, name="amount", position=3, data_type="numeric(12,2)")
        tagged.tags.set([revenue, gdpr])
        # No steward, no owner department, no tags, no fields, no timestamps from the source.
        cls.bare = factories.dataset(system=warehouse, qualified_name="tmp.scratch", name="Scratch")
        # Fields without owners, one hidden as a whole dataset is.
        cls.orphans = factories.dataset(system=factories.system(name="Lake", slug="lake", kind="lake"),
                                        qualified_name="raw.events", name="Events", lifecycle="retired",
                                        archived_at=datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC))
        factories.field(dataset=cls.orphans, name="payload", data_type="jsonb")
        cls.hidden_dataset = factories.dataset(system=warehouse, qualified_name="deals.targets", name="Targets")
        factories.field(dataset=cls.hidden_dataset, name="company_name")
        factories.lineage(source=cls.full, target=cls.orphans, transformation="copy")
        for obj in (cls.hidden_field, cls.hidden_dataset):
            AccessRule.objects.create(
                subject_kind="department", subject_department=contractors, target_kind="object",
                target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk, reason="not for contractors",
            )

    def client_for(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def both(self, url: str):
        """The response through rows and through the serializer, with their statement counts."""
        client = self.client_for(self.reader)
        client.get(url)  # warm per-process caches (content types) so the counts compare
        reads, original = [], AccordModelViewSet._row_read

        def row_read(view):  # built or kept: the read the view takes
            reads.append(original(view))
            return reads[-1]

        with mock.patch.object(AccordModelViewSet, "_row_read", autospec=True, side_effect=row_read), \
                CaptureQueriesContext(connection) as row_queries:
            rows = client.get(url)
        self.assertTrue(reads and all(isinstance(read, RowRead) for read in reads), "the row path was not taken")
        with mock.patch.object(DatasetViewSet, "read_rows", False), \
                CaptureQueriesContext(connection) as object_queries:
            objects = client.get(url)
        self.assertEqual(rows.status_code, objects.status_code)
        self.assertLessEqual(len(row_queries), len(object_queries))
        return rows, objects

    def test_every_dataset_serializer_has_a_row_plan(self):
        for serializer in (catalog_serializers.DatasetSerializer, catalog_serializers.DatasetDetailSerializer,
                           catalog_serializers.NestedFieldSerializer):
            self.assertIsNotNone(RowPlan.for_serializer(serializer), serializer)

    def test_a_field_rows_cannot_give_means_no_plan(self):
        class WithMethod(catalog_serializers.DatasetSerializer):
            shout = serializers.SerializerMethodField()

            class Meta(catalog_serializers.DatasetSerializer.Meta):
                fields = [*catalog_serializers.DATASET_FIELDS, "shout"]

            def get_shout(self, obj) -> str:
                return obj.name.upper()

        self.assertIsNone(RowPlan.for_serializer(WithMethod))

    def test_detail_is_the_serializers_answer(self):
        for dataset in (self.full, self.bare, self.orphans):
            with self.subTest(dataset=dataset.qualified_name):
                rows, objects = self.both(f"{API}{dataset.pk}/")
                self.assertEqual(rows.status_code, 200)
                self.assertEqual(rows.content, objects.content)
                self.assertEqual(rows["ETag"], objects["ETag"])

    def test_detail_leaves_hidden_fields_out(self):
        rows, _ = self.both(f"{API}{self.full.pk}/")
        body = rows.json()
        self.assertEqual([f["name"] for f in body["fields"]], ["id", "email", "amount"])
        self.assertEqual(body["field_count"], 3)
        # The detail counts the fields it shows; the list counts them in SQL: the same number.
        listed = {row["id"]: row for row in self.client_for(self.reader).get(API).json()["results"]}
        self.assertEqual(listed[self.full.pk]["field_count"], 3)
        self.assertEqual(self.client_for(self.reader).get(f"{API}{self.bare.pk}/").json()["field_count"], 0)
        self.assertEqual([t["name"] for t in body["tags"]], ["gdpr", "pii", "revenue"])
        self.assertEqual(body["fields"][0]["owner"], {"id": body["fields"][0]["owner"]["id"], "username": "owner",
                                                      "display_name": "owner"})
        self.assertIsNone(self.client_for(self.reader).get(f"{API}{self.bare.pk}/").json()["steward"])

    def test_hidden_dataset_is_missing(self):
        rows, objects = self.both(f"{API}{self.hidden_dataset.pk}/")
        missing, _ = self.both(f"{API}{Dataset.objects.order_by('-pk').first().pk + 1000}/")
        self.assertEqual(rows.status_code, 404)
        self.assertEqual(rows.content, objects.content)
        self.assertEqual(rows.content, missing.content)

    def test_list_is_the_serializers_answer(self):
        for params in ("", "?page_size=2", "?ordering=-published_at", "?ordering=name&page_size=1",
                       "?tag=pii", "?system=0", "?q=scratch", f"?id={self.full.pk},{self.hidden_dataset.pk}"):
            with self.subTest(params=params):
                rows, objects = self.both(f"{API}{params}")
                self.assertEqual(rows.status_code, 200)
                self.assertEqual(rows.content, objects.content)

    def test_cursor_pages_are_the_same(self):
        for ordering in ("-qualified_name", "created_at", "name"):  # cursors need non-null columns
            url = f"{API}?page_size=1&ordering={ordering}"
            seen = []
            while url:
                rows, objects = self.both(url)
                self.assertEqual(rows.content, objects.content)
                body = rows.json()
                seen += [row["id"] for row in body["results"]]
                url = body["next"]
            self.assertEqual(sorted(seen), sorted([self.full.pk, self.bare.pk, self.orphans.pk]))

    def test_browsable_api_reads_objects(self):
        with mock.patch.object(RowPlan, "represent", autospec=True) as spy:
            response = self.client_for(self.reader).get(f"{API}{self.full.pk}/", HTTP_ACCEPT="text/html")
        self.assertEqual(response.status_code, 200)
        self.assertFalse(spy.called)

    # --- kept row reads (AccordModelViewSet.keep_row_reads) ---------------------------------------

    def built(self, user, *urls) -> tuple[int, list]:
        """How many row reads the requests built, and their responses."""
        calls, original = [], RowPlan.read

        def read(plan, *args, **kwargs):
            calls.append(plan)
            return original(plan, *args, **kwargs)

        client = self.client_for(user)
        with mock.patch.object(RowPlan, "read", autospec=True, side_effect=read):
            responses = [client.get(url) for url in urls]
        return len(calls), responses

    def test_a_read_is_built_once_for_requests_that_would_build_the_same(self):
        from permissions.api import viewsets

        viewsets._KEPT_READS.clear()
        builds, responses = self.built(
            self.reader, f"{API}{self.full.pk}/", f"{API}{self.bare.pk}/", f"{API}{self.full.pk}/")
        self.assertEqual(builds, 1)
        self.assertEqual([r.json()["id"] for r in responses], [self.full.pk, self.bare.pk, self.full.pk])
        self.assertEqual(responses[0].content, responses[2].content)
        # Pages of one list share the read; another filter or ordering builds its own.
        builds, responses = self.built(self.reader, f"{API}?page_size=1", f"{API}?page_size=2",
                                       f"{API}?page_size=1&ordering=name", f"{API}?q=Scratch")
        self.assertEqual(builds, 3)
        self.assertEqual([r.json()["results"][0]["id"] for r in responses[3:]], [self.bare.pk])

    def test_a_kept_read_never_outlives_the_rules_it_was_built_with(self):
        reader_sees = lambda: {row["id"] for row in self.client_for(self.reader).get(API).json()["results"]}  # noqa: E731
        self.assertIn(self.bare.pk, reader_sees())
        rule = AccessRule.objects.create(subject_kind="user", subject_user=self.reader, target_kind="object",
                                         target_type=ContentType.objects.get_for_model(self.bare),
                                         target_id=self.bare.pk, reason="a new rule")
        self.assertNotIn(self.bare.pk, reader_sees())
        self.assertEqual(self.client_for(self.reader).get(f"{API}{self.bare.pk}/").status_code, 404)
        rule.delete()
        self.assertIn(self.bare.pk, reader_sees())

    def test_users_with_other_rules_do_not_share_a_read(self):
        other = make_user("other")
        mine = self.client_for(self.reader).get(f"{API}{self.hidden_dataset.pk}/")
        theirs = self.client_for(other).get(f"{API}{self.hidden_dataset.pk}/")
        self.assertEqual((mine.status_code, theirs.status_code), (404, 200))
        listed = {row["id"] for row in self.client_for(other).get(API).json()["results"]}
        self.assertIn(self.hidden_dataset.pk, listed)
        listed = {row["id"] for row in self.client_for(self.reader).get(API).json()["results"]}
        self.assertNotIn(self.hidden_dataset.pk, listed)
