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

Every case also checks, for its model, that a row hidden from the reader answers 404
with the body of a missing one and is absent from the list (and search), that every
write through the API leaves exactly one audit record naming its actor and request,
inside the write's transaction, and that reading needs the view permission exactly
where the model says so. How a row is hidden comes from the model (``hide``): a deny
rule naming it or the object containing it, or, for rows private to a person
(``private_to``), making it somebody else's. A model no rule can hide says so with a
skip and its reason.

The meta-test (tests/test_meta.py) fails when a model or endpoint has no such case.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection
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


def _hiding_target(obj: Model) -> Model | None:
    """The object a deny rule can name to hide ``obj``: itself when rules may target its
    model, else (depth first) one of its containers (``AccessSpec.containers``)."""
    from permissions.access import spec_for

    spec = spec_for(type(obj))
    if not hasattr(type(obj), "access"):
        return None
    if spec.targetable:
        return obj
    for name in spec.containers:
        container = getattr(obj, name)
        found = _hiding_target(container) if container is not None else None
        if found is not None:
            return found
    return None


def hide_from(testcase: TestCase, user, obj: Model) -> None:
    """Make ``obj`` invisible to ``user`` (and only to them), as the model allows: a row private
    to a person becomes somebody else's; any other row is hidden by a deny rule naming it or an
    object containing it. Skips the test when nothing can hide a row of this model."""
    from permissions.models import AccessRule

    model = type(obj)
    path = getattr(model, "private_to", None)
    if path:
        *through, last = path.split("__")
        holder = obj
        for name in through:
            holder = getattr(holder, name)
        setattr(holder, last, make_user(f"somebody-else-{model._meta.model_name}-{obj.pk}"))
        holder.save()
        return
    target = _hiding_target(obj)
    if target is None:
        plural = model._meta.verbose_name_plural
        testcase.skipTest(
            f"No deny rule can hide {plural}: rules do not name them nor any object containing them "
            "(permissions.access.AccessSpec)" if hasattr(model, "access") else
            f"Deny rules do not apply to {plural}: who reads them is decided by the model permission")
    AccessRule.objects.create(subject_kind="user", subject_user=user, target_kind="object",
                              target_type=ContentType.objects.get_for_model(target), target_id=target.pk,
                              reason=f"tests: {user} may not see {target}")
    assert not model._default_manager.visible_to(user).filter(pk=obj.pk).exists(), f"{obj} is not hidden"


