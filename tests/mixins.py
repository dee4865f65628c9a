"""Shared test mixins: the behaviour every model's API and admin must show.

A model's test case declares what is specific to it and inherits the checks:

    class TestTagAPI(CRUDAPITests):
        model = Tag
        basename = "tag"

        @classmethod
        def make_objects(cls, count): ...        # saved instances
        def create_payloads(self): ...          # three valid bodies for POST
        update_payload = {...}                  # a valid PATCH body
        invalid_payloads = [(body, "field")]    # each answers 400 naming the field
        filter_cases = [(params, callable)]     # callable(objects) -> expected ids
        ordering_field = "name"

The meta-test (tests/test_meta.py) fails when a model or endpoint has no such case.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Model
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

User = get_user_model()
PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *, perms: tuple[str, ...] = (), **extra) -> Any:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, **extra)
    for codename in perms:
        app_label, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return user


class _ConcreteOnly:
    """Only classes that name their model are collected as tests, not the mixins."""

    __test__ = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__test__ = "model" in cls.__dict__


class APITestBase(_ConcreteOnly, TestCase):
    model: ClassVar[type[Model]]
    basename: ClassVar[str]
    objects_in_setup: ClassVar[int] = 3
    # Catalog objects are readable by every employee (opt-out); the trust layer's
    # own objects (deny rules) need the model's view permission.
    read_permission_required: ClassVar[bool] = False

    @classmethod
    def setUpTestData(cls):
        label, name = cls.model._meta.app_label, cls.model._meta.model_name
        view = (f"{label}.view_{name}",) if cls.read_permission_required else ()
        cls.employee = make_user(f"employee-{name}", perms=view)
        cls.editor = make_user(
            f"editor-{name}",
            perms=(*view, f"{label}.add_{name}", f"{label}.change_{name}", f"{label}.delete_{name}"),
        )
        cls.objects_ = cls.make_objects(cls.objects_in_setup)

    @classmethod
    def make_objects(cls, count: int) -> list[Model]:
        raise AssertionError(f"{cls.__name__} must say how to make {cls.model.__name__} objects")

    def client_for(self, user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    def list_url(self, **params) -> str:
        url = reverse(f"{self.basename}-list")
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode(params, doseq=True)
        return url

    def detail_url(self, pk) -> str:
        return reverse(f"{self.basename}-detail", args=[pk])

    def missing_pk(self) -> int:
        return (self.model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000

    def ids_of(self, response) -> list[int]:
        return [row["id"] for row in response.json()["results"]]

    def collect_all(self, client: APIClient, url: str) -> list[dict]:
        rows: list[dict] = []
        while url:
            response = client.get(url)
            self.assertEqual(response.status_code, 200, response.content)
            body = response.json()
            rows.extend(body["results"])
            url = body["next"]
        return rows


class ReadAPITests(APITestBase):
    """Anonymous callers get nothing; employees read everything, page by page."""

    filter_cases: ClassVar[list[tuple[dict, Any]]] = []
    ordering_field: ClassVar[str] = "id"

    def test_anonymous_list_is_refused(self):
        response = self.client_for(None).get(self.list_url())
        self.assertEqual(response.status_code, 401, response.content)
        self.assertNotIn("results", response.json())

    def test_anonymous_detail_is_refused(self):
        response = self.client_for(None).get(self.detail_url(self.objects_[0].pk))
        self.assertEqual(response.status_code, 401)

    def test_reading_without_view_permission_when_required(self):
        if not self.read_permission_required:
            return
        outsider = make_user(f"outsider-{self.basename}")
        self.assertEqual(self.client_for(outsider).get(self.list_url()).status_code, 403)

    def test_inactive_account_is_refused(self):
        user = make_user(f"gone-{self.basename}", is_active=False)
        response = self.client_for(user).get(self.list_url())
        self.assertIn(response.status_code, (401, 403))

    def test_list_shows_every_object(self):
        response = self.client_for(self.employee).get(self.list_url())
        self.assertEqual(response.status_code, 200, response.content)
        expected = set(self.model.objects.values_list("pk", flat=True))
        self.assertEqual(set(self.ids_of(response)), expected)

    def test_detail(self):
        obj = self.objects_[0]
        response = self.client_for(self.employee).get(self.detail_url(obj.pk))
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["id"], obj.pk)

    def test_missing_detail_is_404(self):
        response = self.client_for(self.employee).get(self.detail_url(self.missing_pk()))
        self.assertEqual(response.status_code, 404)
        self.assertIn("detail", response.json())

    def test_cursor_pagination_walks_every_row_once(self):
        client = self.client_for(self.employee)
        rows = self.collect_all(client, self.list_url(page_size=1))
        ids = [row["id"] for row in rows]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), set(self.model.objects.values_list("pk", flat=True)))
        first = client.get(self.list_url(page_size=1)).json()
        self.assertIn("cursor=", first["next"])
        self.assertIsNone(first["previous"])

    def test_query_count_is_the_same_for_1_and_100_items(self):
        self.make_objects(100 - self.model.objects.count())
        client = self.client_for(self.employee)
        client.get(self.list_url(page_size=1))  # warm caches (content types, etc.)
        counts = []
        for size in (1, 100):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(self.list_url(page_size=size))
            self.assertEqual(response.status_code, 200)
            self.assertEqual(len(response.json()["results"]), size)
            counts.append(len(queries))
        self.assertEqual(counts[0], counts[1], f"queries for 1 vs 100 items: {counts}")

    def test_ordering_both_ways(self):
        client = self.client_for(self.employee)
        field = self.ordering_field
        ascending = [row[field] for row in self.collect_all(client, self.list_url(ordering=field))]
        descending = [row[field] for row in self.collect_all(client, self.list_url(ordering=f"-{field}"))]
        self.assertEqual(len(ascending), self.model.objects.count())
        key = _sort_key
        self.assertEqual(ascending, sorted(ascending, key=key))
        self.assertEqual(descending, sorted(descending, key=key, reverse=True))

    def test_unknown_ordering_is_ignored_not_an_error(self):
        response = self.client_for(self.employee).get(self.list_url(ordering="no_such_field"))
        self.assertEqual(response.status_code, 200)

    def test_unknown_query_parameter_is_a_400_naming_it(self):
        client = self.client_for(self.employee)
        for url in (self.list_url(), self.detail_url(self.objects_[0].pk)):
            with self.subTest(url=url):
                response = client.get(url, {"no_such_filter": "1", "page_size": "5"})
                self.assertEqual(response.status_code, 400, response.content)
                body = response.json()
                self.assertEqual(list(body["errors"]), ["no_such_filter"], body)
                self.assertIn("takes:", body["errors"]["no_such_filter"][0])

    def test_filters(self):
        client = self.client_for(self.employee)
        for params, expected in self.filter_cases:
            with self.subTest(params=params):
                response = client.get(self.list_url(**params, page_size=1000))
                self.assertEqual(response.status_code, 200, response.content)
                want = expected(self) if callable(expected) else expected
                self.assertEqual(sorted(self.ids_of(response)), sorted(want))


def _sort_key(value):
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    return (value is None, value)


class WriteAPITests(APITestBase):
    """Writing needs the model permission; bad input is a 400 naming the field; nothing is half-written."""

    update_payload: ClassVar[dict] = {}
    invalid_payloads: ClassVar[list[tuple[dict, str]]] = []

    def create_payloads(self) -> list[dict]:
        raise AssertionError(f"{type(self).__name__} must give payloads to create {self.model.__name__} objects")

    def test_create_without_permission_is_403_and_persists_nothing(self):
        before = self.model.objects.count()
        response = self.client_for(self.employee).post(self.list_url(), self.create_payloads()[0], format="json")
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual(self.model.objects.count(), before)

    def test_create_anonymous_is_401(self):
        response = self.client_for(None).post(self.list_url(), self.create_payloads()[0], format="json")
        self.assertEqual(response.status_code, 401)

    def test_create(self):
        client = self.client_for(self.editor)
        for payload in self.create_payloads():
            with self.subTest(payload=payload):
                response = client.post(self.list_url(), payload, format="json")
                self.assertEqual(response.status_code, 201, response.content)
                created = self.model.objects.get(pk=response.json()["id"])
                detail = client.get(self.detail_url(created.pk)).json()
                for key, value in payload.items():
                    self.assertRepresents(detail[key], value, key)

    def test_invalid_create_is_400_naming_the_problem(self):
        client = self.client_for(self.editor)
        before = self.model.objects.count()
        for payload, field in self.invalid_payloads:
            with self.subTest(field=field, payload=payload):
                response = client.post(self.list_url(), payload, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                body = response.json()
                self.assertIn(field, body["errors"], body)
                self.assertTrue(all(isinstance(m, str) and m for m in body["errors"][field]), body)
        self.assertEqual(self.model.objects.count(), before)

    def test_update_without_permission_is_403_and_changes_nothing(self):
        obj = self.objects_[0]
        before = self.model.objects.filter(pk=obj.pk).values().get()
        response = self.client_for(self.employee).patch(self.detail_url(obj.pk), self.update_payload, format="json")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.model.objects.filter(pk=obj.pk).values().get(), before)

    def test_partial_update(self):
        obj = self.objects_[0]
        client = self.client_for(self.editor)
        response = client.patch(self.detail_url(obj.pk), self.update_payload, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        detail = client.get(self.detail_url(obj.pk)).json()
        for key, value in self.update_payload.items():
            self.assertRepresents(detail[key], value, key)

    def test_full_update_round_trips(self):
        obj = self.objects_[0]
        client = self.client_for(self.editor)
        current = client.get(self.detail_url(obj.pk)).json()
        body = {**_writable(current), **self.update_payload}
        response = client.put(self.detail_url(obj.pk), body, format="json")
        self.assertEqual(response.status_code, 200, response.content)

    def test_update_missing_is_404(self):
        response = self.client_for(self.editor).patch(self.detail_url(self.missing_pk()), {}, format="json")
        self.assertEqual(response.status_code, 404)

    def test_delete_without_permission_is_403(self):
        obj = self.objects_[-1]
        response = self.client_for(self.employee).delete(self.detail_url(obj.pk))
        self.assertEqual(response.status_code, 403)
        self.assertTrue(self.model.objects.filter(pk=obj.pk).exists())

    def test_delete(self):
        obj = self.deletable_object()
        response = self.client_for(self.editor).delete(self.detail_url(obj.pk))
        self.assertEqual(response.status_code, 204, getattr(response, "content", b""))
        self.assertFalse(self.model.objects.filter(pk=obj.pk).exists())

    def deletable_object(self) -> Model:
        return self.make_objects(1)[0]

    def assertRepresents(self, shown, sent, key):  # noqa: N802 - unittest naming
        """A related object is shown briefly but written by id, slug or username."""
        if isinstance(shown, list) and isinstance(sent, list):
            self.assertEqual(len(shown), len(sent), key)
            for item_shown, item_sent in zip(shown, sent, strict=True):
                self.assertRepresents(item_shown, item_sent, key)
        elif isinstance(shown, dict) and not isinstance(sent, dict):
            self.assertIn(sent, [shown.get("id"), shown.get("slug"), shown.get("username"), shown.get("name")], key)
        elif isinstance(shown, str) and isinstance(sent, str) and shown.endswith("Z") and "T" in sent:
            self.assertEqual(shown[:19], sent[:19], key)
        else:
            self.assertEqual(shown, sent, key)


def _writable(representation: dict) -> dict:
    body = {}
    for key, value in representation.items():
        if key in ("id", "created_at", "updated_at"):
            continue
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        elif isinstance(value, list) and value and isinstance(value[0], dict) and "id" in value[0]:
            value = [item["id"] for item in value]
        body[key] = value
    return body


class CRUDAPITests(ReadAPITests, WriteAPITests):
    """Everything a model's REST endpoint must show."""


