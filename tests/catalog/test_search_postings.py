"""The search posting table (PostgreSQL): kept equal to the documents by triggers, and a one-word
search that walks it answers exactly what the document index's search answers."""

from __future__ import annotations

import re
from unittest import mock

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog import search
from catalog.models import Dataset, Department, Field, System
from catalog.models.search import POSTING_KINDS, POSTING_TABLE, postings_of_sql
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user

MODELS = (Dataset, Field, System, Department)


def _require_postgresql(test: TestCase) -> None:
    if connection.vendor != "postgresql":
        test.skipTest("the posting table exists on PostgreSQL only (SQLite searches by substring)")


class TestPostingsFollowTheDocuments(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.ledgers = factories.dataset(name="General ledger", qualified_name="finance.ledger",
                                        description="Every posting, reconciled monthly")
        cls.amount = factories.field(dataset=cls.ledgers, name="amount", description="Signed amount of the posting")
        cls.account = factories.field(dataset=cls.ledgers, name="account_code", description="Chart of accounts")

    def setUp(self):
        _require_postgresql(self)

    def stored(self) -> set[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT kind, lexeme, object_id, in_name FROM {POSTING_TABLE}")
            return set(cursor.fetchall())

    def expected(self) -> set[tuple]:
        parts = [postings_of_sql(model._meta.db_table, POSTING_KINDS[model._meta.label]) for model in MODELS]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts))
            return set(cursor.fetchall())

    def assertPostingsMatch(self):
        stored = self.stored()
        self.assertEqual(stored, self.expected())
        return stored

    def posting(self, obj, lexeme: str):
        kind = POSTING_KINDS[obj._meta.label]
        return {row[3] for row in self.stored() if row[:3] == (kind, lexeme, obj.pk)}

    def test_created_rows_have_their_postings(self):
        stored = self.assertPostingsMatch()
        self.assertIn((POSTING_KINDS["catalog.Dataset"], "ledger", self.ledgers.pk, True), stored)
        self.assertIn((POSTING_KINDS["catalog.Dataset"], "reconcil", self.ledgers.pk, False), stored)
        self.assertEqual(self.posting(self.amount, "post"), {False})

    def test_an_update_moves_only_what_changed(self):
        self.amount.description = "Signed amount, in the ledger's currency"
        self.amount.save()
        self.assertPostingsMatch()
        self.assertEqual(self.posting(self.amount, "post"), set())
        self.assertEqual(self.posting(self.amount, "currenc"), {False})
        # A word moving from the description into the name changes whether it is a name match.
        self.amount.name = "ledger_amount"
        self.amount.save()
        self.assertPostingsMatch()
        self.assertEqual(self.posting(self.amount, "ledger"), {True})

    def test_bulk_and_raw_writes_are_followed(self):
        before = self.stored()
        Field.objects.filter(dataset=self.ledgers).update(classification="pii")  # the documents stay
        self.assertEqual(self.stored(), before)
        Field.objects.filter(dataset=self.ledgers).update(description="Audited balance")
        self.assertPostingsMatch()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE catalog_dataset SET name = 'Journal' WHERE id = %s", [self.ledgers.pk])
        self.assertPostingsMatch()
        self.assertEqual(self.posting(self.ledgers, "journal"), {True})
        self.assertEqual(self.posting(self.ledgers, "ledger"), set())
        self.assertEqual(self.posting(self.ledgers, "finance.ledger"), {True})  # the qualified name, one token
        Field.objects.bulk_create([Field(dataset=self.ledgers, name=f"extra_{i}", description="Bulk loaded",
                                         position=10 + i) for i in range(3)])
        self.assertEqual(len([row for row in self.assertPostingsMatch() if row[1] == "bulk"]), 3)

    def test_deleted_and_truncated_rows_leave_no_postings(self):
        self.account.delete()
        self.assertPostingsMatch()
        self.assertEqual(self.posting(self.account, "chart"), set())
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending before TRUNCATE
            cursor.execute("TRUNCATE catalog_field CASCADE")
        stored = self.assertPostingsMatch()
        self.assertFalse([row for row in stored if row[0] == POSTING_KINDS["catalog.Field"]])

    def test_a_rolled_back_write_leaves_the_postings_as_they_were(self):
        from django.db import transaction

        before = self.stored()
        with self.assertRaises(RuntimeError), transaction.atomic():
            Dataset.objects.filter(pk=self.ledgers.pk).update(description="Something else entirely")
            raise RuntimeError("roll back")
        self.assertEqual(self.stored(), before)


