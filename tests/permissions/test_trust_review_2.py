"""A second fresh-eyes review of what issue 13 says is fixed (the trust layer).

* What is kept across requests (compiled rules per access generation) is never computed from
  a transaction's uncommitted changes under the token the rest of the process still uses.
* A repeated client ``X-Request-ID`` scopes nothing on any read path (API list and detail,
  search, the admin's change list and change page, explain), nor does work outside requests.
"""

from __future__ import annotations

import contextlib
import datetime
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import RequestFactory, TestCase
from django.utils import timezone

from catalog.models import Dataset, Tag
from permissions import access, context
from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import make_user


def deny(obj, **subject) -> AccessRule:
    subject.setdefault("subject_kind", "everyone")
    return AccessRule.objects.create(target_kind="object", target_type=ContentType.objects.get_for_model(obj),
                                     target_id=obj.pk, reason="review 2", **subject)


def sees(user, obj) -> bool:
    return type(obj)._default_manager.visible_to(user).filter(pk=obj.pk).exists()


@contextlib.contextmanager
def web_request(user):
    """The audit context a web request runs under (a request cache of its own)."""
    request = RequestFactory().get("/")
    request.user = user
    with context.request_context(request, context.new_request_id()):
        yield


class RolledBackChangesTests(TestCase):
    """A request reads the access generation once; a write later in that request changes who sees
    what inside its transaction. Rules compiled after that write are the transaction's, not the
    generation's: kept under the token every other request still uses, they outlive a rollback."""

    @classmethod
    def setUpTestData(cls):
        cls.asker = make_user("review2-asker")
        cls.reader = make_user("review2-reader")
        cls.group = Group.objects.create(name="review2-hidden")
        cls.dataset = factories.dataset()

    def setUp(self):
        access.forget_compiled_rules()

    def tearDown(self):
        access.forget_compiled_rules()

    def rolled_back(self, change, *, then) -> None:
        with web_request(self.asker):
            self.assertTrue(sees(self.asker, self.dataset))  # the request has read the generation
            with contextlib.suppress(RuntimeError), transaction.atomic():
                change()
                then()
                raise RuntimeError("the write answers 4xx: everything rolls back")

    def test_a_rule_deleted_and_rolled_back_still_hides(self):
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        pk = rule.pk
        self.rolled_back(rule.delete, then=lambda: sees(self.reader, self.dataset))
        self.assertTrue(AccessRule.objects.filter(pk=pk).exists())
        self.assertFalse(sees(self.reader, self.dataset))
        with web_request(self.reader):
            self.assertFalse(sees(self.reader, self.dataset))

    def test_a_membership_removed_and_rolled_back_still_hides(self):
        deny(self.dataset, subject_kind="group", subject_group=self.group)
        self.reader.groups.add(self.group)
        self.rolled_back(lambda: self.reader.groups.remove(self.group),
                         then=lambda: sees(self.reader, self.dataset))
        self.assertFalse(sees(self.reader, self.dataset))

    def test_an_exception_added_and_rolled_back_lifts_nothing(self):
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        self.rolled_back(lambda: AccessRuleException.objects.create(
            rule=rule, subject_kind="user", subject_user=self.reader, reason="never committed"),
            then=lambda: sees(self.reader, self.dataset))
        self.assertFalse(sees(self.reader, self.dataset))

    def test_rules_recompiled_after_an_expiry_inside_a_rolled_back_write(self):
        # The request's rules were compiled before another rule expired; the first read after
        # the expiry recompiles them for everybody, here inside a write that rolls back.
        soon = timezone.now() + datetime.timedelta(minutes=5)
        deny(factories.dataset(), expires_at=soon)
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        later = soon + datetime.timedelta(minutes=1)

        def expire_and_read():
            with mock.patch.object(access.timezone, "now", return_value=later):
                sees(self.asker, self.dataset)
                sees(self.reader, self.dataset)

        self.rolled_back(rule.delete, then=expire_and_read)
        with mock.patch.object(access.timezone, "now", return_value=later):
            self.assertFalse(sees(self.reader, self.dataset))


REPEATED = {"HTTP_X_REQUEST_ID": "review-2-same-id"}