class AdminTests(_ConcreteOnly, TestCase):
    """The admin's change list (with search and filters), add and change pages work for staff."""

    model: ClassVar[type[Model]]
    search_term: ClassVar[str] = "a"

    @classmethod
    def setUpTestData(cls):
        cls.superuser = User.objects.create_superuser("admin-tester", "admin@example.com", PASSWORD)
        cls.objects_ = cls.make_objects(3)

    @classmethod
    def make_objects(cls, count: int) -> list[Model]:
        raise AssertionError(f"{cls.__name__} must say how to make {cls.model.__name__} objects")

    def admin_url(self, view: str, *args) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)

    def setUp(self):
        self.client.force_login(self.superuser)

    def test_changelist_lists_objects(self):
        response = self.client.get(self.admin_url("changelist"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, str(self.objects_[0]).split(":")[-1].strip()[:30])

    def test_changelist_search_and_filters(self):
        response = self.client.get(self.admin_url("changelist"), {"q": self.search_term})
        self.assertEqual(response.status_code, 200)

    def test_add_page(self):
        self.assertEqual(self.client.get(self.admin_url("add")).status_code, 200)

    def test_change_page(self):
        response = self.client.get(self.admin_url("change", self.objects_[0].pk))
        self.assertEqual(response.status_code, 200)

    def test_staff_without_permission_cannot_open_changelist(self):
        staff = User.objects.create_user("staff-no-perms", "s@example.com", PASSWORD, is_staff=True)
        self.client.force_login(staff)
        self.assertEqual(self.client.get(self.admin_url("changelist")).status_code, 403)
