"""The audit log: one record per change with actor, request id, client and field diffs;
append-only in the database; hash-chained so that tampering is found; readable by
auditors through the API and the admin; logins and failed logins recorded."""

from __future__ import annotations

import csv
import datetime
import importlib
import io
import json
import re
import threading
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command, get_commands
from django.db import DatabaseError, connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog.models import Field, Tag
from permissions import audit, context
from permissions.models import AuditChainHead, AuditRecord
from tests import factories
from tests.mixins import PASSWORD, make_user

User = get_user_model()
TABLE = "permissions_auditrecord"
USER_AGENT = "accord-tests/1.0 (audit)"
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
EDIT_ALL = tuple(
    f"catalog.{action}_{model}"
    for model in ("dataset", "field", "tag")
    for action in ("add", "change", "delete")
)
AUDITOR_PERMS = ("permissions.view_auditrecord",)


# --- helpers ---------------------------------------------------------------------------------------


def head_seq() -> int:
    return AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def records_since(seq: int) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(seq__gt=seq).order_by("seq"))


def api_client(user=None) -> APIClient:
    client = APIClient(HTTP_USER_AGENT=USER_AGENT)
    if user is not None:
        client.force_authenticate(user)
    return client


def record_text(record: AuditRecord) -> str:
    """Everything a record holds, as one string (to look for leaked secrets)."""
    values = {f.attname: getattr(record, f.attname) for f in AuditRecord._meta.concrete_fields}
    return json.dumps(values, default=str)


def _disable_triggers(cursor) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
    else:
        cursor.execute("DROP TRIGGER accord_audit_no_update")
        cursor.execute("DROP TRIGGER accord_audit_no_delete")


def _enable_triggers(cursor) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
    else:
        migration = importlib.import_module("permissions.migrations.0002_audit_append_only")
        for statement in migration.SQLITE_UP:
            cursor.execute(statement)


def tamper(sql: str, params: list) -> None:
    """What someone able to switch the triggers off could do behind the application's back."""
    with connection.cursor() as cursor:
        _disable_triggers(cursor)
        try:
            cursor.execute(sql, params)
        finally:
            _enable_triggers(cursor)


