"""Search: ranking, facets and filters, on PostgreSQL full-text and on the SQLite fallback."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog.models import Dataset, Department, Field, System
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
        """The very next search after a new rule hides the row, its counts and its label."""
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
                                        description="Entries")
        # Five fields mention the ledger in their description only; one is named after it, and comes last.
        cls.described = [
            factories.field(dataset=cls.ledgers, name=f"entry_{i}", description="Copied from the ledger",
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


class TestSearchFollowsTheCatalog(TestCase):
    """Each search reads the catalog and the rules as they are: a field counts under its dataset's
    current system, a new rule hides rows from the next search, and hidden rows are never counted."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("follower")
        cls.opted_out = make_user("opted-out")
        cls.crm = factories.system(name="CRM", slug="crm")
        cls.warehouse = factories.system(name="Warehouse", slug="warehouse")
        cls.leads = factories.dataset(system=cls.crm, name="Leads", qualified_name="crm.leads",
                                      description="The source of every lead")
        cls.model = factories.dataset(system=cls.warehouse, name="Lead model", qualified_name="dw.leads")
        cls.sources = [factories.field(dataset=cls.leads, name=f"lead_source_{i}",
                                       description="Where the lead came from") for i in range(3)]
        cls.model_source = factories.field(dataset=cls.model, name="lead_source",
                                           description="Where the lead came from")
        rule = {"subject_kind": "user", "subject_user": cls.opted_out, "target_kind": "object",
                "reason": "not for this reader"}
        AccessRule.objects.create(**rule, target_type=ContentType.objects.get_for_model(Field),
                                  target_id=cls.sources[0].pk)
        AccessRule.objects.create(**rule, target_type=ContentType.objects.get_for_model(Dataset),
                                  target_id=cls.model.pk)

    def search(self, user=None, **params) -> dict:
        client = APIClient()
        client.force_authenticate(user or self.reader)
        response = client.get("/api/v1/search/", {"q": "source", "limit": 50, **params})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def system_facet(self, **params) -> dict[int, int]:
        return {entry["value"]: entry["count"] for entry in self.search(type="field", **params)["facets"]["system"]}

    def test_fields_count_under_their_datasets_current_system(self):
        self.assertEqual(self.system_facet(), {self.crm.pk: 3, self.warehouse.pk: 1})
        self.leads.system = self.warehouse
        self.leads.save()
        self.assertEqual(self.system_facet(), {self.warehouse.pk: 4})
        Dataset.objects.filter(pk=self.leads.pk).update(system=self.crm)  # a bulk move too
        self.assertEqual(self.system_facet(), {self.crm.pk: 3, self.warehouse.pk: 1})
        self.sources[1].dataset = self.model  # and a field moved to another dataset
        self.sources[1].save()
        self.assertEqual(self.system_facet(), {self.crm.pk: 2, self.warehouse.pk: 2})

    def test_the_system_filter_follows_the_datasets_system(self):
        hits = self.search(type="field", system=self.warehouse.pk)["results"]
        self.assertEqual([hit["id"] for hit in hits], [self.model_source.pk])
        self.leads.system = self.warehouse
        self.leads.save()
        hits = self.search(type="field", system=self.warehouse.pk)["results"]
        self.assertEqual(len(hits), 4)
        self.assertEqual(self.search(type="field", system=self.crm.pk)["results"], [])

    def test_hidden_rows_are_never_counted(self):
        everyone, opted_out = self.search(), self.search(self.opted_out)
        counts = {entry["value"]: entry["count"] for entry in opted_out["facets"]["type"]}
        self.assertEqual({entry["value"]: entry["count"] for entry in everyone["facets"]["type"]},
                         {"field": 4, "dataset": 1})
        # The hidden field, and the field of the hidden dataset (a dataset rule covers its fields).
        self.assertEqual(counts, {"field": 2, "dataset": 1})
        found = {(hit["type"], hit["id"]) for hit in opted_out["results"]}
        self.assertEqual(found, {("dataset", self.leads.pk), *(("field", f.pk) for f in self.sources[1:])})
        systems = {entry["value"]: entry["count"] for entry in opted_out["facets"]["system"]}
        self.assertEqual(systems, {self.crm.pk: 3})

    def test_hidden_rows_are_never_counted_when_bounded(self):
        def fields(body: dict) -> list[dict]:
            return [entry for entry in body["facets"]["type"] if entry["value"] == "field"]

        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=2):
            body = self.search(self.opted_out, type="field")
        self.assertEqual(fields(body), [{"value": "field", "count": 2, "count_exact": True}])
        self.assertEqual({hit["id"] for hit in body["results"]}, {f.pk for f in self.sources[1:]})
        with override_settings(ACCORD_SEARCH_EXACT_LIMIT=1):
            body = self.search(self.opted_out, type="field")
        self.assertEqual(fields(body), [{"value": "field", "count": 1, "count_exact": False}])
        self.assertEqual(body["ranking"], "approximate")
        self.assertEqual([hit["id"] for hit in body["results"]], [self.sources[1].pk])

    def test_a_new_rule_is_seen_by_the_next_search(self):
        self.assertEqual(len(self.search(type="field")["results"]), 4)
        AccessRule.objects.create(subject_kind="user", subject_user=self.reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(Dataset), target_id=self.leads.pk,
                                  reason="not for this reader")
        body = self.search()
        self.assertEqual({(hit["type"], hit["id"]) for hit in body["results"]}, {("field", self.model_source.pk)})
        self.assertEqual({entry["value"] for entry in body["facets"]["system"]}, {self.warehouse.pk})


class TestSearchSchema(TestCase):
    """On PostgreSQL, search needs the stored documents and their GIN indexes, and nothing else: no
    table, column, function or trigger beside them that copies search data (migration 0010 drops
    those that 0006-0008 made)."""

    MODELS = (Dataset, Field, System, Department)

    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("the documents and their indexes exist on PostgreSQL only")

    def rows(self, sql: str, params=()) -> set:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {row if len(row) > 1 else row[0] for row in cursor.fetchall()}

    def test_the_documents_and_their_indexes_are_there(self):
        columns = self.rows("SELECT table_name, data_type FROM information_schema.columns "
                            "WHERE column_name = 'search_document' AND table_schema = current_schema()")
        self.assertEqual(columns, {(model._meta.db_table, "tsvector") for model in self.MODELS})
        indexes = self.rows("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                            "AND indexdef LIKE '%%USING gin%%'")
        for model in self.MODELS:
            name = model._meta.model_name
            self.assertLessEqual({f"{name}_document_gin", f"{name}_name_gin"}, indexes)

    def test_nothing_else_is_kept_for_search(self):
        for model in self.MODELS:
            with self.subTest(model=model.__name__):
                columns = self.rows("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_schema = current_schema() AND table_name = %s",
                                    [model._meta.db_table])
                self.assertEqual(columns, {field.column for field in model._meta.concrete_fields}
                                 | {"search_document"})
                triggers = self.rows("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                     "WHERE NOT t.tgisinternal AND c.relname = %s", [model._meta.db_table])
                # Only the access generation's triggers (departments decide whom a rule reaches).
                self.assertEqual({name for name in triggers if not name.startswith("accord_generation_")}, set())
        self.assertFalse(self.rows("SELECT table_name FROM information_schema.tables "
                                   "WHERE table_schema = current_schema() AND table_name LIKE 'catalog\\_search\\_%%'"))
        self.assertFalse(self.rows("SELECT proname FROM pg_proc WHERE proname LIKE 'accord\\_search\\_%%' "
                                   "OR proname IN ('accord_field_system', 'accord_dataset_system')"))