class RepeatedClientIdOnEveryPathTests(TestCase):
    """One client repeating one X-Request-ID on every read path, while a deny rule, a group
    membership or an exception changes between two requests: each path sees the change at once."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("review2-repeater", is_staff=True,
                               perms=("catalog.view_dataset", "permissions.view_accessrule"))
        cls.group = Group.objects.create(name="review2-repeaters")

    def setUp(self):
        access.forget_compiled_rules()
        self.client.force_login(self.reader)

    # Each path answers whether the reader sees the dataset.
    def api_list(self, dataset) -> bool:
        response = self.client.get("/api/v1/datasets/", {"page_size": 100}, **REPEATED)
        self.assertEqual(response.status_code, 200)
        return dataset.pk in {row["id"] for row in response.json()["results"]}

    def api_detail(self, dataset) -> bool:
        status = self.client.get(f"/api/v1/datasets/{dataset.pk}/", **REPEATED).status_code
        self.assertIn(status, (200, 404))
        return status == 200

    def search(self, dataset) -> bool:
        response = self.client.get("/api/v1/search/", {"q": dataset.name, "type": "dataset"}, **REPEATED)
        self.assertEqual(response.status_code, 200, response.content)
        return dataset.pk in {hit["id"] for hit in response.json()["results"] if hit["type"] == "dataset"}

    def admin_changelist(self, dataset) -> bool:
        response = self.client.get("/admin/catalog/dataset/", {"q": dataset.name}, **REPEATED)
        self.assertEqual(response.status_code, 200)
        return f"/admin/catalog/dataset/{dataset.pk}/change/" in response.content.decode()

    def admin_change(self, dataset) -> bool:
        status = self.client.get(f"/admin/catalog/dataset/{dataset.pk}/change/", **REPEATED).status_code
        self.assertIn(status, (200, 302))  # the admin redirects for an object that does not exist
        return status == 200

    def api_explain(self, dataset) -> bool:
        response = self.client.get("/api/v1/access/explain/", {"object": f"catalog.dataset:{dataset.pk}"},
                                   **REPEATED)
        self.assertIn(response.status_code, (200, 404))
        return response.status_code == 200 and response.json()["visible"]

    def admin_explain(self, dataset) -> bool:
        response = self.client.get("/admin/permissions/accessrule/explain/", {
            "user": self.reader.pk, "object_type": "catalog.dataset", "object_id": dataset.pk}, **REPEATED)
        self.assertEqual(response.status_code, 200)
        return "No such object." not in response.content.decode()

    def admin_autocomplete(self, dataset) -> bool:
        response = self.client.get("/admin/autocomplete/", {
            "app_label": "catalog", "model_name": "field", "field_name": "dataset", "term": dataset.name}, **REPEATED)
        self.assertEqual(response.status_code, 200, response.content)
        return str(dataset.pk) in {row["id"] for row in response.json()["results"]}

    PATHS = ("api_list", "api_detail", "search", "admin_changelist", "admin_change", "admin_autocomplete",
             "api_explain", "admin_explain")

    def changes(self):
        """(name, prepare(dataset), change(dataset)): after ``change`` the dataset is hidden."""
        def rule_exception(dataset):
            rule = deny(dataset)
            self.exception = AccessRuleException.objects.create(rule=rule, subject_kind="user",
                                                                subject_user=self.reader, reason="review 2")

        return [
            ("new deny rule", lambda d: None, lambda d: deny(d)),
            ("new group membership", lambda d: deny(d, subject_kind="group", subject_group=self.group),
             lambda d: self.reader.groups.add(self.group)),
            ("exception removed", rule_exception, lambda d: self.exception.delete()),
        ]

    def test_every_path_sees_every_change_on_the_next_request(self):
        checked = 0
        for name, prepare, change in self.changes():
            for path in self.PATHS:
                with self.subTest(change=name, path=path):
                    self.reader.groups.clear()
                    dataset = factories.dataset(name=f"Reviewed {factories.n():05d}")
                    prepare(dataset)
                    observe = getattr(self, path)
                    self.assertTrue(observe(dataset))
                    self.assertTrue(observe(dataset))  # twice: the second read is served from what was kept
                    change(dataset)
                    self.assertFalse(observe(dataset))
                    checked += 1
        self.assertEqual(checked, len(self.PATHS) * 3)


class OutsideRequestsTests(TestCase):
    """A Celery task and a management command (no request, no request cache) see every change at once."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("review2-task-reader")
        cls.dataset = factories.dataset()

    def setUp(self):
        access.forget_compiled_rules()

    def test_a_task_sees_a_rule_made_between_two_runs(self):
        from celery import shared_task

        @shared_task
        def count_visible(user_id: int, dataset_id: int) -> int:
            from django.contrib.auth import get_user_model

            with context.system_actor("review-2", reason="a task that reads as a user"):
                user = get_user_model().objects.get(pk=user_id)
                return Dataset.objects.visible_to(user).filter(pk=dataset_id).count()

        self.assertEqual(count_visible.delay(self.reader.pk, self.dataset.pk).get(), 1)
        rule = deny(self.dataset)
        self.assertEqual(count_visible.delay(self.reader.pk, self.dataset.pk).get(), 0)
        rule.delete()
        self.assertEqual(count_visible.delay(self.reader.pk, self.dataset.pk).get(), 1)

    def test_a_command_sees_a_rule_made_between_two_runs(self):
        from django.core.management import BaseCommand, call_command

        reader, dataset = self.reader, self.dataset

        class Command(BaseCommand):
            def handle(self, *args, **options):
                with context.system_actor("review-2", reason="a command that reads as a user"):
                    return str(Dataset.objects.visible_to(reader).filter(pk=dataset.pk).count())

        self.assertEqual(call_command(Command()), "1")
        deny(dataset, subject_kind="user", subject_user=reader)
        self.assertEqual(call_command(Command()), "0")