class TestOneWordSearchWalksThePostings(TestCase):
    """The walk (one-word searches) against the document index's search, forced: the same answers,
    bounded or not, with rules hiding rows, with filters, and for texts that are not one lexeme."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("walk-reader")
        cls.opted_out = make_user("walk-opted-out")
        cls.crm = factories.system(name="Ledger CRM", slug="ledger-crm", kind="crm")
        cls.lake = factories.system(name="Lake", slug="lake", description="Raw ledger exports")
        cls.finance = factories.department(name="Finance", slug="finance", description="Keeps the ledger")
        cls.datasets = [
            factories.dataset(system=(cls.crm, cls.lake)[i % 2], qualified_name=f"raw.table_{i}",
                              name=("Ledger lines" if i % 3 == 0 else f"Table {i}"),
                              description=("Copied from the ledger" if i % 2 else "Daily postings"),
                              classification=("internal", "confidential", "pii")[i % 3],
                              owner_department=cls.finance if i % 2 else None)
            for i in range(8)
        ]
        cls.fields = [
            factories.field(dataset=cls.datasets[i % 8], name=("ledger_id" if i % 5 == 0 else f"column_{i}"),
                            description=("Points into the ledger" if i % 2 else "A posting's amount"),
                            classification=("internal", "confidential", "pii")[i % 3])
            for i in range(24)
        ]
        hidden = cls.fields[3]
        AccessRule.objects.create(subject_kind="user", subject_user=cls.opted_out, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(hidden), target_id=hidden.pk,
                                  reason="not for this reader")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.opted_out, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(cls.datasets[1]),
                                  target_id=cls.datasets[1].pk, reason="not for this reader")

    def setUp(self):
        _require_postgresql(self)
        search._STATEMENTS.clear()
        self.addCleanup(search._STATEMENTS.clear)

    def answer(self, user, params: dict, one_word: re.Pattern | None = None) -> tuple[dict, list[str]]:
        client = APIClient()
        client.force_authenticate(user)
        search._STATEMENTS.clear()
        with mock.patch.object(search, "_ONE_WORD", one_word or search._ONE_WORD), \
                CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/search/", params)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json(), [query["sql"] for query in captured if "search_document" in query["sql"]]

    def test_the_walk_answers_what_the_index_answers(self):
        never = re.compile(r"(?!)")
        cases = [{"q": q, "limit": 50} for q in ("ledger", "posting", "copied", "crm", "finance", "absent", "the")]
        cases += [{"q": "ledger", "limit": 5}, {"q": "ledger", "classification": "pii"},
                  {"q": "ledger", "type": "field", "system": self.crm.pk},
                  {"q": "ledger", "department": self.finance.pk}]
        for bound in (3, 10, 200):
            for user in (self.reader, self.opted_out):
                for params in cases:
                    with self.subTest(bound=bound, user=user.username, **params), \
                            override_settings(ACCORD_SEARCH_EXACT_LIMIT=bound):
                        walked, statements = self.answer(user, params)
                        self.assertEqual(len(statements), 1)
                        self.assertIn(POSTING_TABLE, statements[0])
                        scanned, statements = self.answer(user, params, one_word=never)
                        self.assertNotIn(POSTING_TABLE, statements[0])
                        self.assertEqual(walked, scanned)

    def test_bounded_walk_takes_name_matches_then_the_lowest_ids(self):
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=4):
            body, _ = self.answer(self.reader, {"q": "ledger", "type": "field", "limit": 50})
        named = [field.pk for field in self.fields if field.name == "ledger_id"]
        described = [field.pk for field in self.fields if field.name != "ledger_id"
                     and "ledger" in field.description]
        self.assertEqual(len(named), 5)
        self.assertEqual({hit["id"] for hit in body["results"]}, set(sorted(named)[:4]))
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=7):
            body, _ = self.answer(self.reader, {"q": "ledger", "type": "field", "limit": 50})
        self.assertEqual({hit["id"] for hit in body["results"]}, set(named) | set(sorted(described)[:2]))
        self.assertEqual(body["ranking"], "approximate")

    def test_hidden_rows_are_skipped_not_counted(self):
        body, _ = self.answer(self.opted_out, {"q": "ledger", "limit": 50})
        ids = {(hit["type"], hit["id"]) for hit in body["results"]}
        self.assertNotIn(("field", self.fields[3].pk), ids)
        self.assertNotIn(("dataset", self.datasets[1].pk), ids)
        everyone, _ = self.answer(self.reader, {"q": "ledger", "limit": 50})
        counts = {entry["value"]: entry["count"] for entry in body["facets"]["type"]}
        all_counts = {entry["value"]: entry["count"] for entry in everyone["facets"]["type"]}
        # The hidden field, and the fields of the hidden dataset (a dataset rule covers its fields).
        hidden_fields = {self.fields[3].pk} | {field.pk for field in self.fields
                                               if field.dataset_id == self.datasets[1].pk}
        matching = {field.pk for field in self.fields if "ledger" in field.name or "ledger" in field.description}
        self.assertEqual(all_counts["field"], len(matching))
        self.assertEqual(counts["field"], len(matching - hidden_fields))
        self.assertEqual(counts["dataset"], all_counts["dataset"] - 1)

    def test_a_text_that_is_not_one_lexeme_runs_again_with_the_index(self):
        always = re.compile(r".+", re.S)
        params = {"q": "ledger copied", "limit": 50}
        walked, statements = self.answer(self.reader, params, one_word=always)
        self.assertEqual(len(statements), 2)  # the walk said "not one word", then the index's search
        self.assertIn(POSTING_TABLE, statements[0])
        self.assertNotIn(POSTING_TABLE, statements[1])
        scanned, _ = self.answer(self.reader, params)
        self.assertEqual(walked, scanned)
        self.assertTrue(walked["results"])