class _FailAfterAuditRecord:
    """An execute wrapper that lets statements through until an audit record has been
    inserted, then fails the next statement that is not the audit append's own (the end
    of the savepoint or transaction that holds the write, or its next step)."""

    def __init__(self):
        self.armed = self.fired = False

    def __call__(self, execute, sql, params, many, context):
        text = sql.lower()
        audit_statement = "permissions_audit" in text or "accord_audit" in text
        if self.armed and not self.fired and not audit_statement:
            self.fired = True
            raise DatabaseError("tests: this write fails after its audit record")
        result = execute(sql, params, many, context)
        # An append: the server-side function on PostgreSQL, a plain INSERT on SQLite.
        if "accord_audit_append" in text or ("insert" in text and "permissions_auditrecord" in text):
            self.armed = True
        return result


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

    #: The representation's key naming a row, and the row's attribute in the detail URL.
    id_key: ClassVar[str] = "id"
    lookup_attribute: ClassVar[str] = "pk"

    @classmethod
    def setUpTestData(cls):
        label, name = cls.model._meta.app_label, cls.model._meta.model_name
        view = (f"{label}.view_{name}",) if cls.read_permission_required else ()
        cls.employee = make_user(f"employee-{name}", perms=view)
        if cls.private():
            # Rows private to a person: the employee's own, which they (and only they) change;
            # anybody else is refused as for a row that does not exist.
            cls.editor = cls.employee
            cls.unprivileged = make_user(f"stranger-{name}", perms=view)
        else:
            writes = [action for action in ("add", "change", "delete") if action in cls.model._meta.default_permissions]
            cls.editor = make_user(f"editor-{name}", perms=(*view, *(f"{label}.{a}_{name}" for a in writes)))
            cls.unprivileged = cls.employee
        cls.objects_ = cls.make_objects(cls.objects_in_setup)

    @classmethod
    def private(cls) -> bool:
        return bool(getattr(cls.model, "private_to", None))

    @property
    def refused_status(self) -> int:
        """A write by someone without the right: 403, or 404 for a row that is somebody else's."""
        return 404 if self.private() else 403

    def hide(self, obj: Model) -> None:
        """Make ``obj`` invisible to ``self.employee`` (see ``hide_from``); override where a
        model hides its rows some other way."""
        hide_from(self, self.employee, obj)

    def key_of(self, obj: Model):
        return getattr(obj, self.lookup_attribute)

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
        attribute = self.lookup_attribute
        return (self.model._base_manager.order_by(f"-{attribute}").values_list(attribute, flat=True).first()
                or 0) + 1000

    def ids_of(self, response) -> list[int]:
        return [row[self.id_key] for row in response.json()["results"]]

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
        response = self.client_for(None).get(self.detail_url(self.key_of(self.objects_[0])))
        self.assertEqual(response.status_code, 401)

    def test_reading_needs_the_view_permission_exactly_where_required(self):
        """Catalog and governance rows are read by every employee (opt-out); the trust layer's
        own rows need the model's view permission; rows private to a person are only theirs."""
        outsider = make_user(f"outsider-{self.basename}")
        client = self.client_for(outsider)
        key = self.key_of(self.objects_[0])
        listing, detail = client.get(self.list_url()), client.get(self.detail_url(key))
        if self.read_permission_required:
            self.assertEqual((listing.status_code, detail.status_code), (403, 403))
        elif self.private():
            self.assertEqual(listing.status_code, 200, listing.content)
            self.assertNotIn(key, self.ids_of(listing))
            self.assertEqual(detail.status_code, 404)
        else:
            self.assertEqual((listing.status_code, detail.status_code), (200, 200), detail.content)
            self.assertEqual(detail.json()[self.id_key], key)

    def test_inactive_account_is_refused(self):
        user = make_user(f"gone-{self.basename}", is_active=False)
        response = self.client_for(user).get(self.list_url())
        self.assertIn(response.status_code, (401, 403))

    def test_list_shows_every_object(self):
        response = self.client_for(self.employee).get(self.list_url())
        self.assertEqual(response.status_code, 200, response.content)
        expected = set(self.model.objects.values_list(self.lookup_attribute, flat=True))
        self.assertEqual(set(self.ids_of(response)), expected)

    def test_detail(self):
        obj = self.objects_[0]
        response = self.client_for(self.employee).get(self.detail_url(self.key_of(obj)))
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()[self.id_key], self.key_of(obj))

    def test_missing_detail_is_404(self):
        response = self.client_for(self.employee).get(self.detail_url(self.missing_pk()))
        self.assertEqual(response.status_code, 404)
        self.assertIn("detail", response.json())

    # --- hidden is the same as missing ------------------------------------------------------------

    def _hidden_and_missing(self):
        """A row hidden from the employee (still there for others), and a key of nothing."""
        obj = self.objects_[0]
        self.hide(obj)
        self.assertTrue(self.model._base_manager.filter(pk=obj.pk).exists())
        return obj, self.missing_pk()

    def assertAnswersAlike(self, hidden, missing):  # noqa: N802 - unittest naming
        self.assertEqual(hidden.status_code, missing.status_code, hidden.content)
        self.assertEqual(hidden.content, missing.content)

    def test_hidden_detail_answers_like_a_missing_one(self):
        obj, missing = self._hidden_and_missing()
        client = self.client_for(self.employee)
        hidden_answer = client.get(self.detail_url(self.key_of(obj)))
        self.assertEqual(hidden_answer.status_code, 404, hidden_answer.content)
        self.assertAnswersAlike(hidden_answer, client.get(self.detail_url(missing)))

    def test_hidden_row_is_absent_from_the_list_and_its_filters(self):
        obj, _ = self._hidden_and_missing()
        client = self.client_for(self.employee)
        self.assertNotIn(self.key_of(obj), [row[self.id_key] for row in self.collect_all(client, self.list_url())])
        if "id" in self._filter_names():
            by_id = client.get(self.list_url(id=obj.pk))
            self.assertEqual(by_id.status_code, 200, by_id.content)
            self.assertEqual(self.ids_of(by_id), [])

    def test_hidden_row_answers_every_detail_route_like_a_missing_one(self):
        """Each action on one object (history, fields, lineage, exports, workflow steps) and
        each write: the same answer as for a key of nothing, and nothing changed."""
        obj, missing = self._hidden_and_missing()
        client = self.client_for(self.employee)
        before = self.model._base_manager.filter(pk=obj.pk).values().get()
        routes = [("get", None)] + [(method, action.url_name) for action in self._viewset().get_extra_actions()
                                    if action.detail for method in action.mapping]
        routes += [(method, None) for method in ("put", "patch", "delete") if self._allows(method)]
        for method, url_name in routes:
            with self.subTest(method=method, action=url_name):
                hidden_answer = self._send(client, method, url_name, self.key_of(obj))
                missing_answer = self._send(client, method, url_name, missing)
                self.assertEqual(hidden_answer.status_code, 404, hidden_answer.content)
                self.assertAnswersAlike(hidden_answer, missing_answer)
        self.assertEqual(self.model._base_manager.filter(pk=obj.pk).values().get(), before)

    def test_hidden_row_is_absent_from_search(self):
        from catalog import search

        kind = self.model._meta.model_name
        if kind not in search.TYPES:
            self.skipTest(f"{self.model._meta.verbose_name_plural} are not searched (catalog.search.TYPES)")
        obj, _ = self._hidden_and_missing()
        params = {"q": obj.name, "type": kind, "limit": 100}
        found = {hit["id"] for hit in self.client_for(self.editor).get("/api/v1/search/", params).json()["results"]
                 if hit["type"] == kind}
        self.assertIn(obj.pk, found)  # the search finds it for others
        hits = self.client_for(self.employee).get("/api/v1/search/", params).json()["results"]
        self.assertNotIn((kind, obj.pk), {(hit["type"], hit["id"]) for hit in hits})

    def _send(self, client: APIClient, method: str, url_name: str | None, key):
        url = self.detail_url(key) if url_name is None else reverse(f"{self.basename}-{url_name}", args=[key])
        if method == "get":
            return client.get(url)
        return getattr(client, method)(url, {}, format="json")

    def _viewset(self):
        from django.urls import resolve

        return resolve(self.list_url()).func.cls

    def _allows(self, method: str) -> bool:
        return hasattr(self._viewset(), {"put": "update", "patch": "partial_update", "delete": "destroy"}[method])

    def _filter_names(self) -> set[str]:
        from permissions.filtersets import AccordFilterBackend

        view = self._viewset()
        filterset = AccordFilterBackend().get_filterset_class(view(), view.queryset)
        return set(filterset.base_filters) if filterset is not None else set()

    def test_cursor_pagination_walks_every_row_once(self):
        client = self.client_for(self.employee)
        rows = self.collect_all(client, self.list_url(page_size=1))
        ids = [row[self.id_key] for row in rows]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), set(self.model.objects.values_list(self.lookup_attribute, flat=True)))
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
        for url in (self.list_url(), self.detail_url(self.key_of(self.objects_[0]))):
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
        if self.private():
            self.skipTest(f"Anyone may create {self.model._meta.verbose_name_plural} of their own")
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
        response = self.client_for(self.unprivileged).patch(self.detail_url(obj.pk), self.update_payload,
                                                            format="json")
        self.assertEqual(response.status_code, self.refused_status)
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
        response = self.client_for(self.unprivileged).delete(self.detail_url(obj.pk))
        self.assertEqual(response.status_code, self.refused_status)
        self.assertTrue(self.model.objects.filter(pk=obj.pk).exists())

    # --- audit without gaps -----------------------------------------------------------------------

    def _writes(self):
        """(what, send, the audit action, the row's pk once written) for a create, an update and a delete."""
        client = self.client_for(self.editor)
        obj, gone = self.objects_[0], self.deletable_object()
        return [
            ("create", lambda: client.post(self.list_url(), self.create_payloads()[0], format="json"), "create",
             lambda response: response.json()["id"]),
            ("update", lambda: client.patch(self.detail_url(obj.pk), self.update_payload, format="json"), "update",
             lambda response: obj.pk),
            ("delete", lambda: client.delete(self.detail_url(gone.pk)), "delete", lambda response: gone.pk),
        ]

    def test_every_write_leaves_one_audit_record_naming_actor_and_request(self):
        from permissions.models import AuditRecord

        label = self.model._meta.label_lower
        for what, send, action, pk_of in self._writes():
            with self.subTest(write=what):
                response = send()
                self.assertIn(response.status_code, (200, 201, 204), getattr(response, "content", b""))
                request_id = response["X-Accord-Request-ID"]
                records = list(AuditRecord.objects.filter(object_type=label, object_id=str(pk_of(response)),
                                                          request_id=request_id))
                # One change record; semantic events (an owner's permission granted) may come with it.
                changes = [r.action for r in records if r.action in ("create", "update", "delete")]
                self.assertEqual(changes, [action], records)
                self.assertEqual({(r.actor_id, r.actor_name) for r in records},
                                 {(self.editor.pk, self.editor.get_username())})

    def test_a_write_that_fails_after_its_audit_record_leaves_neither(self):
        """The record is written inside the write's transaction: when the write fails at the
        first statement after its record (the end of its savepoint), both are gone."""
        from permissions.models import AuditRecord

        for what, send, _, _ in self._writes():
            with self.subTest(write=what):
                rows = list(self.model._base_manager.order_by("pk").values())
                records = AuditRecord.objects.count()
                failing = _FailAfterAuditRecord()
                with connection.execute_wrapper(failing), self.assertRaises(DatabaseError):
                    send()
                self.assertTrue(failing.fired, "the write wrote no audit record")
                self.assertEqual(AuditRecord.objects.count(), records)
                self.assertEqual(list(self.model._base_manager.order_by("pk").values()), rows)

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
    #: False for rows the admin only shows (written by the system or through services).
    can_add: ClassVar[bool] = True

    @classmethod
    def setUpTestData(cls):
        cls.superuser = User.objects.create_superuser("admin-tester", "admin@example.com", PASSWORD)
        meta = cls.model._meta
        cls.reader = make_user(f"admin-reader-{meta.model_name}", is_staff=True,
                               perms=(f"{meta.app_label}.view_{meta.model_name}",))
        cls.objects_ = cls.make_objects(3)

    def hide(self, obj: Model) -> None:
        """Make ``obj`` invisible to ``self.reader`` (see ``hide_from``)."""
        hide_from(self, self.reader, obj)

    def test_hidden_object_is_absent_from_the_changelist_and_answers_like_a_missing_one(self):
        obj = self.objects_[0]
        self.hide(obj)
        link = self.admin_url("change", obj.pk)
        self.assertContains(self.client.get(self.admin_url("changelist")), link)  # there, for the superuser
        self.client.force_login(self.reader)
        self.assertNotContains(self.client.get(self.admin_url("changelist")), link)
        missing = (self.model._base_manager.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
        for view in ("change", "history"):
            with self.subTest(view=view):
                hidden_answer = self.client.get(self.admin_url(view, obj.pk), follow=True)
                missing_answer = self.client.get(self.admin_url(view, missing), follow=True)
                self.assertEqual(hidden_answer.redirect_chain, missing_answer.redirect_chain)
                self.assertEqual([str(m).replace(str(obj.pk), "ID") for m in hidden_answer.context["messages"]],
                                 [str(m).replace(str(missing), "ID") for m in missing_answer.context["messages"]])

    @classmethod
    def make_objects(cls, count: int) -> list[Model]:
        raise AssertionError(f"{cls.__name__} must say how to make {cls.model.__name__} objects")

    def admin_url(self, view: str, *args) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)

    def setUp(self):
        self.client.force_login(self.superuser)

    def listed_text(self, obj: Model) -> str:
        """Text the change list shows for ``obj``."""
        return str(obj).split(":")[-1].strip()[:30]

    def test_changelist_lists_objects(self):
        response = self.client.get(self.admin_url("changelist"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, self.listed_text(self.objects_[0]))

    def test_changelist_search_and_filters(self):
        response = self.client.get(self.admin_url("changelist"), {"q": self.search_term})
        self.assertEqual(response.status_code, 200)

    def test_add_page(self):
        self.assertEqual(self.client.get(self.admin_url("add")).status_code, 200 if self.can_add else 403)

    def test_change_page(self):
        response = self.client.get(self.admin_url("change", self.objects_[0].pk))
        self.assertEqual(response.status_code, 200)

    def test_staff_without_permission_cannot_open_changelist(self):
        staff = User.objects.create_user("staff-no-perms", "s@example.com", PASSWORD, is_staff=True)
        self.client.force_login(staff)
        self.assertEqual(self.client.get(self.admin_url("changelist")).status_code, 403)