# --- audit records follow the transaction of the change they record ---------------------------


def records(obj_or_type, object_id=None) -> list[str]:
    from permissions.models import AuditRecord

    if object_id is None:
        obj_or_type, object_id = obj_or_type._meta.label_lower, obj_or_type.pk
    return list(AuditRecord.objects.filter(object_type=obj_or_type, object_id=str(object_id))
                .order_by("seq").values_list("action", flat=True))


class WritesRefusedAfterSavingTests(TestCase):
    """A write the API refuses after it saved (the row read back is no longer the writer's to
    see: 403) leaves neither the row nor a record of it."""

    @classmethod
    def setUpTestData(cls):
        cls.editor = make_user("review2-editor", perms=(
            "catalog.view_dataset", "catalog.add_dataset", "catalog.change_dataset"))
        cls.system = factories.system()
        cls.secret_tag = factories.tag()
        cls.dataset = factories.dataset(system=cls.system)
        AccessRule.objects.create(subject_kind="user", subject_user=cls.editor, target_kind="classification",
                                  classification="pii", reason="review 2")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.editor, target_kind="tag",
                                  target_tag=cls.secret_tag, reason="review 2")

    def setUp(self):
        access.forget_compiled_rules()
        self.client.force_login(self.editor)

    def test_a_create_refused_after_saving(self):
        from permissions.models import AuditRecord

        before = AuditRecord.objects.filter(object_type="catalog.dataset").count()
        response = self.client.post("/api/v1/datasets/", {
            "system": self.system.pk, "qualified_name": "review2.hidden", "name": "Review 2 hidden",
            "classification": "pii"}, content_type="application/json")
        self.assertEqual(response.status_code, 403, response.content)
        self.assertFalse(Dataset.objects.filter(qualified_name="review2.hidden").exists())
        self.assertEqual(AuditRecord.objects.filter(object_type="catalog.dataset").count(), before + 1)
        self.assertEqual(AuditRecord.objects.filter(object_type="catalog.dataset").latest("seq").action,
                         "access_denied")

    def test_an_update_refused_after_saving(self):
        response = self.client.patch(f"/api/v1/datasets/{self.dataset.pk}/", {"classification": "pii"},
                                     content_type="application/json")
        self.assertEqual(response.status_code, 403, response.content)
        self.dataset.refresh_from_db()
        self.assertNotEqual(self.dataset.classification, "pii")
        self.assertEqual(records(self.dataset), ["create", "access_denied"])

    def test_a_many_to_many_change_refused_after_saving(self):
        response = self.client.patch(f"/api/v1/datasets/{self.dataset.pk}/", {"tags": [self.secret_tag.pk]},
                                     content_type="application/json")
        self.assertIn(response.status_code, (400, 403), response.content)
        self.assertEqual(list(self.dataset.tags.all()), [])
        self.assertNotIn("update", records(self.dataset))