def admin_form_data(response) -> dict:
    """The POST body that re-submits an admin change form (and its inlines) unchanged."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for bound in form:
            if bound.field.disabled:
                continue
            value = bound.value()
            widget = bound.field.widget
            if hasattr(widget, "decompress"):
                parts = value if isinstance(value, list) else widget.decompress(value)
                for index, part in enumerate(parts):
                    data[f"{bound.html_name}_{index}"] = "" if part is None else str(part)
            elif isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, (list, tuple)):
                data[bound.html_name] = [str(item) for item in value]
            elif value is not None:
                data[bound.html_name] = str(value)
    return data


# --- every write, one record -----------------------------------------------------------------------


class TestApiWritesAreAudited(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.editor = make_user("audit-editor", perms=EDIT_ALL)
        cls.system = factories.system(name="Warehouse", slug="warehouse", kind="warehouse")
        cls.pii = factories.tag(name="pii", slug="pii")
        cls.gdpr = factories.tag(name="gdpr", slug="gdpr")

    def setUp(self):
        self.client = api_client(self.editor)

    def write(self, method: str, url: str, body=None, *, status: int, **extra):
        before = head_seq()
        response = getattr(self.client, method)(url, body, format="json", **extra)
        self.assertEqual(response.status_code, status, getattr(response, "content", b""))
        return response, records_since(before)

    def assert_one_record(self, response, records, *, action: str, obj_type: str, obj_id) -> AuditRecord:
        self.assertEqual(len(records), 1, [str(r) for r in records])
        record = records[0]
        self.assertEqual(record.action, action)
        self.assertEqual((record.object_type, record.object_id), (obj_type, str(obj_id)))
        self.assertEqual(record.actor_name, self.editor.username)
        self.assertEqual(record.actor_id, self.editor.pk)
        self.assertTrue(response["X-Request-ID"])
        self.assertEqual(record.request_id, response["X-Request-ID"])
        self.assertEqual(record.client_ip, "127.0.0.1")
        self.assertEqual(record.user_agent, USER_AGENT)
        return record

    def test_tag_create_update_put_delete(self):
        response, records = self.write("post", "/api/v1/tags/", {"name": "finance", "slug": "finance"}, status=201)
        tag_id = response.json()["id"]
        record = self.assert_one_record(response, records, action="create", obj_type="catalog.tag", obj_id=tag_id)
        self.assertEqual(record.changes["name"], {"before": None, "after": "finance"})
        self.assertEqual(record.changes["slug"], {"before": None, "after": "finance"})
        self.assertEqual(record.object_repr, "finance")

        response, records = self.write("patch", f"/api/v1/tags/{tag_id}/", {"description": "Money"}, status=200)
        record = self.assert_one_record(response, records, action="update", obj_type="catalog.tag", obj_id=tag_id)
        self.assertEqual(record.changes, {"description": {"before": "", "after": "Money"}})

        body = {"name": "finance", "slug": "finance", "description": "Money", "color": "#00ff00"}
        response, records = self.write("put", f"/api/v1/tags/{tag_id}/", body, status=200)
        record = self.assert_one_record(response, records, action="update", obj_type="catalog.tag", obj_id=tag_id)
        self.assertEqual(record.changes, {"color": {"before": "", "after": "#00ff00"}})

        response, records = self.write("delete", f"/api/v1/tags/{tag_id}/", status=204)
        record = self.assert_one_record(response, records, action="delete", obj_type="catalog.tag", obj_id=tag_id)
        self.assertEqual(record.changes["name"], {"before": "finance", "after": None})
        self.assertFalse(Tag.objects.filter(pk=tag_id).exists())

    def test_patch_that_changes_nothing_writes_nothing(self):
        tag = factories.tag(description="same")
        _, records = self.write("patch", f"/api/v1/tags/{tag.pk}/", {"description": "same"}, status=200)
        self.assertEqual(records, [])

    def test_dataset_create_with_tags_is_one_record(self):
        body = {"system": "warehouse", "qualified_name": "sales.orders", "name": "Orders", "tags": ["pii", "gdpr"]}
        response, records = self.write("post", "/api/v1/datasets/", body, status=201)
        dataset_id = response.json()["id"]
        record = self.assert_one_record(response, records, action="create", obj_type="catalog.dataset",
                                        obj_id=dataset_id)
        self.assertEqual(record.changes["qualified_name"], {"before": None, "after": "sales.orders"})
        self.assertEqual(record.changes["system"], {"before": None, "after": self.system.pk})
        self.assertEqual(record.changes["tags"], {"before": [], "after": sorted([self.pii.pk, self.gdpr.pk])})

    def test_dataset_update_lists_only_changed_fields(self):
        dataset = factories.dataset(system=self.system, description="old", tags=[self.pii])
        response, records = self.write(
            "patch", f"/api/v1/datasets/{dataset.pk}/", {"description": "new", "tags": ["pii", "gdpr"]}, status=200
        )
        record = self.assert_one_record(response, records, action="update", obj_type="catalog.dataset",
                                        obj_id=dataset.pk)
        self.assertEqual(record.changes, {
            "description": {"before": "old", "after": "new"},
            "tags": {"before": [self.pii.pk], "after": sorted([self.pii.pk, self.gdpr.pk])},
        })

    def test_dataset_full_update_lists_only_changed_fields(self):
        dataset = factories.dataset(system=self.system, row_count=10, key_fields=[],
                                    published_at=datetime.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=datetime.UTC))
        current = self.client.get(f"/api/v1/datasets/{dataset.pk}/").json()
        body = {key: value for key, value in current.items()
                if key not in ("id", "field_count", "created_at", "updated_at", "fields")}
        body["system"] = current["system"]["slug"]
        body["tags"] = [tag["slug"] for tag in current["tags"]]
        body["name"] = "Renamed"
        response, records = self.write("put", f"/api/v1/datasets/{dataset.pk}/", body, status=200)
        record = self.assert_one_record(response, records, action="update", obj_type="catalog.dataset",
                                        obj_id=dataset.pk)
        self.assertEqual(record.changes, {"name": {"before": dataset.name, "after": "Renamed"}})

    def test_field_create_and_update(self):
        dataset = factories.dataset(system=self.system)
        body = {"dataset": dataset.pk, "name": "email", "data_type": "text", "classification": "pii"}
        response, records = self.write("post", "/api/v1/fields/", body, status=201)
        field_id = response.json()["id"]
        record = self.assert_one_record(response, records, action="create", obj_type="catalog.field",
                                        obj_id=field_id)
        self.assertEqual((record.parent_type, record.parent_id), ("catalog.dataset", str(dataset.pk)))
        self.assertEqual(record.changes["classification"], {"before": None, "after": "pii"})

        response, records = self.write("patch", f"/api/v1/fields/{field_id}/", {"nullable": False}, status=200)
        record = self.assert_one_record(response, records, action="update", obj_type="catalog.field",
                                        obj_id=field_id)
        self.assertEqual(record.changes, {"nullable": {"before": True, "after": False}})
        self.assertEqual((record.parent_type, record.parent_id), ("catalog.dataset", str(dataset.pk)))

    def test_dataset_delete_records_the_dataset_and_each_cascaded_field(self):
        dataset = factories.dataset(system=self.system, tags=[self.pii])
        fields = [factories.field(dataset=dataset) for _ in range(3)]
        response, records = self.write("delete", f"/api/v1/datasets/{dataset.pk}/", status=204)
        self.assertEqual(len(records), 4, [str(r) for r in records])
        self.assertTrue(all(r.action == "delete" for r in records))
        self.assertTrue(all(r.request_id == response["X-Request-ID"] for r in records))
        self.assertTrue(all(r.actor_name == self.editor.username for r in records))
        by_type: dict[str, list[AuditRecord]] = {}
        for record in records:
            by_type.setdefault(record.object_type, []).append(record)
        [dataset_record] = by_type["catalog.dataset"]
        self.assertEqual(dataset_record.object_id, str(dataset.pk))
        self.assertEqual(dataset_record.changes["qualified_name"]["before"], dataset.qualified_name)
        field_records = by_type["catalog.field"]
        self.assertEqual(sorted(r.object_id for r in field_records), sorted(str(f.pk) for f in fields))
        for record in field_records:
            self.assertEqual((record.parent_type, record.parent_id), ("catalog.dataset", str(dataset.pk)))
        self.assertFalse(Field.objects.filter(pk__in=[f.pk for f in fields]).exists())

    def test_idempotent_registration_writes_nothing_the_second_time(self):
        payload = {
            "system": "warehouse", "qualified_name": "analytics.dim_customer", "name": "Customers",
            "classification": "pii", "tags": ["pii"], "key_fields": ["customer_id"],
            "fields": [
                {"name": "customer_id", "data_type": "bigint", "is_key": True},
                {"name": "email", "data_type": "varchar(255)", "classification": "pii", "tags": ["pii"]},
            ],
        }
        response, records = self.write("post", "/api/v1/datasets/register/", payload, status=201)
        self.assertEqual(sorted(r.object_type for r in records), ["catalog.dataset", "catalog.field", "catalog.field"])
        self.assertEqual(len({(r.object_type, r.object_id) for r in records}), 3)  # one record per object
        self.assertTrue(all(r.request_id == response["X-Request-ID"] for r in records))
        response, records = self.write("post", "/api/v1/datasets/register/", payload, status=200)
        self.assertFalse(response.json()["changed"])
        self.assertEqual(records, [])


class TestAdminWritesAreAudited(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.superuser = User.objects.create_superuser("audit-admin", "a@example.com", PASSWORD)
        cls.system = factories.system()

    def setUp(self):
        self.client.force_login(self.superuser)

    def post(self, url, data):
        before = head_seq()
        response = self.client.post(url, data, HTTP_USER_AGENT=USER_AGENT)
        self.assertEqual(response.status_code, 302, response.content[:3000])
        return response, records_since(before)

    def test_change_form(self):
        tag = factories.tag(description="old")
        url = f"/admin/catalog/tag/{tag.pk}/change/"
        data = admin_form_data(self.client.get(url))
        data["description"] = "changed in the admin"
        response, records = self.post(url, data)
        self.assertEqual(len(records), 1, [str(r) for r in records])
        record = records[0]
        self.assertEqual((record.action, record.object_type, record.object_id), ("update", "catalog.tag", str(tag.pk)))
        self.assertEqual(record.changes, {"description": {"before": "old", "after": "changed in the admin"}})
        self.assertEqual((record.actor_name, record.actor_id), (self.superuser.username, self.superuser.pk))
        self.assertEqual(record.request_id, response["X-Request-ID"])
        self.assertEqual((record.client_ip, record.user_agent), ("127.0.0.1", USER_AGENT))

    def test_change_form_with_inline(self):
        dataset = factories.dataset(system=self.system, description="before")
        field = factories.field(dataset=dataset, data_type="text")
        url = f"/admin/catalog/dataset/{dataset.pk}/change/"
        data = admin_form_data(self.client.get(url))
        data["description"] = "after"
        data["fields-0-data_type"] = "varchar(20)"
        response, records = self.post(url, data)
        changes = {(r.object_type, r.object_id): (r.action, r.changes) for r in records}
        self.assertEqual(changes, {
            ("catalog.dataset", str(dataset.pk)): ("update", {"description": {"before": "before", "after": "after"}}),
            ("catalog.field", str(field.pk)): ("update", {"data_type": {"before": "text", "after": "varchar(20)"}}),
        })
        self.assertTrue(all(r.actor_name == self.superuser.username for r in records))
        self.assertTrue(all(r.request_id == response["X-Request-ID"] for r in records))

    def test_add_and_delete(self):
        response, records = self.post("/admin/catalog/tag/add/", {"name": "from admin", "slug": "from-admin"})
        tag = Tag.objects.get(slug="from-admin")
        self.assertEqual([(r.action, r.object_id) for r in records], [("create", str(tag.pk))])
        self.assertEqual(records[0].actor_name, self.superuser.username)
        response, records = self.post(f"/admin/catalog/tag/{tag.pk}/delete/", {"post": "yes"})
        self.assertEqual([(r.action, r.object_id) for r in records], [("delete", str(tag.pk))])
        self.assertEqual(records[0].actor_name, self.superuser.username)


# --- request ids -----------------------------------------------------------------------------------


class TestRequestId(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.editor = make_user("rid-editor", perms=EDIT_ALL)

    def create_tag(self, **extra):
        before = head_seq()
        response = api_client(self.editor).post(
            "/api/v1/tags/", {"name": f"t{factories.n()}", "slug": f"t{factories.n()}"}, format="json", **extra
        )
        self.assertEqual(response.status_code, 201, response.content)
        [record] = records_since(before)
        return response, record

    def test_well_formed_caller_id_is_echoed_and_recorded_apart(self):
        supplied = "caller-Req_42.retry-1"
        response, record = self.create_tag(HTTP_X_REQUEST_ID=supplied)
        self.assertEqual(response["X-Request-ID"], supplied)
        self.assertEqual(record.client_request_id, supplied)
        # The record's request id is the server's own, never the caller's.
        self.assertRegex(record.request_id, GENERATED_REQUEST_ID)
        self.assertEqual(record.request_id, response["X-Accord-Request-ID"])

    def test_malformed_caller_id_is_dropped(self):
        for bad in ("has spaces in it", "x" * 65, "semi;colon", "<script>", "ünïcode"):
            with self.subTest(bad=bad):
                response, record = self.create_tag(HTTP_X_REQUEST_ID=bad)
                self.assertNotEqual(response["X-Request-ID"], bad)
                self.assertRegex(response["X-Request-ID"], GENERATED_REQUEST_ID)
                self.assertEqual(record.request_id, response["X-Request-ID"])
                self.assertEqual(record.client_request_id, "")

    def test_missing_id_is_generated_and_unique(self):
        first, first_record = self.create_tag()
        second, second_record = self.create_tag()
        self.assertRegex(first["X-Request-ID"], GENERATED_REQUEST_ID)
        self.assertNotEqual(first["X-Request-ID"], second["X-Request-ID"])
        self.assertEqual(first_record.request_id, first["X-Request-ID"])
        self.assertEqual(first["X-Accord-Request-ID"], first["X-Request-ID"])

    def test_a_repeated_caller_id_never_joins_two_requests(self):
        first, first_record = self.create_tag(HTTP_X_REQUEST_ID="retry-7")
        second, second_record = self.create_tag(HTTP_X_REQUEST_ID="retry-7")
        self.assertNotEqual(first_record.request_id, second_record.request_id)
        self.assertEqual((first_record.client_request_id, second_record.client_request_id), ("retry-7", "retry-7"))

    def test_records_written_before_the_client_id_column_keep_their_hash(self):
        """A field added to the record later is hashed only when set: a record without it hashes
        as it did before the column existed."""
        _, record = self.create_tag()
        self.assertEqual(record.client_request_id, "")
        self.assertNotIn(b"client_request_id", audit.canonical(record))
        _, with_id = self.create_tag(HTTP_X_REQUEST_ID="abc")
        self.assertIn(b'"client_request_id":"abc"', audit.canonical(with_id))
        self.assertTrue(audit.verify_chain().ok)

    def test_reads_carry_a_request_id_too(self):
        response = api_client(self.editor).get("/api/v1/tags/")
        self.assertRegex(response["X-Request-ID"], GENERATED_REQUEST_ID)


# --- actors outside requests -----------------------------------------------------------------------


class TestActors(TestCase):
    def test_write_without_actor_raises(self):
        before = head_seq()
        with context._entered(context.AuditContext()):
            self.assertIsNone(context.current().resolved_actor())
            with self.assertRaises(context.MissingActorError) as raised, transaction.atomic():
                Tag.objects.create(name="orphan", slug="orphan")
        self.assertIn("system_actor", str(raised.exception))
        self.assertFalse(Tag.objects.filter(slug="orphan").exists())
        self.assertEqual(head_seq(), before)

    def test_update_and_delete_without_actor_raise(self):
        tag = factories.tag()
        with context._entered(context.AuditContext()):
            tag.description = "changed"
            with self.assertRaises(context.MissingActorError), transaction.atomic():
                tag.save()
            with self.assertRaises(context.MissingActorError), transaction.atomic():
                tag.delete()
        self.assertTrue(Tag.objects.filter(pk=tag.pk, description="").exists())

    def test_system_actor_is_recorded_with_reason(self):
        before = head_seq()
        with context._entered(context.AuditContext()), context.system_actor("worker", reason="nightly tag sync"):
            tag = Tag.objects.create(name="synced", slug="synced")
        [record] = records_since(before)
        self.assertEqual((record.action, record.object_id), ("create", str(tag.pk)))
        self.assertEqual(record.actor_name, "system:worker")
        self.assertIsNone(record.actor_id)
        self.assertEqual(record.reason, "nightly tag sync")
        self.assertTrue(record.request_id)

    def test_system_actor_needs_a_reason(self):
        with self.assertRaises(ValueError):
            context.system_actor("worker", reason="")

    def test_actor_context_records_the_person(self):
        person = make_user("on-behalf")
        before = head_seq()
        with context.actor_context(person, reason="ticket 42"):
            factories.tag()
        [record] = records_since(before)
        self.assertEqual((record.actor_name, record.actor_id, record.reason), ("on-behalf", person.pk, "ticket 42"))


# --- append-only in the database -------------------------------------------------------------------


class TestAppendOnly(TestCase):
    @classmethod
    def setUpTestData(cls):
        for _ in range(3):
            factories.tag()

    def assert_refused(self, sql: str, params=()):
        with self.assertRaises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
        self.assertIn("append-only", str(raised.exception))

    def test_raw_update_and_delete_are_refused(self):
        rows = list(AuditRecord.objects.order_by("seq").values())
        self.assertGreaterEqual(len(rows), 3)
        self.assert_refused(f"UPDATE {TABLE} SET actor_name = %s", ["mallory"])
        self.assert_refused(f"UPDATE {TABLE} SET reason = %s WHERE seq = %s", ["edited", rows[0]["seq"]])
        self.assert_refused(f"DELETE FROM {TABLE}")
        self.assert_refused(f"DELETE FROM {TABLE} WHERE seq = %s", [rows[-1]["seq"]])
        self.assertEqual(list(AuditRecord.objects.order_by("seq").values()), rows)

    def test_truncate_is_refused_on_postgresql(self):
        if connection.vendor != "postgresql":
            self.skipTest("SQLite has no TRUNCATE")
        count = AuditRecord.objects.count()
        self.assert_refused(f"TRUNCATE {TABLE}")
        self.assert_refused(f"TRUNCATE {TABLE} CASCADE")
        self.assertEqual(AuditRecord.objects.count(), count)

    def test_orm_update_delete_and_save_are_refused(self):
        rows = list(AuditRecord.objects.order_by("seq").values())
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditRecord.objects.update(reason="rewritten")
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditRecord.objects.filter(seq=rows[0]["seq"]).delete()
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditRecord.objects.all().delete()
        record = AuditRecord.objects.order_by("seq").first()
        record.actor_name = "mallory"
        with self.assertRaises(DatabaseError), transaction.atomic():
            record.save()
        with self.assertRaises(DatabaseError), transaction.atomic():
            record.delete()
        self.assertEqual(list(AuditRecord.objects.order_by("seq").values()), rows)
        self.assertTrue(audit.verify_chain().ok)


# --- the hash chain --------------------------------------------------------------------------------


class TestHashChain(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.auditor = make_user("chain-auditor", perms=AUDITOR_PERMS)
        for _ in range(5):
            factories.tag()

    def setUp(self):
        result = audit.verify_chain()
        self.assertTrue(result.ok, result)
        self.seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
        self.assertGreaterEqual(len(self.seqs), 5)
        self.middle = self.seqs[len(self.seqs) // 2]

    def verify_command(self):
        """Run ``manage.py verify_audit``: (exit status, output)."""
        if "verify_audit" not in get_commands():
            pytest.skip("manage.py verify_audit does not exist yet (permissions/management/commands/verify_audit.py)")
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("verify_audit", stdout=out, stderr=err)
            status = 0
        except CommandError as exc:
            status, err = exc.returncode or 1, io.StringIO(err.getvalue() + str(exc))
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        return status, out.getvalue() + err.getvalue()

    def test_intact_chain_verifies(self):
        result = audit.verify_chain()
        self.assertEqual((result.ok, result.checked, result.head_seq), (True, len(self.seqs), self.seqs[-1]))
        head = audit.chain_head()
        self.assertEqual(head["seq"], self.seqs[-1])
        self.assertEqual(head["hash"], AuditRecord.objects.get(seq=self.seqs[-1]).record_hash)
        self.assertEqual(result.head_hash, head["hash"])

    def test_verify_with_small_chunks(self):
        self.assertTrue(audit.verify_chain(chunk=2).ok)

    def test_intact_chain_passes_the_command(self):
        status, output = self.verify_command()
        self.assertEqual(status, 0, output)

    def test_altered_record_is_found(self):
        tamper(f"UPDATE {TABLE} SET actor_name = %s WHERE seq = %s", ["mallory", self.middle])
        self.assertEqual(AuditRecord.objects.get(seq=self.middle).actor_name, "mallory")
        result = audit.verify_chain()
        self.assertFalse(result.ok)
        self.assertEqual(result.broken_seq, self.middle)
        self.assertIn(str(self.middle), result.problem)
        status, output = self.verify_command()
        self.assertNotEqual(status, 0, output)
        self.assertIn(str(self.middle), output)

    def test_altered_changes_are_found(self):
        tamper(f"UPDATE {TABLE} SET changes = %s WHERE seq = %s", [json.dumps({"name": {"before": "x"}}), self.middle])
        result = audit.verify_chain()
        self.assertEqual((result.ok, result.broken_seq), (False, self.middle))

    def test_rehashed_record_breaks_the_link_to_its_successor(self):
        record = AuditRecord.objects.get(seq=self.middle)
        record.reason = "rewritten history"
        new_hash = audit.compute_hash(record)
        tamper(f"UPDATE {TABLE} SET reason = %s, record_hash = %s WHERE seq = %s",
               ["rewritten history", new_hash, self.middle])
        result = audit.verify_chain()
        self.assertFalse(result.ok)
        self.assertEqual(result.broken_seq, self.middle + 1)

    def test_deleted_record_is_found_as_a_gap(self):
        tamper(f"DELETE FROM {TABLE} WHERE seq = %s", [self.middle])
        result = audit.verify_chain()
        self.assertFalse(result.ok)
        self.assertEqual(result.broken_seq, self.middle)
        self.assertIn("missing", result.problem)
        status, output = self.verify_command()
        self.assertNotEqual(status, 0, output)
        self.assertIn(str(self.middle), output)

    def test_verify_api_reports_tampering(self):
        client = api_client(self.auditor)
        self.assertTrue(client.get("/api/v1/audit/verify/").json()["ok"])
        tamper(f"UPDATE {TABLE} SET actor_name = %s WHERE seq = %s", ["mallory", self.middle])
        # The walk starts where the last one ended and re-hashes only what is new: an edit of an
        # already verified record that keeps its hash is found by the full walk (docs/audit.md).
        body = client.get("/api/v1/audit/verify/").json()
        self.assertEqual((body["ok"], body["from_seq"], body["checked"]), (True, self.seqs[-1], 0))
        body = client.get("/api/v1/audit/verify/?full=true").json()
        self.assertEqual((body["ok"], body["broken_seq"], body["from_seq"]), (False, self.middle, 0))

    def test_head_api_matches_chain_head(self):
        response = api_client(self.auditor).get("/api/v1/audit/head/")
        self.assertEqual(response.status_code, 200, response.content)
        body, head = response.json(), audit.chain_head()
        self.assertEqual((body["seq"], body["hash"]), (head["seq"], head["hash"]))
        self.assertEqual(datetime.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")), head["timestamp"])
        self.assertEqual(api_client(make_user("no-audit-perm")).get("/api/v1/audit/head/").status_code, 403)

    def test_each_record_points_at_its_predecessor(self):
        records = list(AuditRecord.objects.order_by("seq"))
        for previous, record in zip(records, records[1:], strict=False):
            self.assertEqual(record.prev_hash, previous.record_hash)
            self.assertEqual(record.record_hash, audit.compute_hash(record))


class TestChainAppend(TestCase):
    """How a record is appended: the head row, one statement on PostgreSQL, the same hash as verify_chain's."""

    TRICKY = {
        "object_repr": 'Ünïcødé "quoted" \\ back\\slash — 数据 🙂\u2028',
        "reason": "line\nbreak\ttab \"quote\" ' apostrophe </script>",
        "details": {"z": None, "a": {"nested": [1, 2.5, "x", None, True], "ü": "ß"}, "empty": {}, "list": []},
    }

    def append(self, **extra):
        with context.system_actor("chain-test", reason="appending"):
            return audit.record_event("update", object_type="catalog.tag", object_id="7", **extra)

    def assert_head_is_last_record(self):
        last = AuditRecord.objects.order_by("-seq").first()
        head = AuditChainHead.objects.get(id=1)
        self.assertEqual((head.seq, head.record_hash, head.prev_hash), (last.seq, last.record_hash, last.prev_hash))

    def test_parts_rebuild_the_canonical_text(self):
        timestamp = datetime.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=datetime.UTC)
        contents = [
            {"object_repr": "plain", "changes": {}, "details": {}},
            {**self.TRICKY, "changes": {"name": {"before": None, "after": "a\x00b"}}},
            {"object_repr": "nul \x00 and control \x01\x1f", "changes": {"k": {"before": '"', "after": "\\"}},
             "details": {"prev_hash": "not the chain's", "seq": "nor this", "nested": {"seq": 1, "b": {"c": None}}}},
        ]
        for content in contents:
            record = {
                "timestamp": timestamp, "action": "update", "actor_id": None, "actor_name": "Zoë \"z\"",
                "object_type": "catalog.tag", "object_id": "7", "parent_type": "", "parent_id": "",
                "changes": {}, "details": {}, "request_id": "r" * 32, "client_ip": None,
                "user_agent": "agent/1.0 (ü)", "reason": "", **content,
            }
            before_prev, before_seq, after_seq = audit.chain_parts(record)
            for seq, prev_hash in ((1, audit.GENESIS_HASH), (10**12, "ab" * 32), (42, "f" * 64)):
                with self.subTest(content=content["object_repr"], seq=seq):
                    text = before_prev + prev_hash + before_seq + str(seq) + after_seq
                    self.assertEqual(text.encode(), audit.canonical({**record, "seq": seq, "prev_hash": prev_hash}))

    def test_one_statement_per_append_on_postgresql(self):
        if connection.vendor != "postgresql":
            self.skipTest("SQLite reads the head, moves it and inserts: three statements on one connection")
        self.append()
        with CaptureQueriesContext(connection) as queries:
            self.append()
        self.assertEqual(len(queries), 1, [q["sql"] for q in queries])
        self.assertIn(audit.APPEND_FUNCTION, queries[0]["sql"])

    def test_append_function_takes_the_record_columns_in_order(self):
        """The server-side append (migration 0007) names a parameter per content column of the
        record, in the order the statement passes them: a column added to AuditRecord fails
        here until a migration replaces the function."""
        if connection.vendor != "postgresql":
            self.skipTest("SQLite appends with plain statements")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_function_identity_arguments(oid) FROM pg_proc WHERE proname = %s",
                           [audit.APPEND_FUNCTION])
            (arguments,), = cursor.fetchall()
        types = {"DateTimeField": "timestamp with time zone", "BigIntegerField": "bigint", "JSONField": "jsonb",
                 "GenericIPAddressField": "inet"}
        expected = ["before_prev text", "before_seq text", "after_seq text"] + [
            f"p_{field.column} {types.get(field.get_internal_type(), 'text')}" for field in audit._CONTENT_FIELDS]
        self.assertEqual(arguments.split(", "), expected)

    def test_stored_record_is_the_returned_one_and_hashes_as_verify_does(self):
        first = self.append()
        record = self.append(details=self.TRICKY["details"], reason=self.TRICKY["reason"],
                             object_repr=self.TRICKY["object_repr"])
        stored = AuditRecord.objects.get(pk=record.pk)
        self.assertEqual(record.seq, first.seq + 1)
        self.assertEqual(record.prev_hash, first.record_hash)
        for name in (*audit.HASHED_FIELDS, "record_hash"):
            self.assertEqual(getattr(record, name), getattr(stored, name), name)
        self.assertEqual(stored.record_hash, audit.compute_hash(stored))
        self.assertEqual(record.record_hash, audit.compute_hash(record))
        self.assertFalse(record._state.adding)
        self.assertTrue(audit.verify_chain().ok)

    def test_head_row_follows_the_last_record(self):
        for _ in range(3):
            factories.tag()
            self.assert_head_is_last_record()
        self.append()
        self.assert_head_is_last_record()

    def test_missing_head_row_is_rebuilt_from_the_records(self):
        self.append()
        last = AuditRecord.objects.order_by("-seq").first()
        AuditChainHead.objects.all().delete()
        record = self.append()
        self.assertEqual((record.seq, record.prev_hash), (last.seq + 1, last.record_hash))
        self.assert_head_is_last_record()
        self.assertTrue(audit.verify_chain().ok)

    def test_empty_log_starts_at_the_genesis(self):
        tamper(f"DELETE FROM {TABLE}", [])
        AuditChainHead.objects.all().delete()
        record = self.append()
        self.assertEqual((record.seq, record.prev_hash), (1, audit.GENESIS_HASH))
        self.assertEqual(audit.verify_chain().checked, 1)

    def test_verify_reports_a_head_row_that_does_not_fit(self):
        self.append()
        last = AuditRecord.objects.order_by("-seq").first()
        AuditChainHead.objects.filter(id=1).update(record_hash="e" * 64)
        result = audit.verify_chain()
        self.assertEqual((result.ok, result.broken_seq), (False, last.seq + 1))
        self.assertIn("head row", result.problem)
        AuditChainHead.objects.filter(id=1).update(seq=last.seq - 1, record_hash=last.prev_hash)
        self.assertFalse(audit.verify_chain().ok)
        AuditChainHead.objects.filter(id=1).update(seq=last.seq + 1, record_hash="e" * 64)
        self.assertFalse(audit.verify_chain().ok)

    def test_records_removed_from_the_end_are_found(self):
        self.append()
        self.append()
        last = AuditRecord.objects.order_by("-seq").first()
        tamper(f"DELETE FROM {TABLE} WHERE seq = %s", [last.seq])
        result = audit.verify_chain()
        self.assertEqual((result.ok, result.checked, result.broken_seq), (False, last.seq - 1, last.seq))
        self.assertIn("removed from the end", result.problem)

    def test_failed_append_fails_the_change(self):
        tag = factories.tag()
        seq = head_seq()
        with self.assertRaises(DatabaseError), transaction.atomic(), context.system_actor("t", reason="failing"):
            with connection.cursor() as cursor:  # rolled back with the rest
                cursor.execute(f"DROP TABLE {AuditChainHead._meta.db_table}")
            tag.name = "renamed"
            tag.save()
        tag.refresh_from_db()
        self.assertNotEqual(tag.name, "renamed")
        self.assertEqual(head_seq(), seq)


