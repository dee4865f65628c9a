"""CRUD, validation, filters, ordering, pagination and query counts for every catalog endpoint."""

from __future__ import annotations

import datetime

from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from rest_framework.test import APIClient

from catalog.api.serializers import DATASET_FIELDS
from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from permissions.models import AccessRule
from tests import factories
from tests.mixins import CRUDAPITests, make_user

DATASETS = "/api/v1/datasets/"


class TestDepartmentAPI(CRUDAPITests):
    model = Department
    basename = "department"
    ordering_field = "name"
    update_payload = {"description": "Owns the revenue numbers."}
    invalid_payloads = [
        ({"slug": "no-name"}, "name"),
        ({"name": "Bad slug", "slug": "has spaces"}, "slug"),
        ({"name": "Orphan", "slug": "orphan", "parent": 999999}, "parent"),
        ({"name": "Wrong type", "slug": "wrong-type", "parent": [1]}, "parent"),
    ]
    filter_cases = [
        ({"is_root": "true"}, lambda t: [d.pk for d in Department.objects.filter(parent=None)]),
        ({"parent": "PARENT"}, None),
        ({"q": "Finance"}, lambda t: [t.finance.pk]),
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.finance = factories.department(name="Finance", slug="finance", description="Money")
        cls.child = factories.department(name="Accounts payable", slug="ap", parent=cls.finance)
        cls.filter_cases = [
            (p if "parent" not in p else {"parent": cls.finance.pk}, e if e else [cls.child.pk])
            for p, e in cls.filter_cases
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.department() for _ in range(count)]

    def create_payloads(self):
        return [
            {"name": "Marketing", "slug": "marketing"},
            {"name": "Growth", "slug": "growth", "parent": self.finance.pk, "description": "Nested"},
            {"name": "People Ops", "slug": "people-ops", "parent": "finance"},
        ]

    def test_duplicate_name_is_400_and_nothing_written(self):
        response = self.client_for(self.editor).post(
            self.list_url(), {"name": "Finance", "slug": "finance-2"}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("name", response.json()["errors"])

    def test_cannot_nest_inside_own_child(self):
        response = self.client_for(self.editor).patch(
            self.detail_url(self.finance.pk), {"parent": self.child.pk}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("parent", response.json()["errors"])
        self.finance.refresh_from_db()
        self.assertIsNone(self.finance.parent_id)

    def test_delete_in_use_is_409_with_reason(self):
        factories.system(owner_department=self.finance)
        response = self.client_for(self.editor).delete(self.detail_url(self.finance.pk))
        self.assertEqual(response.status_code, 409)
        self.assertIn("referenced", response.json()["detail"])
        self.assertTrue(Department.objects.filter(pk=self.finance.pk).exists())


class TestDepartmentMembershipAPI(CRUDAPITests):
    model = DepartmentMembership
    basename = "departmentmembership"
    ordering_field = "role"
    update_payload = {"role": "lead"}

    @classmethod
    def setUpTestData(cls):
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.people = [make_user(f"person-{i}") for i in range(3)]
        super().setUpTestData()
        cls.lead = factories.membership(cls.people[0], department=cls.sales, role="lead")
        cls.invalid_payloads = [
            ({"department": cls.sales.pk, "user": cls.people[0].pk}, "non_field_errors"),
            ({"department": cls.sales.pk, "user": cls.people[1].pk, "role": "boss"}, "role"),
            ({"department": cls.sales.pk, "user": 999999}, "user"),
            ({"user": cls.people[1].pk}, "department"),
        ]
        cls.filter_cases = [
            ({"role": "lead"}, [cls.lead.pk]),
            ({"department": cls.sales.pk}, [cls.lead.pk]),
            ({"username": cls.people[0].username}, [cls.lead.pk]),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.membership(make_user(f"member-{factories.n()}"), role="member") for _ in range(count)]

    def create_payloads(self):
        return [
            {"department": self.sales.pk, "user": self.people[1].pk, "role": "steward"},
            {"department": "sales", "user": self.people[2].username},
        ]


class TestTagAPI(CRUDAPITests):
    model = Tag
    basename = "tag"
    ordering_field = "name"
    update_payload = {"description": "Revenue-relevant", "color": "#aa3300"}
    invalid_payloads = [
        ({"name": "colour", "slug": "colour", "color": "red"}, "color"),
        ({"name": "", "slug": "empty"}, "name"),
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.gdpr = factories.tag(name="gdpr", slug="gdpr")
        cls.filter_cases = [({"slug": "gdpr"}, [cls.gdpr.pk]), ({"name": "gdpr"}, [cls.gdpr.pk])]

    @classmethod
    def make_objects(cls, count):
        return [factories.tag() for _ in range(count)]

    def create_payloads(self):
        return [{"name": "revenue", "slug": "revenue"}, {"name": "pci", "slug": "pci", "color": "#112233"}]


class TestSystemAPI(CRUDAPITests):
    model = System
    basename = "system"
    ordering_field = "name"
    update_payload = {"vendor": "Salesforce, Inc.", "kind": "crm"}
    invalid_payloads = [
        ({"name": "X", "slug": "x", "kind": "mainframe"}, "kind"),
        ({"name": "Y", "slug": "y", "connection_env": "postgres://user:secret@host/db"}, "connection_env"),
        ({"name": "Z", "slug": "z", "connection_engine": "postgresql"}, "non_field_errors"),
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.finance = factories.department(name="Finance", slug="finance")
        cls.netsuite = factories.system(name="NetSuite", slug="netsuite", kind="erp", owner_department=cls.finance)
        cls.filter_cases = [
            ({"kind": "erp"}, [cls.netsuite.pk]),
            ({"owner_department": cls.finance.pk}, [cls.netsuite.pk]),
            ({"q": "netsu"}, [cls.netsuite.pk]),
            ({"owner_department": f"{cls.finance.pk},{factories.department().pk}"}, [cls.netsuite.pk]),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.system() for _ in range(count)]

    def create_payloads(self):
        return [
            {"name": "Stripe", "slug": "stripe", "kind": "billing", "vendor": "Stripe"},
            {
                "name": "Warehouse", "slug": "warehouse", "kind": "warehouse", "owner_department": "finance",
                "connection_engine": "postgresql", "connection_env": "ACCORD_WAREHOUSE_DSN",
            },
        ]

    def test_an_id_filter_refuses_an_id_of_nothing_by_name(self):
        client = self.client_for(self.employee)
        for value in ("999999", f"{self.finance.pk},999999", "١", "x"):
            with self.subTest(value=value):
                response = client.get(self.list_url(owner_department=value))
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()["errors"]), ["owner_department"])

    def test_connection_is_named_never_stored(self):
        response = self.client_for(self.editor).post(
            self.list_url(),
            {"name": "DB", "slug": "db", "connection_engine": "sqlite", "connection_env": "DB_DSN"},
            format="json",
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json()["connection_env"], "DB_DSN")


class TestDatasetAPI(CRUDAPITests):
    model = Dataset
    basename = "dataset"
    ordering_field = "qualified_name"
    update_payload = {"lifecycle": "active", "description": "One row per lead.", "row_count": 1200}

    @classmethod
    def setUpTestData(cls):
        cls.salesforce = factories.system(name="Salesforce", slug="salesforce")
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.pii = factories.tag(name="pii", slug="pii")
        cls.steward = make_user("steward")
        super().setUpTestData()
        cls.leads = factories.dataset(
            system=cls.salesforce, qualified_name="Lead", name="Leads", owner_department=cls.marketing,
            lifecycle="active", classification="pii", steward=cls.steward, tags=[cls.pii], kind="object",
        )
        factories.field(dataset=cls.leads, name="email", classification="pii")
        factories.field(dataset=cls.leads, name="id", is_key=True, nullable=False)
        cls.invalid_payloads = [
            ({"system": cls.salesforce.pk, "qualified_name": "Lead", "name": "Dup"}, "non_field_errors"),
            ({"system": cls.salesforce.pk, "qualified_name": "X", "name": "X", "lifecycle": "dead"}, "lifecycle"),
            ({"system": cls.salesforce.pk, "qualified_name": "Y", "name": "Y", "row_count": -1}, "non_field_errors"),
            ({"system": cls.salesforce.pk, "qualified_name": "Z", "name": "Z", "key_fields": "id"}, "key_fields"),
            ({"qualified_name": "W", "name": "W"}, "system"),
            ({"system": "no-such-system", "qualified_name": "V", "name": "V"}, "system"),
            (
                {"system": cls.salesforce.pk, "qualified_name": "A", "name": "A",
                 "archived_at": "2024-01-01T00:00:00Z", "lifecycle": "active"},
                "non_field_errors",
            ),
        ]
        cls.filter_cases = [
            ({"system": cls.salesforce.pk}, [cls.leads.pk]),
            ({"system_slug": "salesforce"}, [cls.leads.pk]),
            ({"owner_department": cls.marketing.pk}, [cls.leads.pk]),
            ({"lifecycle": "active"}, [cls.leads.pk]),
            ({"classification": "pii"}, [cls.leads.pk]),
            ({"tag": "pii"}, [cls.leads.pk]),
            ({"steward": cls.steward.pk}, [cls.leads.pk]),
            ({"kind": "object"}, [cls.leads.pk]),
            ({"q": "Leads"}, [cls.leads.pk]),
            ({"qualified_name": "Lead"}, [cls.leads.pk]),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.dataset() for _ in range(count)]

    def create_payloads(self):
        return [
            {"system": self.salesforce.pk, "qualified_name": "Account", "name": "Accounts"},
            {
                "system": "salesforce", "qualified_name": "Opportunity", "name": "Opportunities", "kind": "object",
                "owner_department": "marketing", "steward": self.steward.username, "lifecycle": "active",
                "classification": "confidential", "tags": ["pii"], "key_fields": ["id"], "sort_order": ["id"],
                "row_count": 10, "size_bytes": 2048, "published_at": "2024-05-01T10:00:00Z",
            },
        ]

    def test_a_misspelt_filter_is_refused_by_name_not_ignored(self):
        response = self.client_for(self.employee).get(self.list_url(lifecycel="active"))
        self.assertEqual(response.status_code, 400, response.content)
        message = response.json()["errors"]["lifecycel"][0]
        self.assertIn("lifecycle", message)  # the filters it does take are named

    def test_search_and_explain_refuse_unknown_parameters(self):
        client = self.client_for(self.employee)
        for url, params in (("/api/v1/search/", {"q": "lead", "sytem": "1"}),
                            ("/api/v1/access/explain/", {"object": f"catalog.dataset:{self.leads.pk}", "usr": "x"})):
            with self.subTest(url=url):
                response = client.get(url, params)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()["errors"]), [next(k for k in params if k not in ("q", "object"))])
            self.assertEqual(client.get(url, {k: v for k, v in params.items() if k in ("q", "object")}).status_code,
                             200)

    def test_list_shows_brief_system_owner_and_field_count(self):
        response = self.client_for(self.employee).get(self.list_url(qualified_name="Lead"))
        row = response.json()["results"][0]
        self.assertEqual(row["system"], {"id": self.salesforce.pk, "name": "Salesforce", "slug": "salesforce",
                                         "kind": "crm"})
        self.assertEqual(row["owner_department"]["slug"], "marketing")
        self.assertEqual(row["steward"]["username"], "steward")
        self.assertEqual(row["field_count"], 2)
        self.assertNotIn("fields", row)

    def test_detail_embeds_fields_with_owners(self):
        body = self.client_for(self.employee).get(self.detail_url(self.leads.pk)).json()
        self.assertEqual([f["name"] for f in body["fields"]], ["email", "id"])
        self.assertEqual(body["fields"][0]["classification"], "pii")

    def test_nested_fields_endpoint_is_paginated(self):
        client = self.client_for(self.employee)
        url = f"{self.detail_url(self.leads.pk)}fields/?page_size=1"
        rows = self.collect_all(client, url)
        self.assertEqual([r["name"] for r in rows], ["email", "id"])
        missing = client.get(f"{self.detail_url(self.missing_pk())}fields/")
        self.assertEqual(missing.status_code, 404)

    def test_lineage_neighbours(self):
        model = factories.dataset(qualified_name="analytics.fct_leads")
        edge = factories.lineage(source=self.leads, target=model, transformation="dbt model")
        body = self.client_for(self.employee).get(f"{self.detail_url(self.leads.pk)}lineage/").json()
        self.assertEqual([e["id"] for e in body["downstream"]], [edge.pk])
        self.assertEqual(body["upstream"], [])
        upstream = self.client_for(self.employee).get(f"{self.detail_url(model.pk)}lineage/").json()["upstream"]
        self.assertEqual(upstream[0]["source"]["qualified_name"], "Lead")

    def test_cursor_pagination_with_ordering(self):
        client = self.client_for(self.employee)
        rows = self.collect_all(client, self.list_url(page_size=2, ordering="-qualified_name"))
        names = [r["qualified_name"] for r in rows]
        self.assertEqual(names, sorted(names, reverse=True))
        self.assertEqual(len(names), Dataset.objects.count())


class TestFieldAPI(CRUDAPITests):
    model = Field
    basename = "field"
    ordering_field = "name"
    update_payload = {"description": "Work e-mail of the lead", "classification": "pii"}

    @classmethod
    def setUpTestData(cls):
        cls.hr = factories.department(name="HR", slug="hr")
        cls.owner = make_user("owner")
        cls.table = factories.dataset(qualified_name="hr.employees")
        super().setUpTestData()
        cls.salary = factories.field(
            dataset=cls.table, name="salary", classification="restricted", owner=cls.owner, owner_department=cls.hr,
            data_type="numeric(12,2)",
        )
        cls.key = factories.field(dataset=cls.table, name="employee_id", is_key=True, nullable=False)
        cls.invalid_payloads = [
            ({"dataset": cls.table.pk, "name": "salary", "data_type": "int"}, "non_field_errors"),
            ({"dataset": cls.table.pk, "name": "k", "data_type": "int", "is_key": True, "nullable": True},
             "non_field_errors"),
            ({"dataset": cls.table.pk, "name": "p", "data_type": "int", "position": -1}, "position"),
            ({"dataset": cls.table.pk, "name": "c", "data_type": "int", "classification": "secret"},
             "classification"),
            ({"dataset": cls.table.pk, "name": "d"}, "data_type"),
        ]
        cls.filter_cases = [
            ({"dataset": cls.table.pk}, [cls.salary.pk, cls.key.pk]),
            ({"owner": cls.owner.pk}, [cls.salary.pk]),
            ({"owner_department": cls.hr.pk}, [cls.salary.pk]),
            ({"classification": "restricted"}, [cls.salary.pk]),
            ({"is_key": "true"}, [cls.key.pk]),
            ({"name": "salary"}, [cls.salary.pk]),
            ({"data_type": "NUMERIC(12,2)"}, [cls.salary.pk]),
            ({"system": cls.table.system_id}, [cls.salary.pk, cls.key.pk]),
            ({"has_owner": "true"}, [cls.salary.pk]),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.field() for _ in range(count)]

    def create_payloads(self):
        return [
            {"dataset": self.table.pk, "name": "email", "data_type": "varchar(255)", "classification": "pii",
             "owner": self.owner.username, "owner_department": "hr"},
            {"dataset": self.table.pk, "name": "badge", "data_type": "int", "is_key": True, "nullable": False,
             "position": 7, "description": "Badge number"},
        ]

    def test_owner_and_purpose_in_one_lookup(self):
        body = self.client_for(self.employee).get(self.detail_url(self.salary.pk)).json()
        self.assertEqual(body["owner"]["username"], "owner")
        self.assertEqual(body["owner_department"]["slug"], "hr")
        self.assertEqual(body["dataset"]["qualified_name"], "hr.employees")


class TestLineageEdgeAPI(CRUDAPITests):
    model = LineageEdge
    basename = "lineageedge"
    ordering_field = "id"
    update_payload = {"transformation": "SELECT … FROM staging.leads"}

    @classmethod
    def setUpTestData(cls):
        cls.raw = factories.dataset(qualified_name="raw.leads")
        cls.model_ = factories.dataset(qualified_name="analytics.leads", system=cls.raw.system)
        cls.raw_email = factories.field(dataset=cls.raw, name="email")
        cls.model_email = factories.field(dataset=cls.model_, name="email")
        super().setUpTestData()
        cls.edge = factories.lineage(source=cls.raw, target=cls.model_)
        cls.invalid_payloads = [
            ({"source": cls.raw.pk, "target": cls.raw.pk}, "non_field_errors"),
            ({"source": cls.raw.pk, "target": cls.model_.pk}, "non_field_errors"),
            ({"source": cls.raw.pk, "target": cls.model_.pk, "source_field": cls.raw_email.pk}, "non_field_errors"),
            ({"source": cls.raw.pk, "target": cls.model_.pk, "source_field": cls.model_email.pk,
              "target_field": cls.raw_email.pk}, "source_field"),
            ({"target": cls.model_.pk}, "source"),
        ]
        cls.filter_cases = [
            ({"source": cls.raw.pk}, [cls.edge.pk]),
            ({"target": cls.model_.pk}, [cls.edge.pk]),
            ({"dataset": cls.model_.pk}, [cls.edge.pk]),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.lineage() for _ in range(count)]

    def create_payloads(self):
        return [
            {"source": self.raw.pk, "target": self.model_.pk, "source_field": self.raw_email.pk,
             "target_field": self.model_email.pk, "transformation": "lower(email)"},
            {"source": self.model_.pk, "target": self.raw.pk, "transformation": "reverse ETL"},
        ]


class TestDatasetRepresentation(TestCase):
    """What a reader gets for a dataset: brief related objects, people by display name, DRF's
    formats and nulls, only the fields the reader may view (and their count), and a hidden
    dataset answered as a missing one."""

    @classmethod
    def setUpTestData(cls):
        contractors = factories.department(name="Contractors", slug="contractors")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.reader = make_user("reader", first_name="Rea", last_name="Der")
        factories.membership(cls.reader, department=contractors)
        cls.steward = make_user("steward", first_name="Stew", last_name="")
        cls.owner = make_user("owner")  # no name: shown by username
        pii, gdpr, revenue = (factories.tag(name=name, slug=name) for name in ("pii", "gdpr", "revenue"))
        cls.warehouse = factories.system(name="Warehouse", slug="warehouse", kind="warehouse",
                                         owner_department=cls.sales)
        cls.full = factories.dataset(
            system=cls.warehouse, qualified_name="crm.accounts", name="Accounts", description="Customer accounts",
            owner_department=cls.sales, steward=cls.steward, lifecycle="active", classification="confidential",
            tags=[revenue, pii, gdpr], key_fields=["id"], sort_order=["id", "name"], row_count=500,
            size_bytes=2**40, published_at=datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC),
            source_modified_at=datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC),
        )
        factories.field(dataset=cls.full, name="id", is_key=True, nullable=False, position=1, owner=cls.owner,
                        owner_department=cls.sales)
        factories.field(dataset=cls.full, name="email", position=2, classification="pii", owner=cls.steward)
        hidden_field = factories.field(dataset=cls.full, name="tax_id", position=3, classification="restricted")
        factories.field(dataset=cls.full, name="amount", position=3, data_type="numeric(12,2)").tags.set(
            [revenue, gdpr])
        cls.bare = factories.dataset(system=cls.warehouse, qualified_name="tmp.scratch", name="Scratch")
        cls.hidden_dataset = factories.dataset(system=cls.warehouse, qualified_name="deals.targets", name="Targets")
        for obj in (hidden_field, cls.hidden_dataset):
            AccessRule.objects.create(
                subject_kind="department", subject_department=contractors, target_kind="object",
                target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk, reason="not for contractors",
            )

    def get(self, url: str, user=None):
        client = APIClient()
        client.force_authenticate(user or self.reader)
        return client.get(url)

    def test_detail_shows_brief_objects_in_drfs_formats(self):
        response = self.get(f"{DATASETS}{self.full.pk}/")
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(list(body), [*DATASET_FIELDS, "fields"])
        self.assertEqual(body["system"], {"id": self.warehouse.pk, "name": "Warehouse", "slug": "warehouse",
                                          "kind": "warehouse"})
        self.assertEqual(body["owner_department"], {"id": self.sales.pk, "name": "Sales", "slug": "sales"})
        self.assertEqual(body["steward"], {"id": self.steward.pk, "username": "steward", "display_name": "Stew"})
        self.assertEqual([t["name"] for t in body["tags"]], ["gdpr", "pii", "revenue"])
        self.assertEqual(body["published_at"], "2024-05-01T10:00:00.123456Z")
        self.assertEqual(body["source_modified_at"], "2024-06-01T00:00:00Z")
        self.assertIsNone(body["archived_at"])
        self.assertEqual((body["size_bytes"], body["row_count"], body["key_fields"]), (2**40, 500, ["id"]))
        self.assertEqual(response["ETag"], Dataset.objects.get(pk=self.full.pk).etag)
        owner = body["fields"][0]["owner"]
        self.assertEqual(owner, {"id": self.owner.pk, "username": "owner", "display_name": "owner"})
        self.assertNotIn("dataset", body["fields"][0])
        self.assertEqual([t["name"] for t in body["fields"][2]["tags"]], ["gdpr", "revenue"])

    def test_only_visible_fields_are_shown_and_counted(self):
        body = self.get(f"{DATASETS}{self.full.pk}/").json()
        self.assertEqual([f["name"] for f in body["fields"]], ["id", "email", "amount"])
        self.assertEqual(body["field_count"], 3)
        listed = {row["id"]: row for row in self.get(DATASETS).json()["results"]}
        self.assertEqual(listed[self.full.pk]["field_count"], 3)
        self.assertNotIn("fields", listed[self.full.pk])

    def test_missing_relations_are_null_or_empty(self):
        body = self.get(f"{DATASETS}{self.bare.pk}/").json()
        self.assertIsNone(body["steward"])
        self.assertIsNone(body["owner_department"])
        self.assertEqual((body["tags"], body["fields"], body["field_count"]), ([], [], 0))

    def test_a_hidden_dataset_is_answered_as_a_missing_one(self):
        hidden = self.get(f"{DATASETS}{self.hidden_dataset.pk}/")
        missing = self.get(f"{DATASETS}{Dataset.objects.order_by('-pk').first().pk + 1000}/")
        self.assertEqual((hidden.status_code, missing.status_code), (404, 404))
        self.assertEqual(hidden.content, missing.content)
        self.assertNotIn(self.hidden_dataset.pk, {row["id"] for row in self.get(DATASETS).json()["results"]})
        other = make_user("other")  # no rule names them: they see it
        self.assertEqual(self.get(f"{DATASETS}{self.hidden_dataset.pk}/", other).status_code, 200)

    def test_a_new_rule_hides_at_once_and_its_removal_shows_again(self):
        def listed() -> set[int]:
            return {row["id"] for row in self.get(DATASETS).json()["results"]}

        self.assertIn(self.bare.pk, listed())
        rule = AccessRule.objects.create(subject_kind="user", subject_user=self.reader, target_kind="object",
                                         target_type=ContentType.objects.get_for_model(self.bare),
                                         target_id=self.bare.pk, reason="a new rule")
        self.assertNotIn(self.bare.pk, listed())
        self.assertEqual(self.get(f"{DATASETS}{self.bare.pk}/").status_code, 404)
        rule.delete()
        self.assertIn(self.bare.pk, listed())