class BatchSavepointEdgeTests(TestCase):
    """``audit.batch()`` settles its merged records against the stored rows when savepoints
    were made in it (commit 9257a85); the cases its own tests did not try."""

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("review2-batcher")
        cls.tags = [factories.tag() for _ in range(3)]

    def batch(self):
        from permissions import audit
        from permissions.context import actor_context

        stack = contextlib.ExitStack()
        stack.enter_context(actor_context(self.user, reason="review 2"))
        stack.enter_context(audit.batch())
        return stack

    def latest(self, obj):
        from permissions.models import AuditRecord

        return AuditRecord.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).latest("seq")

    def test_tags_added_in_a_savepoint_rolled_back(self):
        dataset = factories.dataset(tags=[self.tags[0]])
        before = records(dataset)
        with self.batch():
            sid = transaction.savepoint()
            dataset.tags.add(self.tags[1])
            transaction.savepoint_rollback(sid)
        self.assertEqual(list(dataset.tags.values_list("pk", flat=True)), [self.tags[0].pk])
        self.assertEqual(records(dataset), before)

    def test_a_created_object_whose_later_changes_roll_back(self):
        with self.batch():
            dataset = factories.dataset(description="kept", tags=[self.tags[0]])
            with contextlib.suppress(RuntimeError), transaction.atomic():
                dataset.description = "rolled back"
                dataset.save()
                dataset.tags.add(self.tags[1], self.tags[2])
                raise RuntimeError
        self.assertEqual(records(dataset), ["create"])
        changes = self.latest(dataset).changes
        self.assertEqual(changes["description"], {"before": None, "after": "kept"})
        self.assertEqual(changes["tags"], {"before": None, "after": [self.tags[0].pk]})

    def test_a_cascading_delete_rolled_back(self):
        dataset = factories.dataset()
        field = factories.field(dataset=dataset)
        with self.batch():
            sid = transaction.savepoint()
            Dataset.objects.get(pk=dataset.pk).delete()
            transaction.savepoint_rollback(sid)
        self.assertTrue(Dataset.objects.filter(pk=dataset.pk).exists())
        self.assertEqual(records(dataset), ["create"])
        self.assertEqual(records(field), ["create"])

    def test_a_cascading_delete_that_stays(self):
        dataset = factories.dataset()
        field = factories.field(dataset=dataset)
        with self.batch():
            with transaction.atomic():
                dataset.description = "about to go"
                dataset.save()
            Dataset.objects.get(pk=dataset.pk).delete()
        self.assertEqual(records("catalog.dataset", dataset.pk), ["create", "delete"])
        self.assertEqual(records("catalog.field", field.pk), ["create", "delete"])

    def test_a_password_changed_in_a_savepoint_rolled_back(self):
        from django.contrib.auth import get_user_model

        person = make_user("review2-password")
        stored = get_user_model().objects.get(pk=person.pk).password
        with self.batch():
            sid = transaction.savepoint()
            person.set_password("another-horse-battery-staple")
            person.save()
            transaction.savepoint_rollback(sid)
        self.assertEqual(get_user_model().objects.get(pk=person.pk).password, stored)
        self.assertEqual(records(person), ["create"])

    def test_a_person_deleted_in_a_savepoint_rolled_back(self):
        person = make_user("review2-deleted")
        with self.batch():
            sid = transaction.savepoint()
            type(person).objects.get(pk=person.pk).delete()
            transaction.savepoint_rollback(sid)
        self.assertEqual(records(person), ["create"])

    def test_a_password_changed_that_stays(self):
        person = make_user("review2-password-kept")
        with self.batch():
            with transaction.atomic():
                person.first_name = "Kept"
                person.save()
            person.set_password("another-horse-battery-staple")
            person.save()
        self.assertEqual(records(person), ["create", "update"])
        changes = self.latest(person).changes
        self.assertEqual(changes["password"], {"before": "(hidden)", "after": "(hidden)"})
        self.assertEqual(changes["first_name"]["after"], "Kept")

    def test_an_update_that_a_savepoint_put_back_to_the_start(self):
        tag = factories.tag(name="review2 start")
        with self.batch():
            tag.name = "review2 middle"
            tag.save()
            with transaction.atomic():
                tag.name = "review2 start"
                tag.save()
        self.assertEqual(records(tag), ["create"])

    def test_work_after_commit_is_recorded_once_under_its_actor(self):
        from permissions.context import actor_context
        from permissions.models import AuditRecord

        # A request's callbacks run when its outermost transaction commits, still inside the request.
        with actor_context(self.user, reason="review 2"), self.captureOnCommitCallbacks(execute=True), \
                self.batch():
            tag = factories.tag()
            transaction.on_commit(lambda: factories.tag(name=f"{tag.name} after"))
        after = Tag.objects.get(name=f"{tag.name} after")
        self.assertEqual(records(after), ["create"])
        self.assertEqual(AuditRecord.objects.get(object_type="catalog.tag", object_id=str(after.pk)).actor_name,
                         "review2-batcher")


