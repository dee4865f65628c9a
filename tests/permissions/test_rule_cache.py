"""Compiled rules are kept across requests, and never outlive what they were compiled from.

``permissions.access`` keeps each reader's compiled rules for one *access generation*
(``permissions.generation``): a token that triggers in the database change with every
rule, exception, group membership, department membership and department-tree change.
These tests show that the token changes for each of those writes (also bulk updates
and raw SQL, which no signal would see), that a visible effect follows on the very next
read, that expiries take effect on time without any write, that a rolled-back change
leaves nothing stale behind, and that an unchanged generation costs one statement.
"""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Dataset, Department, DepartmentMembership
from permissions import access, generation
from permissions.models import AccessRule, AccessRuleException, AuditRecord
from tests import factories
from tests.mixins import make_user

API = "/api/v1/datasets/"


def deny(obj, **subject) -> AccessRule:
    subject.setdefault("subject_kind", "everyone")
    return AccessRule.objects.create(
        target_kind="object", target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk,
        reason="test", **subject,
    )


class GenerationTokenTests(TestCase):
    """Every write that can change who sees what changes the token, in the same transaction."""

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("reader")
        cls.group = Group.objects.create(name="team")
        cls.parent = factories.department()
        cls.department = factories.department(parent=cls.parent)
        cls.dataset = factories.dataset()

    def assertChanges(self, write):
        before = generation.current_token()
        write()
        after = generation.current_token()
        self.assertIsNotNone(after)
        self.assertNotEqual(before, after)

    def test_rule_create_update_delete(self):
        rule = None

        def create():
            nonlocal rule
            rule = deny(self.dataset)

        self.assertChanges(create)
        self.assertChanges(lambda: AccessRule.objects.filter(pk=rule.pk).update(reason="changed in bulk"))
        self.assertChanges(rule.delete)

    def test_exceptions(self):
        rule = deny(self.dataset)
        self.assertChanges(lambda: AccessRuleException.objects.create(
            rule=rule, subject_kind="user", subject_user=self.user, reason="needs it"))

    def test_group_memberships_both_directions(self):
        self.assertChanges(lambda: self.user.groups.add(self.group))
        self.assertChanges(lambda: self.group.user_set.remove(self.user))

    def test_department_memberships_and_tree(self):
        self.assertChanges(lambda: DepartmentMembership.objects.create(user=self.user, department=self.department))
        other = factories.department()
        self.assertChanges(lambda: Department.objects.filter(pk=self.department.pk).update(parent=other))

    def test_raw_sql_is_seen_too(self):
        rule = deny(self.dataset)
        table = AccessRule._meta.db_table
        self.assertChanges(lambda: connection.cursor().execute(
            f"UPDATE {table} SET reason = %s WHERE id = %s", ["raw", rule.pk]))

    def test_a_rolled_back_change_never_brings_a_token_back(self):
        before = generation.current_token()
        with self.assertRaises(RuntimeError), transaction.atomic():
            deny(self.dataset)
            inside = generation.current_token()
            raise RuntimeError("roll back")
        self.assertEqual(generation.current_token(), before)
        deny(self.dataset)
        self.assertNotIn(generation.current_token(), (before, inside))


class CachedRulesTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("reader")
        cls.colleague = make_user("colleague")
        cls.sales = factories.department()
        DepartmentMembership.objects.create(user=cls.reader, department=cls.sales)
        cls.datasets = [factories.dataset() for _ in range(3)]
        cls.secret = cls.datasets[0]
        AccessRule.objects.create(
            subject_kind="department", subject_department=cls.sales, target_kind="object",
            target_type=ContentType.objects.get_for_model(cls.secret), target_id=cls.secret.pk,
            reason="Sales may not see it",
        )

    def setUp(self):
        access.forget_compiled_rules()
        self.client = APIClient()
        self.client.force_authenticate(self.reader)

    def visible_ids(self) -> set[int]:
        response = self.client.get(API)
        self.assertEqual(response.status_code, 200)
        return {row["id"] for row in response.json()["results"]}

    def test_a_second_request_reads_only_the_token(self):
        with CaptureQueriesContext(connection) as first:
            self.assertNotIn(self.secret.pk, self.visible_ids())
        with CaptureQueriesContext(connection) as second:
            self.assertNotIn(self.secret.pk, self.visible_ids())
        rule_reads = [query["sql"] for query in second.captured_queries
                      if "permissions_accessrule" in query["sql"] and "catalog_dataset" not in query["sql"]]
        self.assertEqual(rule_reads, [])
        token_reads = [query for query in second.captured_queries if generation.TABLE in query["sql"]]
        self.assertEqual(len(token_reads), 1)
        self.assertLess(len(second.captured_queries), len(first.captured_queries))

    def test_a_new_rule_takes_effect_on_the_next_request(self):
        self.assertIn(self.datasets[1].pk, self.visible_ids())
        deny(self.datasets[1])
        self.assertNotIn(self.datasets[1].pk, self.visible_ids())

    def test_leaving_the_department_takes_effect_on_the_next_request(self):
        self.assertNotIn(self.secret.pk, self.visible_ids())
        DepartmentMembership.objects.filter(user=self.reader).delete()
        self.assertIn(self.secret.pk, self.visible_ids())

    def test_moving_the_department_under_a_denied_one(self):
        growth = factories.department()
        deny(self.datasets[2], subject_kind="department", subject_department=growth)
        self.assertIn(self.datasets[2].pk, self.visible_ids())
        Department.objects.filter(pk=self.sales.pk).update(parent=growth)
        self.assertNotIn(self.datasets[2].pk, self.visible_ids())

    def test_an_exception_takes_effect_on_the_next_request(self):
        self.assertNotIn(self.secret.pk, self.visible_ids())
        AccessRuleException.objects.create(rule=AccessRule.objects.get(target_id=self.secret.pk),
                                           subject_kind="user", subject_user=self.reader, reason="audit")
        self.assertIn(self.secret.pk, self.visible_ids())

    def test_an_expiry_takes_effect_on_time_without_any_write(self):
        soon = timezone.now() + datetime.timedelta(hours=1)
        deny(self.datasets[1], expires_at=soon)
        self.assertNotIn(self.datasets[1].pk, self.visible_ids())
        with mock.patch("permissions.access.timezone.now", return_value=soon + datetime.timedelta(seconds=1)):
            self.assertIn(self.datasets[1].pk, self.visible_ids())

    def test_an_expiring_exception_ends_on_time(self):
        soon = timezone.now() + datetime.timedelta(hours=1)
        AccessRuleException.objects.create(rule=AccessRule.objects.get(target_id=self.secret.pk), expires_at=soon,
                                           subject_kind="user", subject_user=self.reader, reason="audit")
        self.assertIn(self.secret.pk, self.visible_ids())
        with mock.patch("permissions.access.timezone.now", return_value=soon + datetime.timedelta(seconds=1)):
            self.assertNotIn(self.secret.pk, self.visible_ids())

    def test_a_rolled_back_rule_leaves_nothing_stale(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            deny(self.datasets[1])
            self.assertNotIn(self.datasets[1].pk, self.visible_ids())  # compiled inside the transaction
            raise RuntimeError("roll back")
        self.assertIn(self.datasets[1].pk, self.visible_ids())

    def test_readers_do_not_share_their_rules(self):
        self.assertNotIn(self.secret.pk, self.visible_ids())
        self.client.force_authenticate(self.colleague)
        self.assertIn(self.secret.pk, self.visible_ids())

    def test_the_queryset_agrees_with_the_api_for_every_reader(self):
        for user, expected in ((self.reader, False), (self.colleague, True)):
            self.assertEqual(Dataset.objects.visible_to(user).filter(pk=self.secret.pk).exists(), expected)


class CompiledConditionTests(TestCase):
    """The compiled rule set's conditions are plain ORM conditions, kept with the rule set and
    reused; they select the same rows however a query nests them."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("reader")
        cls.datasets = [factories.dataset() for _ in range(3)]
        cls.secret = cls.datasets[0]
        deny(cls.secret, subject_kind="user", subject_user=cls.reader)
        cls.tagged = cls.datasets[1]
        tag = factories.tag()
        cls.tagged.tags.add(tag)
        AccessRule.objects.create(subject_kind="user", subject_user=cls.reader, target_kind="tag",
                                  target_tag=tag, reason="test")

    def setUp(self):
        access.forget_compiled_rules()

    def test_compiled_once_and_reused(self):
        with mock.patch.object(access, "_hidden_parts", wraps=access._hidden_parts) as build:
            first = access.visible_condition(Dataset, self.reader)
            built = build.call_count
            second = access.visible_condition(Dataset, self.reader)
        self.assertEqual(first, second)
        self.assertIsInstance(first, Q)
        self.assertGreater(built, 0)
        self.assertEqual(build.call_count, built)  # the second time, nothing is built
        self.assertEqual(set(Dataset.objects.visible_to(self.reader).values_list("pk", flat=True)),
                         {self.datasets[2].pk})

    def test_the_same_rows_as_a_subquery_under_another_alias(self):
        visible = Dataset.objects.visible_to(self.reader)
        expected = {self.datasets[2].pk}
        self.assertEqual(set(Dataset.objects.filter(pk__in=visible.values("pk")).values_list("pk", flat=True)),
                         expected)
        nested = Dataset.objects.filter(pk__in=Dataset.objects.filter(pk__in=visible.values("pk")).values("pk"))
        self.assertEqual(set(nested.values_list("pk", flat=True)), expected)
        self.assertEqual(set((visible | Dataset.objects.filter(pk=self.secret.pk).visible_to(self.reader))
                             .values_list("pk", flat=True)), expected)

    def test_a_condition_through_the_container(self):
        from catalog.models import Field

        # A classification rule reaches fields through their dataset's classification: a join.
        AccessRule.objects.create(subject_kind="user", subject_user=self.reader, target_kind="classification",
                                  classification="restricted", reason="test")
        restricted = factories.dataset(classification="restricted")
        hidden = factories.field(dataset=restricted)
        shown = factories.field(dataset=self.datasets[2])
        visible = set(Field.objects.visible_to(self.reader).values_list("pk", flat=True))
        self.assertNotIn(hidden.pk, visible)
        self.assertIn(shown.pk, visible)


class RequestScopeTests(TestCase):
    """What is remembered for one request is scoped by the server's own request, never by the
    caller's ``X-Request-ID``: a client that repeats an id sees every change on its next request."""

    REPEATED = {"HTTP_X_REQUEST_ID": "same-id-every-time"}

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("repeater")
        cls.department = factories.department()
        cls.group = Group.objects.create(name="repeaters")
        cls.dataset = factories.dataset()

    def setUp(self):
        access.forget_compiled_rules()
        self.client = APIClient()
        self.client.force_authenticate(self.reader)

    def status(self) -> int:
        return self.client.get(f"{API}{self.dataset.pk}/", **self.REPEATED).status_code

    def test_a_new_rule_hides_the_dataset_on_the_next_request_with_the_same_id(self):
        self.assertEqual(self.status(), 200)
        deny(self.dataset)
        self.assertEqual(self.status(), 404)

    def test_a_new_department_membership_is_seen(self):
        deny(self.dataset, subject_kind="department", subject_department=self.department)
        self.assertEqual(self.status(), 200)
        DepartmentMembership.objects.create(user=self.reader, department=self.department)
        self.assertEqual(self.status(), 404)

    def test_a_new_group_membership_is_seen(self):
        deny(self.dataset, subject_kind="group", subject_group=self.group)
        self.assertEqual(self.status(), 200)
        self.reader.groups.add(self.group)
        self.assertEqual(self.status(), 404)

    def test_a_removed_exception_is_seen(self):
        rule = deny(self.dataset)
        exception = AccessRuleException.objects.create(rule=rule, subject_kind="user", subject_user=self.reader,
                                                       reason="needs it")
        self.assertEqual(self.status(), 200)
        exception.delete()
        self.assertEqual(self.status(), 404)

    def test_audit_records_carry_the_servers_id_and_the_callers_separately(self):
        editor = make_user("rid-writer", perms=("catalog.add_tag", "catalog.change_tag"))
        self.client.force_authenticate(editor)
        first = self.client.post("/api/v1/tags/", {"name": "one", "slug": "one"}, format="json", **self.REPEATED)
        second = self.client.post("/api/v1/tags/", {"name": "two", "slug": "two"}, format="json", **self.REPEATED)
        self.assertEqual((first.status_code, second.status_code), (201, 201))
        records = [AuditRecord.objects.get(object_type="catalog.tag", object_id=str(response.json()["id"]))
                   for response in (first, second)]
        self.assertEqual([r.client_request_id for r in records], ["same-id-every-time"] * 2)
        self.assertEqual([r.request_id for r in records],
                         [first["X-Accord-Request-ID"], second["X-Accord-Request-ID"]])
        self.assertNotEqual(records[0].request_id, records[1].request_id)
        self.assertEqual(first["X-Request-ID"], "same-id-every-time")  # echoed


@pytest.mark.django_db(transaction=True)
def test_threads_sharing_the_caches_get_their_own_answers():
    """The process-wide caches are shared by threaded workers: many threads, each a reader with
    rules of their own, evicting one another from a small cache, all get their own answer."""
    import threading

    from django.db import connections

    from permissions.context import system_actor

    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    with system_actor("tests", reason="setup"):
        datasets = [factories.dataset() for _ in range(6)]
        readers = [make_user(f"thread-reader-{i}") for i in range(6)]
        for reader, dataset in zip(readers, datasets, strict=True):
            deny(dataset, subject_kind="user", subject_user=reader)
    ids = [d.pk for d in datasets]
    expected = {reader.pk: set(ids) - {dataset.pk} for reader, dataset in zip(readers, datasets, strict=True)}
    wrong, errors = [], []

    def work(reader):
        try:
            for _ in range(30):
                seen = set(Dataset.objects.visible_to(reader).filter(pk__in=ids).values_list("pk", flat=True))
                if seen != expected[reader.pk]:
                    wrong.append((reader.pk, seen))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    with mock.patch.object(access._Compiled, "MAX_READERS", 2):
        access.forget_compiled_rules()
        threads = [threading.Thread(target=work, args=(reader,)) for reader in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    access.forget_compiled_rules()
    assert (errors, wrong) == ([], [])


class RestrictedReadAuditTests(TestCase):
    """Reads of objects some active rule restricts (from anybody) are audited: one record per
    request naming exactly those objects; the flag comes from the read's own statement."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("reader")
        cls.admin = make_user("root", is_superuser=True, is_staff=True)
        cls.contractors = factories.department()
        cls.datasets = [factories.dataset() for _ in range(4)]
        cls.confidential = factories.dataset(classification="confidential")
        cls.named = cls.datasets[1]
        deny(cls.named, subject_kind="department", subject_department=cls.contractors)
        AccessRule.objects.create(subject_kind="department", subject_department=cls.contractors,
                                  target_kind="classification", classification="confidential", reason="contractors")

    def setUp(self):
        access.forget_compiled_rules()

    def read(self, user, url):
        from permissions.models import AuditRecord

        client = APIClient()
        client.force_authenticate(user)
        before = AuditRecord.objects.filter(action="read_restricted").count()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        self.assertEqual(response.status_code, 200)
        records = list(AuditRecord.objects.filter(action="read_restricted").order_by("seq"))[before:]
        return response, records, queries

    def test_a_list_records_exactly_the_restricted_rows_once(self):
        response, records, queries = self.read(self.reader, API + "?page_size=100")
        shown = {row["id"] for row in response.json()["results"]}
        self.assertLessEqual({self.named.pk, self.confidential.pk}, shown)
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0].details["ids"], sorted([self.named.pk, self.confidential.pk]))
        self.assertEqual(records[0].object_type, "catalog.dataset")
        # Once the rules are compiled, no statement reads the rules and none re-reads the shown
        # rows against them: the list's own statement computed the flag.
        _, records, queries = self.read(self.reader, API + "?page_size=100")
        # The same reader's repeat within the hour is counted, not chained (permissions.audit).
        self.assertEqual(len(records), 0)
        self.assertFalse([q for q in queries.captured_queries if "permissions_accessrule" in q["sql"]])
        self.assertEqual(len([q for q in queries.captured_queries if "accord_restricted" in q["sql"]]), 1)

    def test_a_detail_of_a_restricted_object_is_recorded(self):
        _, records, _ = self.read(self.reader, f"{API}{self.confidential.pk}/")
        self.assertEqual([(r.object_id, r.details["ids"]) for r in records],
                         [(str(self.confidential.pk), [self.confidential.pk])])

    def test_an_unrestricted_detail_leaves_no_record(self):
        _, records, _ = self.read(self.reader, f"{API}{self.datasets[0].pk}/")
        self.assertEqual(records, [])

    def test_superuser_reads_are_recorded_too(self):
        _, records, _ = self.read(self.admin, f"{API}{self.named.pk}/")
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0].actor_name, "root")

    def test_nothing_is_recorded_when_no_rule_is_active(self):
        AccessRule.objects.all().delete()
        _, records, queries = self.read(self.reader, API + "?page_size=100")
        self.assertEqual(records, [])
        self.assertFalse([q for q in queries.captured_queries if "accord_restricted" in q["sql"]])


class InsideVisibleContainerTests(TestCase):
    """``visible_to(user, inside=("dataset",))`` leaves out only the dataset's own conditions:
    field rules still apply. It is for fields read through a dataset already read visibly."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("reader")
        cls.dataset = factories.dataset(classification="restricted")
        cls.open_field, cls.secret_field = factories.field(dataset=cls.dataset), factories.field(dataset=cls.dataset)
        deny(cls.secret_field)
        AccessRule.objects.create(subject_kind="everyone", target_kind="classification",
                                  classification="restricted", reason="nobody sees restricted data")

    def setUp(self):
        access.forget_compiled_rules()

    def test_field_rules_still_apply_and_only_the_container_is_trusted(self):
        from catalog.models import Field

        inside = set(Field.objects.visible_to(self.reader, inside=("dataset",))
                     .filter(dataset=self.dataset).values_list("pk", flat=True))
        self.assertEqual(inside, {self.open_field.pk})
        # Without ``inside`` the hidden dataset hides both: the caller's promise is what differs.
        self.assertFalse(Field.objects.visible_to(self.reader).filter(dataset=self.dataset).exists())
        self.assertFalse(Dataset.objects.visible_to(self.reader).filter(pk=self.dataset.pk).exists())


# --- a restricted read's record is written at once, inside whatever transaction is open --------


@pytest.mark.django_db(transaction=True)
class TestRestrictedReadRecord:
    """A restricted read's audit record is in the chain when the client gets the response, and
    writing it leaves the connection ready for anything (a transaction at once, too)."""

    @pytest.fixture(autouse=True)
    def _fresh_rules(self):
        access.forget_compiled_rules()
        yield
        access.forget_compiled_rules()

    def test_the_record_is_in_the_chain_when_the_response_arrives(self):
        from permissions.audit import verify_chain
        from permissions.context import system_actor

        reader = make_user("sent-reader")
        with system_actor("tests", reason="test setup"):
            dataset = factories.dataset(classification="confidential")
            AccessRule.objects.create(subject_kind="user", subject_user=make_user("other"),
                                      target_kind="classification", classification="confidential", reason="test")
        client = APIClient()
        client.force_authenticate(reader)
        response = client.get(f"{API}{dataset.pk}/")
        assert response.status_code == 200
        record = AuditRecord.objects.filter(action="read_restricted").latest("seq")
        assert (record.actor_name, record.object_id, record.details["ids"]) == (
            "sent-reader", str(dataset.pk), [dataset.pk])
        assert record.request_id == response["X-Accord-Request-ID"]
        assert verify_chain().ok

    def test_a_transaction_can_start_right_after_the_record(self):
        from permissions import audit
        from permissions.context import system_actor

        with system_actor("tests", reason="test"):
            record = audit.record_event("read_restricted", object_type="catalog.dataset", object_id="7",
                                        details={"ids": [7]})
            with transaction.atomic():  # the connection is idle: nothing is waiting for an answer
                assert Dataset.objects.count() == 0
        assert AuditRecord.objects.get(seq=record.seq).record_hash == record.record_hash

    def test_a_refused_append_fails_loudly_and_leaves_the_connection_usable(self):
        from django.db import DataError

        from permissions import audit
        from permissions.context import system_actor

        if connection.vendor != "postgresql":
            pytest.skip("SQLite does not enforce a column's length")
        before = AuditRecord.objects.count()
        with system_actor("tests", reason="test"):
            with pytest.raises(DataError):
                audit.record_event("read_restricted", object_type="x" * 500)  # longer than the column
        assert AuditRecord.objects.count() == before
        assert Dataset.objects.count() == 0
        assert audit.verify_chain().ok
