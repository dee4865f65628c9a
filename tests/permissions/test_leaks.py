"""Hidden is the same as missing, on every read path.

Contractors are opted out of three things, each by a deny rule naming their department:

* a dataset (``deals.acquisition_targets``), by a rule on the dataset object;
* a field (``crm.accounts.tax_id``) inside a dataset they do see, by a rule on the field;
* a system (``Workday``), by a rule on the system: its dataset ``hr.salaries`` and that
  dataset's fields are hidden with it.

For a contractor, none of these may show up anywhere - a list, a detail, an embedded
field list or count, lineage, a filter, search results or facets, an object's history,
pagination, a validation message, the admin - and where they would be addressed by id
the answer must be exactly the one for an id that does not exist. Every "absent" check
is paired with proof that the object is there (a colleague, not opted out, reads it, or
the row exists), so no check passes because the object was never there.

The strongest checks compare a contractor's response with a colleague's response in a
world where the hidden objects were never registered (``world_without_hidden_objects``):
the two must be identical, counts and facets included.

Deleting something with hidden dependents is refused without naming them
(permissions.deletion), and a registration never reports or touches hidden fields.
"""

from __future__ import annotations

import datetime
import re
from contextlib import contextmanager

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client, TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Dataset, Field, LineageEdge, System
from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import make_user

API = "/api/v1/"
# Words that only hidden objects carry: none may appear in anything a contractor reads.
HIDDEN_WORDS = ("acquisition", "tax_id", "Workday", "salaries", "salary_band", "company_name")


def deny(obj, department, **kw) -> AccessRule:
    return AccessRule.objects.create(
        subject_kind="department", subject_department=department, target_kind="object",
        target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk,
        reason=kw.pop("reason", f"{department} may not see {obj}"), **kw,
    )


def catalog_perms() -> tuple[str, ...]:
    return tuple(f"catalog.{codename}" for codename in Permission.objects.filter(
        content_type__app_label="catalog").exclude(codename__contains="objectpermission")
        .values_list("codename", flat=True))


def ids(rows) -> set[int]:
    return {row["id"] for row in rows}