class ReverseManyToManyTests(TestCase):
    """A many-to-many change made from the other side (``group.user_set.add(user)``,
    ``tag.datasets.add(dataset)``) changes the same rows as one made from the field's side: it
    is recorded the same way, on the object that holds the field."""

    @classmethod
    def setUpTestData(cls):
        cls.person = make_user("review2-member")
        cls.group = Group.objects.create(name="review2-members")

    def field_changes(self, obj, name) -> list:
        from permissions.models import AuditRecord

        return [r.changes[name] for r in AuditRecord.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("seq") if name in r.changes]

    def test_a_membership_added_and_removed_from_the_group(self):
        self.group.user_set.add(self.person)
        self.group.user_set.remove(self.person)
        self.assertEqual(self.field_changes(self.person, "groups"), [
            {"before": [], "after": [self.group.pk]}, {"before": [self.group.pk], "after": []}])

    def test_a_group_cleared(self):
        self.person.groups.add(self.group)
        self.group.user_set.clear()
        self.assertEqual(self.field_changes(self.person, "groups")[-1], {"before": [self.group.pk], "after": []})

    def test_a_membership_added_from_the_group_in_a_savepoint_rolled_back(self):
        from permissions import audit

        with context.actor_context(self.person, reason="review 2"), audit.batch():
            self.group.user_set.add(self.person)  # stays
            sid = transaction.savepoint()
            other = Group.objects.create(name="review2-rolled-back")
            other.user_set.add(self.person)
            transaction.savepoint_rollback(sid)
        self.assertEqual(self.field_changes(self.person, "groups"), [{"before": [], "after": [self.group.pk]}])

    def test_a_tag_given_to_a_dataset_from_the_tag(self):
        dataset, tag = factories.dataset(), factories.tag()
        tag.datasets.add(dataset)
        self.assertEqual(self.field_changes(dataset, "tags"), [{"before": [], "after": [tag.pk]}])


# --- concurrency on PostgreSQL: threads with connections of their own -------------------------


def _threads(count: int, work) -> list[BaseException]:
    import threading

    from django.db import connections

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.mark.django_db(transaction=True)
def test_writers_that_roll_back_and_events_outside_transactions_keep_one_chain():
    """Eight writers on PostgreSQL, each mixing committed writes, writes rolled back after their
    record was appended, batches with a savepoint rolled back, and events appended outside any
    transaction: the chain has no gap and verifies, and exactly the writes that stayed are in it."""
    from django.db import connection

    from permissions import audit
    from permissions.models import AuditAction, AuditRecord

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    rounds = 12
    before = AuditRecord.objects.count()

    def work(index: int) -> None:
        with context.system_actor(f"review2-writer-{index}", reason="concurrency review"):
            for item in range(rounds):
                slug = f"rv2-{index}-{item}"
                Tag.objects.create(name=f"kept {slug}", slug=f"kept-{slug}")  # 1 record
                with contextlib.suppress(RuntimeError), transaction.atomic():
                    Tag.objects.create(name=f"gone {slug}", slug=f"gone-{slug}")
                    raise RuntimeError  # appended, then rolled back: no record, no gap
                with audit.batch():  # 1 record (the kept one)
                    Tag.objects.create(name=f"batch {slug}", slug=f"batch-{slug}")
                    sid = transaction.savepoint()
                    Tag.objects.create(name=f"undone {slug}", slug=f"undone-{slug}")
                    transaction.savepoint_rollback(sid)
                audit.record_event(AuditAction.LOGIN, object_type="review2", object_id=slug)  # 1 record, alone

    assert _threads(8, work) == []
    result = audit.verify_chain()
    assert result.ok, result
    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == before + 8 * rounds * 3
    assert not Tag.objects.filter(slug__startswith="gone-").exists()
    assert not Tag.objects.filter(slug__startswith="undone-").exists()
    kept = AuditRecord.objects.filter(actor_name__startswith="system:review2-writer-")
    assert kept.filter(action="create").count() == 8 * rounds * 2
    assert not kept.filter(object_repr__startswith="gone ").exists()
    assert not kept.filter(object_repr__startswith="undone ").exists()


