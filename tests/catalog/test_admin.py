"""The catalog admin: change lists, search, filters, inlines and forms for every model."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from tests import factories
from tests.mixins import AdminTests

User = get_user_model()


class TestDepartmentAdmin(AdminTests):
    model = Department

    @classmethod
    def make_objects(cls, count):
        return [factories.department() for _ in range(count)]

    def test_members_inline_on_change_page(self):
        person = User.objects.create_user("inline-member")
        factories.membership(person, department=self.objects_[0], role="steward")
        response = self.client.get(self.admin_url("change", self.objects_[0].pk))
        self.assertContains(response, "inline-member")


class TestDepartmentMembershipAdmin(AdminTests):
    model = DepartmentMembership
    search_term = "member"

    @classmethod
    def make_objects(cls, count):
        return [factories.membership(User.objects.create_user(f"member-{factories.n()}")) for _ in range(count)]


class TestTagAdmin(AdminTests):
    model = Tag

    @classmethod
    def make_objects(cls, count):
        return [factories.tag() for _ in range(count)]


class TestSystemAdmin(AdminTests):
    model = System

    @classmethod
    def make_objects(cls, count):
        return [factories.system() for _ in range(count)]


class TestDatasetAdmin(AdminTests):
    model = Dataset
    search_term = "table"

    @classmethod
    def make_objects(cls, count):
        return [factories.dataset() for _ in range(count)]

    def test_fields_inline_on_change_page(self):
        factories.field(dataset=self.objects_[0], name="lead_email_address")
        response = self.client.get(self.admin_url("change", self.objects_[0].pk))
        self.assertContains(response, "lead_email_address")

    def test_search_finds_by_qualified_name(self):
        target = factories.dataset(qualified_name="crm.very_specific_name")
        response = self.client.get(self.admin_url("changelist"), {"q": "very_specific"})
        self.assertContains(response, "crm.very_specific_name")
        self.assertEqual(list(response.context["cl"].result_list), [target])

    def test_changelist_query_count_does_not_grow_with_rows(self):
        url = self.admin_url("changelist")
        self.client.get(url)
        with CaptureQueriesContext(connection) as few:
            self.client.get(url)
        for _ in range(20):
            factories.dataset()
        with CaptureQueriesContext(connection) as many:
            self.client.get(url)
        self.assertEqual(len(few), len(many))

    def test_autocomplete_for_system(self):
        response = self.client.get(
            "/admin/autocomplete/",
            {"app_label": "catalog", "model_name": "dataset", "field_name": "system", "term": "System"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.json()["results"])


class TestFieldAdmin(AdminTests):
    model = Field
    search_term = "column"

    @classmethod
    def make_objects(cls, count):
        return [factories.field() for _ in range(count)]


class TestLineageEdgeAdmin(AdminTests):
    model = LineageEdge
    search_term = "schema"

    @classmethod
    def make_objects(cls, count):
        return [factories.lineage() for _ in range(count)]
