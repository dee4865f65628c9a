"""Search: ranking, facets and filters, on PostgreSQL full-text and on the SQLite fallback."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user


class TestSearch(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("searcher")
        cls.marketing = factories.department(name="Marketing", slug="marketing", description="Demand generation")
        cls.finance = factories.department(name="Finance", slug="finance", description="Invoices and revenue")
        cls.salesforce = factories.system(name="Salesforce", slug="salesforce", kind="crm", vendor="Salesforce")
        cls.stripe = factories.system(name="Stripe", slug="stripe", kind="billing", description="Invoices")
        cls.leads = factories.dataset(
            system=cls.salesforce, qualified_name="crm.leads", name="Leads", kind="object",
            description="Every lead captured by marketing forms", owner_department=cls.marketing,
            classification="pii",
        )
        cls.invoices = factories.dataset(
            system=cls.stripe, qualified_name="billing.invoices", name="Invoices", kind="table",
            description="Customer invoices, one row per invoice; includes the lead source",
            owner_department=cls.finance,
            classification="confidential",
        )
        cls.lead_email = factories.field(
            dataset=cls.leads, name="lead_email", description="E-mail of the lead", classification="pii",
            owner_department=cls.marketing,
        )
        cls.invoice_total = factories.field(
            dataset=cls.invoices, name="amount_due", description="Total due", classification="confidential",
            owner_department=cls.finance,
        )

    def setUp(self):
        self.client = APIClient()
        self.client.force_authenticate(self.user)

    def search(self, **params):
        response = self.client.get("/api/v1/search/", params)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def test_anonymous_is_refused(self):
        self.assertEqual(APIClient().get("/api/v1/search/", {"q": "lead"}).status_code, 401)

    def test_finds_every_type(self):
        body = self.search(q="invoices")
        found = {(hit["type"], hit["id"]) for hit in body["results"]}
        self.assertIn(("dataset", self.invoices.pk), found)
        self.assertIn(("system", self.stripe.pk), found)
        self.assertIn(("department", self.finance.pk), found)

    def test_finds_fields_with_their_dataset(self):
        body = self.search(q="lead", type="field")
        hits = [hit for hit in body["results"] if hit["type"] == "field"]
        self.assertEqual([hit["id"] for hit in hits], [self.lead_email.pk])
        self.assertEqual(hits[0]["dataset"]["qualified_name"], "crm.leads")
        self.assertEqual(hits[0]["title"], "crm.leads.lead_email")

    def test_name_match_ranks_above_description_match(self):
        body = self.search(q="leads", type="dataset")
        ids = [hit["id"] for hit in body["results"]]
        # "Leads" is the dataset's name; the invoices only mention a lead in their description.
        self.assertEqual(ids[0], self.leads.pk)
        if self.invoices.pk in ids:
            self.assertGreater(body["results"][0]["rank"], body["results"][ids.index(self.invoices.pk)]["rank"])

    def test_results_are_sorted_by_rank(self):
        ranks = [hit["rank"] for hit in self.search(q="lead")["results"]]
        self.assertEqual(ranks, sorted(ranks, reverse=True))

    def test_facets_count_matches(self):
        body = self.search(q="invoices")
        types = {entry["value"]: entry["count"] for entry in body["facets"]["type"]}
        self.assertEqual(types.get("dataset"), 1)
        self.assertEqual(types.get("system"), 1)
        systems = {entry["value"]: entry for entry in body["facets"]["system"]}
        self.assertEqual(systems[self.stripe.pk]["label"], "Stripe")
        departments = {entry["value"]: entry["label"] for entry in body["facets"]["department"]}
        self.assertEqual(departments[self.finance.pk], "Finance")
        classifications = {entry["value"] for entry in body["facets"]["classification"]}
        self.assertIn("confidential", classifications)

    def test_a_deny_rule_applies_to_the_next_search(self):
        """The visible-rows SQL is kept between searches, keyed on the visibility condition: a new rule
        changes the condition, so the very next search hides the row, its counts and its label."""
        body = self.search(q="invoices")
        self.assertIn(("system", self.stripe.pk), {(hit["type"], hit["id"]) for hit in body["results"]})
        AccessRule.objects.create(subject_kind="user", subject_user=self.user, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(self.stripe),
                                  target_id=self.stripe.pk, reason="test")
        body = self.search(q="invoices")
        self.assertNotIn(("system", self.stripe.pk), {(hit["type"], hit["id"]) for hit in body["results"]})
        self.assertNotIn(self.stripe.pk, {entry["value"] for entry in body["facets"]["system"]})
        self.assertNotIn("system", {entry["value"] for entry in body["facets"]["type"]})

    def test_small_result_sets_are_exact(self):
        body = self.search(q="invoices")
        self.assertEqual(body["ranking"], "exact")
        for facet, entries in body["facets"].items():
            for entry in entries:
                self.assertIs(entry["count_exact"], True, (facet, entry))

    def test_filter_by_system_narrows_results_but_not_its_own_facet(self):
        body = self.search(q="lead", system=self.salesforce.pk)
        self.assertTrue(body["results"])
        for hit in body["results"]:
            if hit["type"] == "dataset":
                self.assertEqual(hit["system"]["id"], self.salesforce.pk)
        # The system facet ignores the system filter, so other systems' counts remain visible.
        system_values = {entry["value"] for entry in body["facets"]["system"]}
        self.assertIn(self.salesforce.pk, system_values)

    def test_filter_by_classification_and_department(self):
        body = self.search(q="lead", classification="pii", department=self.marketing.pk, type="dataset")
        self.assertEqual([hit["id"] for hit in body["results"]], [self.leads.pk])

    def test_limit(self):
        self.assertLessEqual(len(self.search(q="lead", limit=1)["results"]), 1)

    def test_no_match_is_empty_not_an_error(self):
        body = self.search(q="zebrafish")
        self.assertEqual(body["results"], [])
        self.assertEqual(body["facets"]["type"], [])

    def test_bad_parameters_are_400(self):
        for params, field in (
            ({}, "q"),
            ({"q": "x", "limit": 0}, "limit"),
            ({"q": "x", "limit": 1000}, "limit"),
            ({"q": "x", "type": "invoice"}, "type"),
            ({"q": "x", "system": "abc"}, "system"),
            ({"q": "x" * 201}, "q"),
        ):
            with self.subTest(params=params):
                response = self.client.get("/api/v1/search/", params)
                self.assertEqual(response.status_code, 400)
                self.assertIn(field, response.json()["errors"])


class TestBoundedSearch(TestCase):
    """Beyond ACCORD_SEARCH_EXACT_LIMIT matches of a type, counts are lower bounds and ranking approximate."""

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("broad-searcher")
        cls.ledgers = factories.dataset(name="General records", qualified_name="finance.records",
                                        description="Postings")
        # Five fields mention the ledger in their description only; one is named after it, and comes last.
        cls.described = [
            factories.field(dataset=cls.ledgers, name=f"posting_{i}", description="Copied from the ledger",
                            classification="internal")
            for i in range(5)
        ]
        cls.named = factories.field(dataset=cls.ledgers, name="ledger", description="Which ledger",
                                    classification="confidential")

    def setUp(self):
        self.client = APIClient()
        self.client.force_authenticate(self.user)

    def search(self, **params):
        response = self.client.get("/api/v1/search/", {"q": "ledger", "limit": 100, **params})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def test_exact_up_to_the_limit(self):
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=6):
            body = self.search()
        self.assertEqual(body["ranking"], "exact")
        self.assertEqual(body["facets"]["type"], [{"value": "field", "count": 6, "count_exact": True}])
        self.assertEqual(len(body["results"]), 6)

    def test_beyond_the_limit_counts_are_lower_bounds(self):
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=3):
            body = self.search()
        self.assertEqual(body["ranking"], "approximate")
        self.assertEqual(body["facets"]["type"], [{"value": "field", "count": 3, "count_exact": False}])
        self.assertEqual(len(body["results"]), 3)
        classifications = body["facets"]["classification"]
        self.assertEqual(sum(entry["count"] for entry in classifications), 3)
        self.assertTrue(all(entry["count_exact"] is False for entry in classifications))

    def test_name_matches_are_candidates_first(self):
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=2):
            body = self.search()
        # The field named "ledger" was created last, yet it is in the candidate set, and ranks first.
        self.assertEqual(body["results"][0]["id"], self.named.pk)
        self.assertEqual(len(body["results"]), 2)

    def test_the_other_candidates_are_the_oldest_matches(self):
        # Name match first, then the description-only matches by id: the same set whatever plan
        # the database picks (the earliest created of the five).
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=3):
            body = self.search()
        self.assertEqual({hit["id"] for hit in body["results"]},
                         {self.named.pk, self.described[0].pk, self.described[1].pk})

    def test_a_facet_filter_narrows_within_the_candidates(self):
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=3):
            body = self.search(classification="confidential")
        self.assertEqual([hit["id"] for hit in body["results"]], [self.named.pk])
        # The classification facet ignores its own filter: every candidate still counts there.
        self.assertEqual(sum(entry["count"] for entry in body["facets"]["classification"]), 3)

    def test_the_same_number_of_queries_whatever_the_matches_and_limit(self):
        def queries(**params) -> int:
            with CaptureQueriesContext(connection) as captured:
                self.search(**params)
            return len(captured)

        few = queries(limit=1)
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=2):
            bounded = queries(limit=100)
        self.assertEqual(few, bounded)
        if connection.vendor == "postgresql":
            with CaptureQueriesContext(connection) as captured:
                self.search()
            statements = [query["sql"] for query in captured if "search_document" in query["sql"]]
            # The hits, facet counts and facet labels of every type in one statement.
            self.assertEqual(len(statements), 1)
            self.assertFalse([query["sql"] for query in captured if "catalog_system" in query["sql"]
                              and "search_document" not in query["sql"]])


class TestKeptSearchStatement(TestCase):
    """On PostgreSQL the search statement is built once per types, set filters and visibility, and
    each search fills in its own text, limit and filter values."""

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("kept-searcher")
        cls.crm = factories.system(name="CRM", slug="crm")
        cls.lake = factories.system(name="Lake", slug="lake")
        cls.leads = factories.dataset(system=cls.crm, qualified_name="crm.leads", name="Leads")
        cls.raw_leads = factories.dataset(system=cls.lake, qualified_name="raw.leads", name="Raw leads")
        cls.invoices = factories.dataset(system=cls.lake, qualified_name="raw.invoices", name="Invoices")

    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("the statement is kept on PostgreSQL (the fallback builds no statement)")
        from catalog import search

        search._STATEMENTS.clear()
        self.client = APIClient()
        self.client.force_authenticate(self.user)

    def ids(self, **params) -> list[int]:
        response = self.client.get("/api/v1/search/", {"type": "dataset", **params})
        self.assertEqual(response.status_code, 200, response.content)
        return sorted(hit["id"] for hit in response.json()["results"])

    def test_built_once_and_filled_in_by_each_search(self):
        from unittest import mock

        from catalog import search

        with mock.patch.object(search, "_type_sql", wraps=search._type_sql) as build:
            self.assertEqual(self.ids(q="leads"), sorted([self.leads.pk, self.raw_leads.pk]))
            built = build.call_count
            self.assertEqual(self.ids(q="invoices"), [self.invoices.pk])
            self.assertEqual(self.ids(q="leads", limit=1), [self.leads.pk])  # same rank: by id
            self.assertEqual(build.call_count, built)
            # Filter values are the search's own; which filters are set shapes the statement.
            self.assertEqual(self.ids(q="leads", system=self.lake.pk), [self.raw_leads.pk])
            rebuilt = build.call_count
            self.assertGreater(rebuilt, built)
            self.assertEqual(self.ids(q="leads", system=self.crm.pk), [self.leads.pk])
            self.assertEqual(build.call_count, rebuilt)

    def test_a_new_rule_is_seen_by_the_next_search(self):
        self.assertEqual(self.ids(q="leads"), sorted([self.leads.pk, self.raw_leads.pk]))
        AccessRule.objects.create(subject_kind="user", subject_user=self.user, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(self.raw_leads),
                                  target_id=self.raw_leads.pk, reason="not for this reader")
        self.assertEqual(self.ids(q="leads"), [self.leads.pk])