# --- concurrent writers ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_gapless_chain():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (the embedded SQLite test database serialises everything)")
    threads_count, per_thread = 8, 25
    before = AuditRecord.objects.count()
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with context.system_actor(f"writer-{index}", reason="concurrency test"):
                barrier.wait(timeout=30)
                for item in range(per_thread):
                    name = f"concurrent {index}-{item}"
                    if index % 2:
                        with transaction.atomic():
                            Tag.objects.create(name=name, slug=f"concurrent-{index}-{item}")
                    else:
                        Tag.objects.create(name=name, slug=f"concurrent-{index}-{item}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    result = audit.verify_chain()
    assert result.ok, result
    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    writes = threads_count * per_thread
    assert len(seqs) == before + writes
    assert seqs == list(range(1, len(seqs) + 1))
    assert result.checked == len(seqs)
    assert Tag.objects.filter(slug__startswith="concurrent-").count() == writes
    workers = AuditRecord.objects.filter(actor_name__startswith="system:writer-")
    assert workers.count() == writes
    assert workers.filter(action="create", object_type="catalog.tag").count() == writes


# --- reading the log -------------------------------------------------------------------------------


class TestReadingTheLog(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.auditor = make_user("log-auditor", perms=AUDITOR_PERMS)
        cls.employee = make_user("log-employee")
        cls.editor = make_user("log-editor", perms=EDIT_ALL)
        cls.superuser = User.objects.create_superuser("log-admin", "la@example.com", PASSWORD)
        cls.system = factories.system()

    def setUp(self):
        editor = api_client(self.editor)
        self.start = head_seq()
        self.tag_response = editor.post("/api/v1/tags/", {"name": "read me", "slug": "read-me"}, format="json",
                                        HTTP_X_REQUEST_ID="req-read-me")
        self.tag_id = self.tag_response.json()["id"]
        editor.patch(f"/api/v1/tags/{self.tag_id}/", {"description": "d"}, format="json")
        self.dataset = factories.dataset(system=self.system)
        self.other = factories.dataset(system=self.system)
        self.field = factories.field(dataset=self.dataset)
        factories.field(dataset=self.other)
        editor.patch(f"/api/v1/fields/{self.field.pk}/", {"description": "the field"}, format="json")
        editor.patch(f"/api/v1/datasets/{self.dataset.pk}/", {"description": "the dataset"}, format="json")
        self.records = records_since(self.start)

    def seqs_of(self, response) -> list[int]:
        self.assertEqual(response.status_code, 200, response.content)
        return [row["seq"] for row in response.json()["results"]]

    def get(self, user=None, **params):
        return api_client(user or self.auditor).get("/api/v1/audit/?" + urlencode({**params, "page_size": 1000},
                                                                                   doseq=True))

    def test_needs_view_permission(self):
        before = head_seq()
        response = api_client(self.employee).get("/api/v1/audit/", HTTP_X_REQUEST_ID="denied-1")
        self.assertEqual(response.status_code, 403)
        self.assertNotIn("results", response.json())
        denied = [r for r in records_since(before) if r.action == "access_denied"]
        self.assertEqual(len(denied), 1)
        self.assertEqual((denied[0].actor_name, denied[0].client_request_id, denied[0].request_id),
                         (self.employee.username, "denied-1", response["X-Accord-Request-ID"]))
        self.assertEqual(api_client(self.editor).get("/api/v1/audit/export/?as=json").status_code, 403)
        self.assertEqual(api_client(self.employee).get("/api/v1/audit/verify/").status_code, 403)
        self.assertEqual(api_client(None).get("/api/v1/audit/").status_code, 401)
        seq = self.records[0].seq
        self.assertEqual(api_client(self.employee).get(f"/api/v1/audit/{seq}/").status_code, 403)
        response = api_client(self.auditor).get(f"/api/v1/audit/{seq}/")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["record_hash"], self.records[0].record_hash)

    def test_log_is_read_only_through_the_api(self):
        client = api_client(self.superuser)
        seq = self.records[0].seq
        self.assertEqual(client.post("/api/v1/audit/", {"action": "create"}, format="json").status_code, 405)
        self.assertEqual(client.patch(f"/api/v1/audit/{seq}/", {"reason": "x"}, format="json").status_code, 405)
        self.assertEqual(client.delete(f"/api/v1/audit/{seq}/").status_code, 405)

    def test_list_is_newest_first(self):
        seqs = self.seqs_of(self.get())
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(set(seqs), set(AuditRecord.objects.values_list("seq", flat=True)))

    def test_filters(self):
        mine = [r.seq for r in self.records if r.actor_name == self.editor.username]
        self.assertEqual(len(mine), 4)
        self.assertEqual(sorted(self.seqs_of(self.get(actor=self.editor.username))), mine)
        self.assertEqual(sorted(self.seqs_of(self.get(actor_id=self.editor.pk))), mine)
        updates = sorted(AuditRecord.objects.filter(action="update").values_list("seq", flat=True))
        self.assertEqual(sorted(self.seqs_of(self.get(action="update"))), updates)
        both = sorted(AuditRecord.objects.filter(action__in=["update", "create"]).values_list("seq", flat=True))
        self.assertEqual(sorted(self.seqs_of(self.get(action=["update", "create"]))), both)
        tag_records = sorted(AuditRecord.objects.filter(object_type="catalog.tag", object_id=str(self.tag_id))
                             .values_list("seq", flat=True))
        self.assertEqual(len(tag_records), 2)
        self.assertEqual(sorted(self.seqs_of(self.get(object_type="catalog.tag", object_id=self.tag_id))),
                         tag_records)
        fields = sorted(AuditRecord.objects.filter(object_type="catalog.field").values_list("seq", flat=True))
        self.assertEqual(sorted(self.seqs_of(self.get(object_type="catalog.field"))), fields)
        self.assertEqual(self.seqs_of(self.get(client_request_id="req-read-me")),
                         [r.seq for r in self.records if r.client_request_id == "req-read-me"])
        self.assertEqual(self.seqs_of(self.get(client_request_id="req-read-me"))[0], self.records[0].seq)
        server_id = self.tag_response["X-Accord-Request-ID"]
        self.assertEqual(self.seqs_of(self.get(request_id=server_id)), [self.records[0].seq])
        self.assertEqual(self.seqs_of(self.get(actor="nobody-at-all")), [])
        self.assertEqual(self.get(action="no-such-action").status_code, 400)

    def test_since_and_until(self):
        everything = list(AuditRecord.objects.order_by("seq"))
        since, until = self.records[1].timestamp, self.records[-1].timestamp
        expected = [r.seq for r in everything if since <= r.timestamp < until]
        self.assertTrue(expected)
        self.assertLess(len(expected), len(everything))
        found = sorted(self.seqs_of(self.get(since=since.isoformat(), until=until.isoformat())))
        self.assertEqual(found, expected)
        later = self.seqs_of(self.get(since=(until + datetime.timedelta(seconds=1)).isoformat()))
        self.assertEqual(later, [])
        self.assertEqual(self.get(since="not a date").status_code, 400)

    def test_dataset_history_shows_its_records_and_its_fields(self):
        response = api_client(self.employee).get(f"/api/v1/datasets/{self.dataset.pk}/history/?page_size=1000")
        self.assertEqual(response.status_code, 200, response.content)
        rows = response.json()["results"]
        expected = AuditRecord.objects.filter(object_type="catalog.dataset", object_id=str(self.dataset.pk)) | \
            AuditRecord.objects.filter(object_type="catalog.field", object_id=str(self.field.pk))
        self.assertEqual(sorted(row["seq"] for row in rows), sorted(expected.values_list("seq", flat=True)))
        kinds = {(row["object_type"], row["action"]) for row in rows}
        self.assertEqual(kinds, {("catalog.dataset", "create"), ("catalog.dataset", "update"),
                                 ("catalog.field", "create"), ("catalog.field", "update")})
        self.assertEqual(api_client(self.employee).get("/api/v1/datasets/999999/history/").status_code, 404)

    def test_dataset_history_is_newest_first(self):
        rows = api_client(self.employee).get(f"/api/v1/datasets/{self.dataset.pk}/history/").json()["results"]
        self.assertEqual([row["seq"] for row in rows], sorted((row["seq"] for row in rows), reverse=True))

    def test_history_of_other_models_and_its_ordering(self):
        client = api_client(self.employee)
        client.raise_request_exception = False
        response = client.get(f"/api/v1/tags/{self.tag_id}/history/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(sorted(row["seq"] for row in response.json()["results"]),
                         [r.seq for r in self.records if r.object_type == "catalog.tag"])
        self.assertEqual(client.get(f"/api/v1/systems/{self.system.pk}/history/").status_code, 200)
        for ordering in ("seq", "-seq"):
            response = client.get(f"/api/v1/datasets/{self.dataset.pk}/history/?ordering={ordering}")
            self.assertEqual(response.status_code, 200, ordering)
            seqs = [row["seq"] for row in response.json()["results"]]
            # History is always newest first, like the audit log; ?ordering concerns the resource's lists.
            self.assertEqual(seqs, sorted(seqs, reverse=True))

    def test_history_keeps_deleted_fields_for_superusers(self):
        field_id = self.field.pk
        api_client(self.editor).delete(f"/api/v1/fields/{field_id}/")
        response = api_client(self.superuser).get(f"/api/v1/datasets/{self.dataset.pk}/history/?page_size=1000")
        rows = response.json()["results"]
        self.assertIn(("catalog.field", str(field_id), "delete"),
                      {(row["object_type"], row["object_id"], row["action"]) for row in rows})

    def test_export_csv(self):
        response = api_client(self.auditor).get("/api/v1/audit/export/?as=csv&object_type=catalog.tag")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertIn("attachment", response["Content-Disposition"])
        content = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        rows = list(csv.DictReader(io.StringIO(content)))
        expected = list(AuditRecord.objects.filter(object_type="catalog.tag").order_by("seq"))
        self.assertEqual([int(row["seq"]) for row in rows], [r.seq for r in expected])
        first = next(row for row in rows if int(row["seq"]) == self.records[0].seq)
        self.assertEqual(first["actor_name"], self.editor.username)
        self.assertEqual(first["client_request_id"], "req-read-me")
        self.assertEqual(first["request_id"], self.tag_response["X-Accord-Request-ID"])
        self.assertEqual(first["record_hash"], self.records[0].record_hash)
        self.assertEqual(json.loads(first["changes"])["name"], {"before": None, "after": "read me"})

    def test_export_json(self):
        response = api_client(self.auditor).get(
            f"/api/v1/audit/export/?as=json&actor={self.editor.username}&action=update"
        )
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("application/json"))
        content = b"".join(response.streaming_content) if response.streaming else response.content
        rows = json.loads(content)
        expected = [r for r in self.records if r.actor_name == self.editor.username and r.action == "update"]
        self.assertEqual([row["seq"] for row in rows], [r.seq for r in expected])
        self.assertEqual(rows[0]["changes"], expected[0].changes)
        self.assertEqual(rows[0]["record_hash"], expected[0].record_hash)

    def test_export_rejects_unknown_format(self):
        self.assertEqual(api_client(self.auditor).get("/api/v1/audit/export/?as=xml").status_code, 400)

    def export(self, **params):
        response = api_client(self.auditor).get("/api/v1/audit/export/?" + urlencode(params))
        self.assertTrue(response.streaming, None if response.streaming else response.content)
        self.assertEqual(response.status_code, 200)
        return b"".join(response.streaming_content).decode(), response

    def test_export_json_lines_is_the_default(self):
        content, response = self.export(object_type="catalog.tag")
        self.assertTrue(response["Content-Type"].startswith("application/jsonl"))
        self.assertIn("accord-audit.jsonl", response["Content-Disposition"])
        rows = [json.loads(line) for line in content.splitlines()]
        expected = list(AuditRecord.objects.filter(object_type="catalog.tag").order_by("seq"))
        self.assertEqual([row["seq"] for row in rows], [r.seq for r in expected])
        self.assertEqual(rows[0]["record_hash"], expected[0].record_hash)
        self.assertEqual(rows[0]["changes"], expected[0].changes)
        # A record exported is the record stored: its hash is computed again from the line.
        self.assertEqual(audit.compute_hash(rows[0]), expected[0].record_hash)

    def test_export_ranges_of_seq_and_dates(self):
        seqs = [r.seq for r in self.records]
        content, _ = self.export(seq_from=seqs[1], seq_to=seqs[3])
        self.assertEqual([json.loads(line)["seq"] for line in content.splitlines()], seqs[1:4])
        today = self.records[0].timestamp.astimezone(datetime.UTC).date()
        content, _ = self.export(since=today.isoformat(), until=(today + datetime.timedelta(days=1)).isoformat())
        exported = {json.loads(line)["seq"] for line in content.splitlines()}
        self.assertLessEqual(set(seqs), exported)
        content, _ = self.export(until=today.isoformat())
        self.assertFalse(set(seqs) & {json.loads(line)["seq"] for line in content.splitlines()})
        content, _ = self.export(**{"as": "json", "seq_from": seqs[-1] + 1000})
        self.assertEqual(json.loads(content), [])

    def test_a_bad_date_or_seq_is_a_400_naming_it(self):
        client = api_client(self.auditor)
        for params in ({"since": "yesterday"}, {"until": "2026-13-01"}, {"since": "2026-01-01T25:00:00"},
                       {"seq_from": "x"}):
            name = next(iter(params))
            response = client.get("/api/v1/audit/export/?" + urlencode(params))
            self.assertEqual(response.status_code, 400, params)
            self.assertIn(name, response.json()["errors"], response.json())
        response = client.get("/api/v1/audit/export/?since=yesterday")
        self.assertIn("YYYY-MM-DD", response.json()["errors"]["since"][0])
        # An offset PostgreSQL would refuse is compared in UTC.
        content, _ = self.export(since="2000-01-01T00:00:00+16:00", seq_to=self.records[0].seq)
        self.assertEqual(json.loads(content.splitlines()[-1])["seq"], self.records[0].seq)

    def test_audit_admin_is_read_only(self):
        self.client.force_login(self.superuser)
        record = self.records[0]
        changelist = self.client.get("/admin/permissions/auditrecord/")
        self.assertEqual(changelist.status_code, 200)
        self.assertContains(changelist, record.request_id)
        self.assertNotContains(changelist, "/admin/permissions/auditrecord/add/")
        self.assertEqual(self.client.get("/admin/permissions/auditrecord/add/").status_code, 403)
        detail = self.client.get(f"/admin/permissions/auditrecord/{record.pk}/change/")
        self.assertEqual(detail.status_code, 200)
        self.assertNotContains(detail, 'name="_save"')
        before = list(AuditRecord.objects.filter(pk=record.pk).values())
        response = self.client.post(f"/admin/permissions/auditrecord/{record.pk}/change/", {"reason": "edited"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.client.get(f"/admin/permissions/auditrecord/{record.pk}/delete/").status_code, 403)
        response = self.client.post(f"/admin/permissions/auditrecord/{record.pk}/delete/", {"post": "yes"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(list(AuditRecord.objects.filter(pk=record.pk).values()), before)
        search = self.client.get("/admin/permissions/auditrecord/", {"q": "req-read-me", "action__exact": "create"})
        self.assertEqual(search.status_code, 200)
        self.assertEqual([r.seq for r in search.context["cl"].result_list], [record.seq])

    def test_audit_admin_needs_permission(self):
        staff = make_user("staff-without-audit", is_staff=True)
        self.client.force_login(staff)
        self.assertEqual(self.client.get("/admin/permissions/auditrecord/").status_code, 403)

    def test_admin_history_page_lists_audit_records(self):
        self.client.force_login(self.superuser)
        response = self.client.get(f"/admin/catalog/dataset/{self.dataset.pk}/history/")
        self.assertEqual(response.status_code, 200)
        shown = sorted(r.seq for r in response.context["records"])
        expected = AuditRecord.objects.filter(object_type="catalog.dataset", object_id=str(self.dataset.pk)) | \
            AuditRecord.objects.filter(parent_type="catalog.dataset", parent_id=str(self.dataset.pk))
        self.assertEqual(shown, sorted(expected.values_list("seq", flat=True)))
        self.assertContains(response, "the dataset")  # the description change, with its value
        self.assertContains(response, self.editor.username)


# --- logins ----------------------------------------------------------------------------------------


class TestLoginAudit(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.staff = User.objects.create_superuser("login-admin", "l@example.com", PASSWORD)

    def test_successful_login(self):
        before = head_seq()
        response = self.client.post("/admin/login/", {"username": "login-admin", "password": PASSWORD,
                                                      "next": "/admin/"}, HTTP_USER_AGENT=USER_AGENT)
        self.assertEqual(response.status_code, 302)
        logins = [r for r in records_since(before) if r.action == "login"]
        self.assertEqual(len(logins), 1, [str(r) for r in records_since(before)])
        record = logins[0]
        self.assertEqual((record.actor_name, record.actor_id), ("login-admin", self.staff.pk))
        self.assertEqual((record.object_type, record.object_id), ("auth.user", str(self.staff.pk)))
        self.assertEqual((record.client_ip, record.user_agent), ("127.0.0.1", USER_AGENT))
        self.assertEqual(record.request_id, response["X-Request-ID"])
        self.assertNotIn(PASSWORD, record_text(record))
        self.assertTrue(all(PASSWORD not in record_text(r) for r in records_since(before)))

    def test_failed_login(self):
        wrong = "wrong-Passw0rd-xyzzy"
        before = head_seq()
        response = self.client.post("/admin/login/", {"username": "login-admin", "password": wrong,
                                                      "next": "/admin/"})
        self.assertEqual(response.status_code, 200)
        records = records_since(before)
        self.assertEqual([r.action for r in records], ["login_failed"])
        record = records[0]
        self.assertEqual(record.details.get("username"), "login-admin")
        self.assertEqual(record.client_ip, "127.0.0.1")
        self.assertEqual(record.request_id, response["X-Request-ID"])
        self.assertIsNone(record.actor_id)
        self.assertNotIn(wrong, record_text(record))

    def test_failed_login_for_unknown_user(self):
        before = head_seq()
        self.client.post("/admin/login/", {"username": "no-such-person", "password": "whatever-secret-1"})
        [record] = records_since(before)
        self.assertEqual((record.action, record.details.get("username")), ("login_failed", "no-such-person"))
        self.assertNotIn("whatever-secret-1", record_text(record))

    def test_logout(self):
        self.client.force_login(self.staff)
        before = head_seq()
        self.client.post("/admin/logout/")
        [record] = records_since(before)
        self.assertEqual((record.action, record.actor_name), ("logout", "login-admin"))

    def test_repeated_failed_logins_lock_that_account_from_that_address_only(self):
        from django.test import override_settings

        bystander = User.objects.create_user("login-bystander", password=PASSWORD, is_staff=True)
        with override_settings(AXES_FAILURE_LIMIT=3):
            for _ in range(2):
                response = self.client.post("/admin/login/", {"username": "login-admin", "password": "bad-pass-1"})
                self.assertEqual(response.status_code, 200)
            # The failure that reaches the limit is answered with the lockout, and so is the password.
            response = self.client.post("/admin/login/", {"username": "login-admin", "password": "bad-pass-1"})
            self.assertEqual(response.status_code, 429)
            response = self.client.post("/admin/login/", {"username": "login-admin", "password": PASSWORD})
            self.assertEqual(response.status_code, 429)
            self.assertIn("Retry-After", response)
            # Another account from the same address, and the same account from another, sign in.
            other = self.client_class().post("/admin/login/", {"username": bystander.username, "password": PASSWORD})
            self.assertEqual(other.status_code, 302)
            other = self.client_class().post("/admin/login/", {"username": "login-admin", "password": PASSWORD},
                                             REMOTE_ADDR="10.9.8.7")
            self.assertEqual(other.status_code, 302)
        # Every refused sign-in is in the log: three wrong passwords and the locked-out right one.
        self.assertEqual(AuditRecord.objects.filter(action="login_failed", details__username="login-admin").count(), 4)


# --- records follow transactions and savepoints exactly ----------------------------------------


@pytest.mark.django_db(transaction=True)
class TestRecordsFollowSavepoints:
    """A change record is written inside the transaction (or savepoint) of the change it records:
    a rollback, to a savepoint or of the whole transaction, takes the record with the change."""

    @pytest.fixture(autouse=True)
    def _actor(self):
        with context.system_actor("tests", reason="test"):
            yield

    @staticmethod
    def records(object_type="catalog.tag") -> list[AuditRecord]:
        return list(AuditRecord.objects.filter(object_type=object_type).order_by("seq"))

    def test_a_rolled_back_savepoint_inside_a_batch_leaves_no_record(self):
        with transaction.atomic(), audit.batch():
            kept = Tag.objects.create(name="kept", slug="kept")
            try:
                with transaction.atomic():
                    Tag.objects.create(name="gone", slug="gone")
                    raise RuntimeError("roll back to the savepoint")
            except RuntimeError:
                pass
        assert not Tag.objects.filter(slug="gone").exists()
        assert [(r.action, r.object_id) for r in self.records()] == [("create", str(kept.pk))]
        assert audit.verify_chain().ok

    def test_an_update_rolled_back_to_a_savepoint_is_not_recorded(self):
        tag = Tag.objects.create(name="first", slug="first")
        with transaction.atomic(), audit.batch():
            tag.name = "second"
            tag.save()
            try:
                with transaction.atomic():
                    tag.name = "third"
                    tag.save()
                    raise RuntimeError("roll back to the savepoint")
            except RuntimeError:
                pass
        tag.refresh_from_db()
        assert tag.name == "second"
        updates = [r.changes for r in self.records() if r.action == "update"]
        assert updates == [{"name": {"before": "first", "after": "second"}}]

    def test_a_released_savepoint_inside_a_batch_keeps_its_record(self):
        with transaction.atomic(), audit.batch():
            with transaction.atomic():
                inner = Tag.objects.create(name="inner", slug="inner")
        assert [(r.action, r.object_id) for r in self.records()] == [("create", str(inner.pk))]

    def test_a_batch_outside_a_transaction_is_one(self):
        with pytest.raises(RuntimeError), audit.batch():
            Tag.objects.create(name="a", slug="a")
            raise RuntimeError("the batch fails")
        assert not Tag.objects.filter(slug="a").exists()
        assert self.records() == []

    def test_merged_records_are_written_before_the_commit(self):
        with transaction.atomic():
            with audit.batch():
                tag = Tag.objects.create(name="x", slug="x")
                tag.name = "y"
                tag.save()
            # Inside the same transaction, the merged record is already in the log.
            [record] = self.records()
            assert (record.action, record.changes["name"]["after"]) == ("create", "y")

    def test_a_rollback_of_the_whole_transaction_takes_the_records(self):
        with pytest.raises(RuntimeError), transaction.atomic(), audit.batch():
            Tag.objects.create(name="x", slug="x")
            raise RuntimeError("roll back")
        assert self.records() == []
        assert audit.verify_chain().ok