@pytest.mark.django_db(transaction=True)
def test_eight_readers_agree_with_the_uncached_path_while_rules_change():
    """Eight readers on PostgreSQL read through the kept rules while a writer changes rules and
    memberships, some in requests that roll back: whenever the generation did not move during a
    reader's read, what it saw equals the plain, uncached computation."""
    import random

    from django.db import connection

    from permissions import generation

    if connection.vendor != "postgresql":
        pytest.skip("threads need PostgreSQL's shared test database")
    with context.system_actor("tests", reason="setup"):
        readers = [make_user(f"rv2-thread-reader-{i}") for i in range(8)]
        groups = [Group.objects.create(name=f"rv2-thread-group-{i}") for i in range(3)]
        datasets = [factories.dataset() for _ in range(12)]
    ids = [d.pk for d in datasets]
    stop = []
    compared, wrong = [], []

    def plain(user) -> set[int]:
        rules = access.rules_applying_to(user, subjects=access._read_subjects(user))
        return set(Dataset.objects.filter(pk__in=ids).exclude(access.hidden_condition(Dataset, rules))
                   .values_list("pk", flat=True))

    def read(index: int) -> None:
        user = readers[index]
        while not stop:
            with web_request(user):
                token = generation.current_token()
                seen = set(Dataset.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))
                seen_again = set(Dataset.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))
            expected = plain(user)
            if generation.current_token() == token:
                compared.append(1)
                if not (seen == seen_again == expected):
                    wrong.append((user.pk, seen, seen_again, expected))

    def write(rng: random.Random) -> None:
        with context.system_actor("rv2-rule-writer", reason="concurrency review"):
            for _step in range(60):
                choice = rng.random()
                dataset, reader, group = rng.choice(datasets), rng.choice(readers), rng.choice(groups)
                if choice < 0.3:
                    if rng.random() < 0.5:
                        deny(dataset, subject_kind="user", subject_user=reader)
                    else:
                        deny(dataset, subject_kind="group", subject_group=group)
                elif choice < 0.5:
                    rule = AccessRule.objects.order_by("?").first()
                    if rule is not None:
                        rule.delete()
                elif choice < 0.7:
                    reader.groups.add(group) if rng.random() < 0.5 else reader.groups.remove(group)
                else:  # a request that changes rules, reads for others, and rolls back
                    with web_request(reader):
                        sees(reader, dataset)
                        with contextlib.suppress(RuntimeError), transaction.atomic():
                            AccessRule.objects.all().delete()
                            for other in readers:
                                sees(other, dataset)
                            raise RuntimeError

    def work(index: int) -> None:
        if index == 8:
            try:
                write(random.Random(13))
            finally:
                stop.append(True)
        else:
            read(index)

    access.forget_compiled_rules()
    try:
        errors = _threads(9, work)
    finally:
        access.forget_compiled_rules()
    assert errors == []
    assert compared, "no read ran without the generation moving"
    assert wrong == []


def admin_form_data(response) -> dict:
    """The change form's data as the browser would post it back unchanged."""
    data = {}

    def add(form):
        for bound in form:
            value = bound.value()
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                data[bound.html_name] = [str(v) for v in value]
            elif isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            else:
                data[bound.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


class AdminWritesTests(TestCase):
    """A save in the admin is one write: one record per object, as through the API."""

    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth import get_user_model

        cls.admin = get_user_model().objects.create_superuser("review2-admin", "ra@example.com", "pw-review-2")
        cls.tag = factories.tag()
        cls.dataset = factories.dataset()
        factories.field(dataset=cls.dataset)

    def test_a_change_with_tags_is_one_record(self):
        self.client.force_login(self.admin)
        url = f"/admin/catalog/dataset/{self.dataset.pk}/change/"
        data = admin_form_data(self.client.get(url))
        data.update(description="changed in the admin", tags=[str(self.tag.pk)])
        before = records(self.dataset)
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.context and response.context["adminform"].form.errors)
        self.dataset.refresh_from_db()
        self.assertEqual(self.dataset.description, "changed in the admin")
        self.assertEqual(records(self.dataset), [*before, "update"])