class LeakTestBase(TestCase):
    def client_for(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def walk(self, client: APIClient, url: str, params: dict | None = None) -> list[dict]:
        """Every row of a cursor-paginated list, page by page."""
        rows: list[dict] = []
        response = client.get(url, params or {})
        while True:
            self.assertEqual(response.status_code, 200, response.content)
            body = response.json()
            rows.extend(body["results"])
            if not body["next"]:
                return rows
            response = client.get(body["next"])

    def assertMentionsNone(self, text: str, words=HIDDEN_WORDS):  # noqa: N802 - unittest naming
        found = [word for word in words if word.lower() in text.lower()]
        self.assertFalse(found, f"hidden names {found} leak in: {text[:2000]}")

    def missing_id(self, model) -> int:
        return (model._base_manager.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


class HiddenObjectsTests(LeakTestBase):
    @classmethod
    def setUpTestData(cls):
        contractors = factories.department(name="Contractors", slug="contractors")
        sales = factories.department(name="Sales", slug="sales")
        corpdev = factories.department(name="Corporate development", slug="corpdev")
        people = factories.department(name="People operations", slug="people")

        cls.opted_out = make_user("contractor")
        cls.colleague = make_user("colleague")
        cls.staff_opted_out = make_user("staff-contractor", is_staff=True, perms=catalog_perms())
        cls.staff_colleague = make_user("staff-colleague", is_staff=True, perms=catalog_perms())
        for user in (cls.opted_out, cls.staff_opted_out):
            factories.membership(user, department=contractors)
        for user in (cls.colleague, cls.staff_colleague):
            factories.membership(user, department=sales)

        cls.warehouse = factories.system(name="Warehouse", slug="warehouse", kind="warehouse",
                                         owner_department=sales, description="zephyr analytics warehouse")
        cls.workday = factories.system(name="Workday", slug="workday", kind="hris", owner_department=people,
                                       description="zephyr people records")
        cls.accounts = factories.dataset(system=cls.warehouse, qualified_name="crm.accounts", name="Accounts",
                                         owner_department=sales, description="zephyr customer accounts",
                                         row_count=500, classification="internal")
        cls.orders = factories.dataset(system=cls.warehouse, qualified_name="crm.orders", name="Orders",
                                       owner_department=sales, description="zephyr orders", row_count=9000,
                                       classification="confidential")
        cls.targets = factories.dataset(system=cls.warehouse, qualified_name="deals.acquisition_targets",
                                        name="Acquisition targets", kind="report", owner_department=corpdev,
                                        description="zephyr companies we may buy", row_count=12,
                                        classification="restricted")
        cls.salaries = factories.dataset(system=cls.workday, qualified_name="hr.salaries", name="Salaries",
                                         owner_department=people, description="zephyr pay", row_count=3000)
        cls.account_id = factories.field(dataset=cls.accounts, name="account_id", data_type="bigint",
                                         description="zephyr key", position=1)
        cls.tax_id = factories.field(dataset=cls.accounts, name="tax_id", data_type="varchar(20)",
                                     description="zephyr tax number", classification="pii", position=2)
        cls.customer_id = factories.field(dataset=cls.orders, name="customer_id", data_type="bigint",
                                          description="zephyr buyer", position=1)
        cls.company_name = factories.field(dataset=cls.targets, name="company_name", data_type="text",
                                           description="zephyr target", position=1)
        cls.salary_band = factories.field(dataset=cls.salaries, name="salary_band", data_type="text",
                                          description="zephyr band", position=1)

        cls.visible_edge = factories.lineage(source=cls.accounts, target=cls.orders, transformation="zephyr join")
        cls.visible_field_edge = factories.lineage(source=cls.accounts, target=cls.orders,
                                                   source_field=cls.account_id, target_field=cls.customer_id)
        cls.edge_to_hidden_dataset = factories.lineage(source=cls.accounts, target=cls.targets)
        cls.edge_from_hidden_system = factories.lineage(source=cls.salaries, target=cls.accounts)
        cls.edge_from_hidden_field = factories.lineage(source=cls.accounts, target=cls.orders,
                                                       source_field=cls.tax_id, target_field=cls.customer_id)

        deny(cls.targets, contractors, reason="Deal flow is insider information")
        deny(cls.tax_id, contractors, reason="Tax numbers are personal data")
        deny(cls.workday, contractors, reason="HR data stays with employees")
        # A change to the hidden field, so the visible dataset's history has something to hide.
        cls.tax_id.description = "zephyr tax number (VAT or SSN)"
        cls.tax_id.save()

        cls.hidden = {
            "datasets": {cls.targets.pk, cls.salaries.pk},
            "fields": {cls.tax_id.pk, cls.company_name.pk, cls.salary_band.pk},
            "systems": {cls.workday.pk},
            "lineage-edges": {cls.edge_to_hidden_dataset.pk, cls.edge_from_hidden_system.pk,
                              cls.edge_from_hidden_field.pk},
        }

    @contextmanager
    def world_without_hidden_objects(self):
        """The catalog as it would be had the hidden objects never been registered (rolled back after)."""
        savepoint = transaction.savepoint()
        try:
            Dataset._base_manager.filter(pk__in=[self.targets.pk, self.salaries.pk]).delete()
            Field._base_manager.filter(pk=self.tax_id.pk).delete()
            System._base_manager.filter(pk=self.workday.pk).delete()
            yield
        finally:
            transaction.savepoint_rollback(savepoint)

    # --- detail: 404, the same body as for an id that does not exist -----------------------------

    def test_hidden_objects_answer_exactly_like_missing_ids(self):
        contractor = self.client_for(self.opted_out)
        cases = [
            ("datasets/{}/", Dataset, self.targets.pk), ("datasets/{}/", Dataset, self.salaries.pk),
            ("datasets/{}/fields/", Dataset, self.targets.pk), ("datasets/{}/lineage/", Dataset, self.targets.pk),
            ("datasets/{}/history/", Dataset, self.salaries.pk),
            ("fields/{}/", Field, self.tax_id.pk), ("fields/{}/", Field, self.company_name.pk),
            ("fields/{}/", Field, self.salary_band.pk), ("fields/{}/history/", Field, self.tax_id.pk),
            ("systems/{}/", System, self.workday.pk),
            ("lineage-edges/{}/", LineageEdge, self.edge_to_hidden_dataset.pk),
            ("lineage-edges/{}/", LineageEdge, self.edge_from_hidden_system.pk),
            ("lineage-edges/{}/", LineageEdge, self.edge_from_hidden_field.pk),
        ]
        missing_answers: dict[str, tuple[int, dict]] = {}  # per path: asked once, for an id that does not exist
        for path, model, pk in cases:
            url = API + path.format(pk)
            with self.subTest(url=url):
                self.assertTrue(model._base_manager.filter(pk=pk).exists())  # there is something to hide
                hidden = contractor.get(url)
                self.assertEqual(hidden.status_code, 404, hidden.content)
                if path not in missing_answers:
                    missing = contractor.get(API + path.format(self.missing_id(model)))
                    missing_answers[path] = (missing.status_code, missing.json())
                self.assertEqual((hidden.status_code, hidden.json()), missing_answers[path])
        # The colleague reads them (test_lists_show_only_what_the_contractor_may_see shows all of them).
        self.assertEqual(self.client_for(self.colleague).get(f"{API}fields/{self.tax_id.pk}/").status_code, 200)

    def test_writes_to_hidden_objects_answer_like_missing_ids(self):
        # The staff contractor holds every catalog model permission: only visibility stops them.
        client = self.client_for(self.staff_opted_out)
        for path, model, pk in (("datasets/{}/", Dataset, self.targets.pk), ("fields/{}/", Field, self.tax_id.pk),
                                ("systems/{}/", System, self.workday.pk)):
            for method in ("patch", "put", "delete"):
                with self.subTest(path=path, method=method):
                    hidden = getattr(client, method)(API + path.format(pk), {"description": "x"}, format="json")
                    missing = getattr(client, method)(API + path.format(self.missing_id(model)),
                                                      {"description": "x"}, format="json")
                    self.assertEqual((hidden.status_code, hidden.json()), (missing.status_code, missing.json()))
                    self.assertEqual(hidden.status_code, 404)
        self.assertTrue(Dataset.objects.filter(pk=self.targets.pk).exists())

    # --- lists, embedded fields and counts -------------------------------------------------------

    def test_lists_show_only_what_the_contractor_may_see(self):
        contractor, colleague = self.client_for(self.opted_out), self.client_for(self.colleague)
        for resource, hidden in self.hidden.items():
            with self.subTest(resource=resource):
                seen = ids(self.walk(contractor, API + resource + "/", {"page_size": 2}))
                everything = ids(self.walk(colleague, API + resource + "/", {"page_size": 2}))
                self.assertLessEqual(hidden, everything)
                self.assertEqual(seen, everything - hidden)

    def test_lists_equal_a_world_without_the_hidden_objects(self):
        contractor = self.client_for(self.opted_out)
        urls = [API + resource + "/?page_size=1000" for resource in self.hidden]
        seen = {url: contractor.get(url).json() for url in urls}
        with self.world_without_hidden_objects():
            colleague = self.client_for(self.colleague)
            for url in urls:
                with self.subTest(url=url):
                    self.assertEqual(seen[url], colleague.get(url).json())

    def test_dataset_embeds_and_counts_only_visible_fields(self):
        contractor, colleague = self.client_for(self.opted_out), self.client_for(self.colleague)
        url = f"{API}datasets/{self.accounts.pk}/"
        detail = contractor.get(url).json()
        self.assertEqual([f["name"] for f in detail["fields"]], ["account_id"])
        self.assertEqual(detail["field_count"], 1)
        self.assertMentionsNone(contractor.get(url).content.decode())
        self.assertEqual(colleague.get(url).json()["field_count"], 2)
        listed = {row["id"]: row for row in self.walk(contractor, API + "datasets/")}
        self.assertEqual(listed[self.accounts.pk]["field_count"], 1)
        nested = self.walk(contractor, f"{API}datasets/{self.accounts.pk}/fields/")
        self.assertEqual([f["name"] for f in nested], ["account_id"])
        with self.world_without_hidden_objects():
            self.assertEqual(detail, self.client_for(self.colleague).get(url).json())

    # --- lineage -------------------------------------------------------------------------------

    def test_lineage_of_a_visible_dataset_leaves_out_edges_to_hidden_ones(self):
        contractor = self.client_for(self.opted_out)
        url = f"{API}datasets/{self.accounts.pk}/lineage/"
        response = contractor.get(url)
        body = response.json()
        self.assertEqual(ids(body["downstream"]), {self.visible_edge.pk, self.visible_field_edge.pk})
        self.assertEqual(body["upstream"], [])
        self.assertMentionsNone(response.content.decode())
        everything = self.client_for(self.colleague).get(url).json()
        self.assertIn(self.edge_to_hidden_dataset.pk, ids(everything["downstream"]))
        self.assertIn(self.edge_from_hidden_system.pk, ids(everything["upstream"]))
        with self.world_without_hidden_objects():
            self.assertEqual(body, self.client_for(self.colleague).get(url).json())

    # --- filters that take ids -----------------------------------------------------------------

    def test_filters_naming_hidden_ids_match_nothing_like_missing_ids(self):
        contractor = self.client_for(self.opted_out)
        missing_dataset, missing_system = self.missing_id(Dataset), self.missing_id(System)
        # (list, filter, hidden id, an id that does not exist, the rows the filter reaches for everyone else)
        cases = [
            ("fields/", "dataset", self.targets.pk, missing_dataset, Field.objects.filter(dataset=self.targets)),
            ("fields/", "dataset", self.salaries.pk, missing_dataset, Field.objects.filter(dataset=self.salaries)),
            ("fields/", "system", self.workday.pk, missing_system,
             Field.objects.filter(dataset__system=self.workday)),
            ("fields/", "id", self.tax_id.pk, self.missing_id(Field), Field.objects.filter(pk=self.tax_id.pk)),
            ("datasets/", "system", self.workday.pk, missing_system, Dataset.objects.filter(system=self.workday)),
            ("datasets/", "id", self.targets.pk, missing_dataset, Dataset.objects.filter(pk=self.targets.pk)),
            ("lineage-edges/", "dataset", self.targets.pk, missing_dataset,
             LineageEdge.objects.filter(target=self.targets)),
            ("lineage-edges/", "target", self.targets.pk, missing_dataset,
             LineageEdge.objects.filter(target=self.targets)),
            ("lineage-edges/", "source", self.salaries.pk, missing_dataset,
             LineageEdge.objects.filter(source=self.salaries)),
        ]
        missing_answers: dict[tuple[str, str], dict] = {}
        for resource, name, hidden_id, missing_id, reached in cases:
            with self.subTest(resource=resource, filter=name, hidden_id=hidden_id):
                self.assertTrue(reached.exists())
                hidden = contractor.get(API + resource, {name: hidden_id})
                # A row's own id matches nothing; a related object's id is refused (400, naming it).
                self.assertEqual(hidden.status_code, 200 if name == "id" else 400, hidden.content)
                if (resource, name) not in missing_answers:
                    missing = contractor.get(API + resource, {name: missing_id})
                    missing_answers[resource, name] = missing.content.decode().replace(str(missing_id), "ID")
                self.assertEqual(hidden.content.decode().replace(str(hidden_id), "ID"), missing_answers[resource, name])
        # For the colleague the same filter does find the rows.
        colleague = self.client_for(self.colleague).get(API + "fields/", {"dataset": self.targets.pk}).json()
        self.assertEqual(ids(colleague["results"]), {self.company_name.pk})

    # --- search ------------------------------------------------------------------------------------

    def test_search_hits_and_facets_never_count_or_name_hidden_objects(self):
        contractor = self.client_for(self.opted_out)
        response = contractor.get(API + "search/", {"q": "zephyr", "limit": 100})
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        hits = {(hit["type"], hit["id"]) for hit in body["results"]}
        self.assertIn(("dataset", self.accounts.pk), hits)
        self.assertFalse(hits & {("dataset", pk) for pk in self.hidden["datasets"]})
        self.assertFalse(hits & {("field", pk) for pk in self.hidden["fields"]})
        self.assertNotIn(("system", self.workday.pk), hits)
        self.assertMentionsNone(response.content.decode())
        facets = body["facets"]
        self.assertNotIn(self.workday.pk, [entry["value"] for entry in facets["system"]])
        # Only hidden objects are reports, HR systems, restricted or PII, or owned by
        # Corporate development / People operations: those entries must not exist at all.
        self.assertFalse({"report", "hris"} & {entry["value"] for entry in facets["kind"]}, facets["kind"])
        self.assertFalse({"restricted", "pii"} & {e["value"] for e in facets["classification"]})
        departments = {entry.get("label") for entry in facets["department"]}
        self.assertFalse({"Corporate development", "People operations"} & departments, departments)
        self.assertEqual({e["value"]: e["count"] for e in facets["type"]}["dataset"], 2)
        # The colleague's facets do carry all of them.
        everything = self.client_for(self.colleague).get(API + "search/", {"q": "zephyr", "limit": 100}).json()
        self.assertLessEqual({"report", "hris"}, {e["value"] for e in everything["facets"]["kind"]})
        self.assertLessEqual({"restricted", "pii"}, {e["value"] for e in everything["facets"]["classification"]})
        self.assertIn("Corporate development", {e.get("label") for e in everything["facets"]["department"]})
        self.assertEqual({e["value"]: e["count"] for e in everything["facets"]["type"]}["dataset"], 4)

    def test_search_equals_a_world_without_the_hidden_objects(self):
        contractor = self.client_for(self.opted_out)
        queries = [
            {"q": "zephyr", "limit": 100},
            {"q": "zephyr", "type": "field", "limit": 100},
            {"q": "zephyr", "classification": "pii,restricted", "limit": 100},
            {"q": "zephyr", "kind": "report", "limit": 100},
            {"q": "acquisition"}, {"q": "Workday"},
        ]
        seen = [contractor.get(API + "search/", query).json() for query in queries]
        with self.world_without_hidden_objects():
            colleague = self.client_for(self.colleague)
            for query, body in zip(queries, seen, strict=True):
                with self.subTest(query=query):
                    self.assertEqual(body, colleague.get(API + "search/", query).json())

    def test_search_filter_on_a_hidden_system_answers_like_a_missing_one(self):
        contractor = self.client_for(self.opted_out)
        hidden = contractor.get(API + "search/", {"q": "zephyr", "system": self.workday.pk})
        missing = contractor.get(API + "search/", {"q": "zephyr", "system": self.missing_id(System)})
        self.assertEqual(hidden.status_code, 200, hidden.content)
        self.assertEqual(hidden.json(), missing.json())
        self.assertEqual(hidden.json()["results"], [])

    # --- history ---------------------------------------------------------------------------------

    def test_history_of_a_visible_dataset_leaves_out_the_hidden_field(self):
        url = f"{API}datasets/{self.accounts.pk}/history/"
        records = self.walk(self.client_for(self.opted_out), url, {"page_size": 3})
        about_fields = {(r["object_type"], r["object_id"]) for r in records if r["object_type"] == "catalog.field"}
        self.assertEqual(about_fields, {("catalog.field", str(self.account_id.pk))})
        self.assertMentionsNone(repr(records))
        everything = self.walk(self.client_for(self.colleague), url)
        self.assertIn(str(self.tax_id.pk), {r["object_id"] for r in everything if r["object_type"] == "catalog.field"})

    # --- ordering and pagination -------------------------------------------------------------------

    def test_every_ordering_walks_only_visible_rows_once(self):
        contractor = self.client_for(self.opted_out)
        cases = {
            # Text, choice, number and (all-null) date columns, both ways.
            "datasets/": ["-name", "classification", "-row_count", "published_at", "-id"],
            "fields/": ["name", "-classification", "-position"],
            "systems/": ["-kind"],
            "lineage-edges/": ["-updated_at"],
        }
        expected = {
            resource: ids(self.walk(contractor, API + resource, {"page_size": 1000})) for resource in cases
        }
        for resource, orderings in cases.items():
            self.assertFalse(expected[resource] & self.hidden[resource.rstrip("/")])
            for ordering in orderings:
                with self.subTest(resource=resource, ordering=ordering):
                    rows = self.walk(contractor, API + resource, {"ordering": ordering, "page_size": 1})
                    walked = [row["id"] for row in rows]
                    self.assertEqual(len(walked), len(set(walked)), walked)
                    self.assertEqual(set(walked), expected[resource])

    # --- related-object inputs: a hidden id is refused with the words for a missing one ------------

    def test_naming_a_hidden_object_in_a_write_is_refused_like_a_missing_one(self):
        client = self.client_for(self.staff_opted_out)
        missing_dataset, missing_system = self.missing_id(Dataset), self.missing_id(System)
        cases = [
            ("post", "fields/", {"dataset": self.targets.pk, "name": "x", "data_type": "text"},
             {"dataset": missing_dataset}, "dataset"),
            ("post", "fields/", {"dataset": self.salaries.pk, "name": "x", "data_type": "text"},
             {"dataset": missing_dataset}, "dataset"),
            ("post", "lineage-edges/", {"source": self.accounts.pk, "target": self.targets.pk},
             {"target": missing_dataset}, "target"),
            ("post", "lineage-edges/", {"source": self.salaries.pk, "target": self.orders.pk},
             {"source": missing_dataset}, "source"),
            ("post", "lineage-edges/", {"source": self.accounts.pk, "target": self.orders.pk,
                                        "source_field": self.tax_id.pk, "target_field": self.customer_id.pk},
             {"source_field": self.missing_id(Field)}, "source_field"),
            ("post", "datasets/", {"system": self.workday.pk, "qualified_name": "hr.x", "name": "X"},
             {"system": missing_system}, "system"),
            ("patch", f"fields/{self.account_id.pk}/", {"dataset": self.targets.pk},
             {"dataset": missing_dataset}, "dataset"),
            ("post", "datasets/register/", {"system": self.workday.pk, "qualified_name": "hr.x", "fields": []},
             {"system": missing_system}, "system"),
        ]
        for method, path, body, with_missing, field in cases:
            with self.subTest(path=path, body=body):
                hidden = getattr(client, method)(API + path, body, format="json")
                missing = getattr(client, method)(API + path, {**body, **with_missing}, format="json")
                self.assertEqual(hidden.status_code, 400, hidden.content)
                self.assertEqual(missing.status_code, 400, missing.content)
                self.assertEqual(_without_ids(hidden.json()), _without_ids(missing.json()))
                self.assertIn(field, hidden.json()["errors"])
        self.assertEqual(Field.objects.filter(name="x").count(), 0)

    def test_registration_report_does_not_name_hidden_fields(self):
        # The staff contractor may change crm.accounts (catalog.change_dataset) but not see tax_id.
        response = self.client_for(self.staff_opted_out).post(API + "datasets/register/", {
            "system": self.warehouse.pk, "qualified_name": "crm.accounts",
            "fields": [{"name": "account_id", "data_type": "bigint"}],
        }, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertMentionsNone(response.content.decode())

    # --- explain -------------------------------------------------------------------------------

    def test_explain_about_someone_else_is_refused_and_about_a_hidden_object_is_404(self):
        contractor = self.client_for(self.opted_out)
        response = contractor.get(API + "access/explain/",
                                  {"object": f"catalog.dataset:{self.accounts.pk}", "user": self.colleague.pk})
        self.assertEqual(response.status_code, 403)
        about_nobody = contractor.get(API + "access/explain/",
                                      {"object": f"catalog.dataset:{self.accounts.pk}", "user": "nobody-at-all"})
        self.assertEqual((about_nobody.status_code, about_nobody.json()), (403, response.json()))
        for label, model, pk in (("catalog.dataset", Dataset, self.targets.pk), ("catalog.field", Field,
                                                                                 self.tax_id.pk),
                                 ("catalog.system", System, self.workday.pk)):
            with self.subTest(label=label):
                hidden = contractor.get(API + "access/explain/", {"object": f"{label}:{pk}"})
                missing = contractor.get(API + "access/explain/", {"object": f"{label}:{self.missing_id(model)}"})
                self.assertEqual((hidden.status_code, hidden.json()), (404, missing.json()))

    def test_explain_names_no_rule_to_someone_who_may_not_read_rules(self):
        # The colleague may see the dataset, but reading deny rules needs permissions.view_accessrule
        # (GET /api/v1/access-rules/ answers them 403): explain must not hand them out either.
        colleague = self.client_for(self.colleague)
        self.assertEqual(colleague.get(API + "access-rules/").status_code, 403)
        response = colleague.get(API + "access/explain/", {"object": f"catalog.dataset:{self.targets.pk}"})
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Deal flow is insider information", response.content.decode())
        self.assertNotIn("Contractors", response.content.decode())

    # --- the admin -----------------------------------------------------------------------------

    def admin_as(self, user) -> Client:
        """A fresh browser session, so the admin's messages are those of its own requests."""
        client = Client()
        client.force_login(user)
        return client

    def test_admin_change_lists_and_their_filters_leave_hidden_objects_out(self):
        for model in ("dataset", "field", "system", "lineageedge"):
            url = f"/admin/catalog/{model}/"
            with self.subTest(model=model):
                response = self.admin_as(self.staff_opted_out).get(url, {"q": ""})
                self.assertEqual(response.status_code, 200)
                self.assertMentionsNone(response.content.decode())
                control = self.admin_as(self.staff_colleague).get(url).content.decode()
                self.assertTrue(any(word.lower() in control.lower() for word in HIDDEN_WORDS), url)

    def test_admin_search_finds_no_hidden_object(self):
        for model, term in (("dataset", "acquisition"), ("dataset", "salaries"), ("field", "tax"),
                            ("system", "Workday"), ("lineageedge", "acquisition")):
            with self.subTest(model=model, term=term):
                response = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/{model}/", {"q": term})
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.context["cl"].result_count, 0)
        control = self.admin_as(self.staff_colleague).get("/admin/catalog/dataset/", {"q": "acquisition"})
        self.assertEqual(control.context["cl"].result_count, 1)

    def test_admin_pages_of_a_hidden_object_answer_like_a_missing_one(self):
        cases = [
            ("dataset", self.targets.pk, Dataset, "change"), ("dataset", self.salaries.pk, Dataset, "history"),
            ("dataset", self.targets.pk, Dataset, "delete"), ("field", self.tax_id.pk, Field, "change"),
            ("system", self.workday.pk, System, "change"),
            ("lineageedge", self.edge_to_hidden_dataset.pk, LineageEdge, "change"),
        ]
        for model_name, pk, model, view in cases:
            with self.subTest(model=model_name, view=view):
                missing = self.missing_id(model)
                hidden = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/{model_name}/{pk}/{view}/")
                absent = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/{model_name}/{missing}/{view}/")
                self.assertEqual(hidden.status_code, 302)
                self.assertEqual((hidden.status_code, hidden["Location"]), (absent.status_code, absent["Location"]))
                self.assertEqual(_admin_messages(hidden, pk), _admin_messages(absent, missing))
                self.assertMentionsNone(" ".join(_admin_messages(hidden, pk)))

    def test_admin_change_form_of_a_visible_dataset_shows_only_visible_fields(self):
        response = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/dataset/{self.accounts.pk}/change/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "account_id")
        self.assertMentionsNone(response.content.decode())

    def test_admin_delete_confirmation_of_a_visible_dataset_names_no_hidden_object(self):
        response = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/dataset/{self.accounts.pk}/delete/")
        self.assertEqual(response.status_code, 200)
        self.assertMentionsNone(response.content.decode())

    def test_admin_delete_confirmation_of_a_visible_system_names_no_hidden_dataset(self):
        response = self.admin_as(self.staff_opted_out).get(f"/admin/catalog/system/{self.warehouse.pk}/delete/")
        self.assertEqual(response.status_code, 200)
        self.assertMentionsNone(response.content.decode())

    def test_admin_autocomplete_offers_no_hidden_object(self):
        cases = [
            ("field", "dataset", "acquisition"), ("field", "dataset", "zephyr"), ("field", "dataset", "salaries"),
            ("lineageedge", "source_field", "tax"), ("lineageedge", "target", "zephyr"),
            ("dataset", "system", "Workday"),
        ]
        for model, field, term in cases:
            params = {"app_label": "catalog", "model_name": model, "field_name": field, "term": term}
            with self.subTest(model=model, field=field, term=term):
                response = self.admin_as(self.staff_opted_out).get("/admin/autocomplete/", params)
                self.assertEqual(response.status_code, 200, response.content)
                self.assertMentionsNone(response.content.decode())
        # The colleague is offered them: the terms do reach the hidden objects.
        control = self.admin_as(self.staff_colleague).get(
            "/admin/autocomplete/", {"app_label": "catalog", "model_name": "field", "field_name": "dataset",
                                     "term": "acquisition"}).json()
        self.assertEqual([row["id"] for row in control["results"]], [str(self.targets.pk)])


def _without_ids(body):
    """An error body with the ids the caller sent masked, so a hidden and a missing id compare equal."""
    return re.sub(r"\d+", "<id>", repr(body))


def _admin_messages(response, pk) -> list[str]:
    """The messages the admin queued for the next page, with the id asked for masked."""
    return [str(message).replace(str(pk), "<id>") for message in get_messages(response.wsgi_request)]


class RuleKindsTests(LeakTestBase):
    """Classification ("this level and above"), tag and expiring rules, through the API."""

    @classmethod
    def setUpTestData(cls):
        interns = factories.department(name="Interns", slug="interns")
        cls.intern = make_user("intern")
        cls.colleague = make_user("mentor")
        factories.membership(cls.intern, department=interns)
        system = factories.system(name="Billing", slug="billing", kind="billing")
        gdpr = factories.tag(name="gdpr", slug="gdpr")

        cls.by_level = {level: factories.dataset(system=system, qualified_name=f"billing.{level}_data",
                                                 classification=level)
                        for level in ("public", "internal", "confidential", "pii", "restricted")}
        invoices = factories.dataset(system=system, qualified_name="billing.invoices", classification="internal")
        cls.field_by_level = {level: factories.field(dataset=invoices, name=f"{level}_column", classification=level)
                              for level in ("internal", "confidential", "pii", "restricted")}
        # A public field inside a PII dataset is hidden with its dataset.
        cls.inside_pii = factories.field(dataset=cls.by_level["pii"], name="public_column", classification="public")
        cls.tagged = factories.dataset(system=system, qualified_name="billing.cardholders", tags=[gdpr])
        cls.tagged_field = factories.field(dataset=invoices, name="iban")
        cls.tagged_field.tags.set([gdpr])
        cls.expired_target = factories.dataset(system=system, qualified_name="billing.old_disputes")
        cls.lapsed_exception_target = factories.dataset(system=system, qualified_name="billing.chargebacks")
        cls.invoices = invoices

        AccessRule.objects.create(subject_kind="department", subject_department=interns,
                                  target_kind="classification", classification="pii",
                                  reason="Interns see no personal data")
        AccessRule.objects.create(subject_kind="department", subject_department=interns, target_kind="tag",
                                  target_tag=gdpr, reason="GDPR-tagged data is for trained staff")
        past = timezone.now() - datetime.timedelta(days=1)
        deny(cls.expired_target, interns, reason="Disputes under review until yesterday", expires_at=past)
        lapsed = deny(cls.lapsed_exception_target, interns, reason="Chargebacks are sensitive")
        AccessRuleException.objects.create(rule=lapsed, subject_kind="user", subject_user=cls.intern,
                                           reason="Summer project, ended", expires_at=past)

    def visible_ids(self, resource: str) -> set[int]:
        return ids(self.walk(self.client_for(self.intern), API + resource, {"page_size": 1000}))

    def test_pii_and_above_hides_pii_and_restricted_but_not_confidential(self):
        datasets = self.visible_ids("datasets/")
        for level, dataset in self.by_level.items():
            with self.subTest(level=level):
                self.assertEqual(dataset.pk in datasets, level not in ("pii", "restricted"))
                status = self.client_for(self.intern).get(f"{API}datasets/{dataset.pk}/").status_code
                self.assertEqual(status, 404 if level in ("pii", "restricted") else 200)
        everything = ids(self.walk(self.client_for(self.colleague), API + "datasets/", {"page_size": 1000}))
        self.assertLessEqual({dataset.pk for dataset in self.by_level.values()}, everything)

    def test_field_levels_and_fields_inside_a_hidden_dataset(self):
        fields = self.visible_ids("fields/")
        for level, field in self.field_by_level.items():
            with self.subTest(level=level):
                self.assertEqual(field.pk in fields, level in ("internal", "confidential"))
        self.assertNotIn(self.inside_pii.pk, fields)
        detail = self.client_for(self.intern).get(f"{API}datasets/{self.invoices.pk}/").json()
        self.assertEqual(sorted(f["name"] for f in detail["fields"]), ["confidential_column", "internal_column"])
        self.assertEqual(detail["field_count"], 2)
        search = self.client_for(self.intern).get(API + "search/", {"q": "column", "limit": 100}).json()
        self.assertEqual({hit["name"] for hit in search["results"]}, {"confidential_column", "internal_column"})
        self.assertFalse({"pii", "restricted"} & {e["value"] for e in search["facets"]["classification"]})

    def test_tag_rule_hides_tagged_datasets_and_fields(self):
        self.assertNotIn(self.tagged.pk, self.visible_ids("datasets/"))
        self.assertNotIn(self.tagged_field.pk, self.visible_ids("fields/"))
        self.assertEqual(self.client_for(self.intern).get(f"{API}fields/{self.tagged_field.pk}/").status_code, 404)
        self.assertEqual(self.client_for(self.intern).get(API + "datasets/", {"tag": "gdpr"}).json()["results"], [])
        self.assertEqual(self.client_for(self.colleague).get(f"{API}fields/{self.tagged_field.pk}/").status_code, 200)

    def test_an_expired_rule_hides_nothing_and_an_expired_exception_re_admits_nobody(self):
        client = self.client_for(self.intern)
        self.assertIn(self.expired_target.pk, self.visible_ids("datasets/"))
        self.assertEqual(client.get(f"{API}datasets/{self.expired_target.pk}/").status_code, 200)
        self.assertNotIn(self.lapsed_exception_target.pk, self.visible_ids("datasets/"))
        self.assertEqual(client.get(f"{API}datasets/{self.lapsed_exception_target.pk}/").status_code, 404)
