"""A hostile tester's checks of what issue 13 says is fixed: the caller's request id scopes
nothing and is validated, and audit records follow the savepoints of the change they record."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import TestCase
from rest_framework.test import APIClient

from catalog.models import Tag
from permissions import access, audit, services
from permissions.context import actor_context
from permissions.models import AccessRule, AuditRecord
from tests import factories
from tests.mixins import make_user

REPEATED = {"HTTP_X_REQUEST_ID": "same-id-every-time"}


def deny(obj) -> AccessRule:
    return AccessRule.objects.create(subject_kind="everyone", target_kind="object",
                                     target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk,
                                     reason="review")


class RepeatedClientIdTests(TestCase):
    """Token and session callers repeating one X-Request-ID see a new rule on their next request."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("review-reader")
        cls.dataset = factories.dataset()

    def setUp(self):
        access.forget_compiled_rules()

    def check(self, client: APIClient) -> None:
        url = f"/api/v1/datasets/{self.dataset.pk}/"
        self.assertEqual(client.get(url, **REPEATED).status_code, 200)
        deny(self.dataset)
        self.assertEqual(client.get(url, **REPEATED).status_code, 404)

    def test_bearer_token(self):
        _, raw = services.create_token(user=self.reader, actor=self.reader, name="review")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        self.check(client)

    def test_session(self):
        client = APIClient()
        client.force_login(self.reader)
        self.check(client)


class ClientRequestIdValidationTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.editor = make_user("review-editor", perms=("catalog.add_tag", "catalog.change_tag"))

    def create_tag(self, client_id: str):
        client = APIClient()
        client.force_authenticate(self.editor)
        slug = f"r{factories.n()}"
        response = client.post("/api/v1/tags/", {"name": slug, "slug": slug}, format="json",
                               HTTP_X_REQUEST_ID=client_id)
        return response, slug

    def test_line_breaks_and_nul_are_dropped_not_echoed(self):
        # ``$`` in a pattern matches before a final newline: "abc\n" passed the check, was
        # recorded as the client's id, and echoing it raised BadHeaderError (a 500).
        for bad in ("abc\n", "abc\r\n", "abc\nSet-Cookie: x=1", "abc\x00", "\n"):
            with self.subTest(bad=bad):
                response, slug = self.create_tag(bad)
                self.assertEqual(response.status_code, 201, response.content)
                self.assertNotIn("\n", response["X-Request-ID"])
                self.assertEqual(response["X-Request-ID"], response["X-Accord-Request-ID"])
                tag = Tag.objects.get(slug=slug)
                record = AuditRecord.objects.get(object_type="catalog.tag", object_id=str(tag.pk))
                self.assertEqual(record.client_request_id, "")

    def test_sixty_four_characters_are_kept(self):
        response, slug = self.create_tag("a" * 64)
        self.assertEqual(response["X-Request-ID"], "a" * 64)


class BatchSavepointTests(TestCase):
    """``audit.batch()`` merges the changes made in its own scope, which it reads from the
    atomic blocks' savepoints; Django's public manual savepoints are invisible to it."""

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("review-batcher")

    def records_for(self, tag_slug: str, pk) -> list[str]:
        return list(AuditRecord.objects.filter(object_type="catalog.tag", object_id=str(pk))
                    .order_by("seq").values_list("action", flat=True))

    def test_an_atomic_savepoint_rolled_back_leaves_no_record(self):
        with actor_context(self.user, reason="review"), audit.batch():
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name="gone", slug="gone")
                    raise RuntimeError
            except RuntimeError:
                pass
        self.assertFalse(Tag.objects.filter(slug="gone").exists())
        self.assertEqual(self.records_for("gone", tag.pk), [])

    def test_a_manual_savepoint_rolled_back_leaves_no_record(self):
        with actor_context(self.user, reason="review"), audit.batch():
            sid = transaction.savepoint()
            tag = Tag.objects.create(name="manual", slug="manual")
            transaction.savepoint_rollback(sid)
        self.assertFalse(Tag.objects.filter(slug="manual").exists())
        self.assertEqual(self.records_for("manual", tag.pk), [])

    def test_history_starts_with_the_create(self):
        with actor_context(self.user, reason="review"), audit.batch():
            tag = Tag.objects.create(name="order", slug="order")
            with transaction.atomic():
                tag.name = "order renamed"
                tag.save()
        self.assertEqual(self.records_for("order", tag.pk), ["create"])
        record = AuditRecord.objects.get(object_type="catalog.tag", object_id=str(tag.pk))
        self.assertEqual(record.changes["name"], {"before": None, "after": "order renamed"})

    def existing_tag(self, slug: str) -> Tag:
        with actor_context(self.user, reason="setup"):
            return Tag.objects.create(name=slug, slug=slug)

    def test_an_update_rolled_back_to_a_savepoint_is_not_recorded(self):
        tag = self.existing_tag("kept")
        with actor_context(self.user, reason="review"), audit.batch():
            sid = transaction.savepoint()
            tag.name = "never"
            tag.save()
            transaction.savepoint_rollback(sid)
        self.assertEqual(Tag.objects.get(pk=tag.pk).name, "kept")
        self.assertEqual(self.records_for("kept", tag.pk), ["create"])

    def test_only_what_stayed_changed_is_recorded(self):
        tag = self.existing_tag("part")
        with actor_context(self.user, reason="review"), audit.batch():
            tag.description = "stays"
            tag.save()
            try:
                with transaction.atomic():
                    tag.name = "rolled back"
                    tag.save()
                    raise RuntimeError
            except RuntimeError:
                pass
        self.assertEqual(self.records_for("part", tag.pk), ["create", "update"])
        record = AuditRecord.objects.filter(object_type="catalog.tag", object_id=str(tag.pk)).latest("seq")
        self.assertEqual(set(record.changes), {"description"})
        self.assertEqual(record.changes["description"]["after"], "stays")

    def test_a_delete_rolled_back_is_not_recorded(self):
        tag = self.existing_tag("survivor")
        with actor_context(self.user, reason="review"), audit.batch():
            sid = transaction.savepoint()
            Tag.objects.get(pk=tag.pk).delete()
            transaction.savepoint_rollback(sid)
        self.assertTrue(Tag.objects.filter(pk=tag.pk).exists())
        self.assertEqual(self.records_for("survivor", tag.pk), ["create"])

    def test_a_create_whose_delete_rolled_back_is_recorded(self):
        with actor_context(self.user, reason="review"), audit.batch():
            tag = Tag.objects.create(name="phoenix", slug="phoenix")
            sid = transaction.savepoint()
            tag.delete()
            transaction.savepoint_rollback(sid)
        self.assertTrue(Tag.objects.filter(slug="phoenix").exists())
        pk = Tag.objects.get(slug="phoenix").pk
        self.assertEqual(self.records_for("phoenix", pk), ["create"])

    def test_created_and_deleted_in_one_batch_leaves_nothing(self):
        with actor_context(self.user, reason="review"), audit.batch():
            tag = Tag.objects.create(name="brief", slug="brief")
            pk = tag.pk
            with transaction.atomic():
                tag.delete()
        self.assertEqual(self.records_for("brief", pk), [])

    def test_a_deleted_object_is_recorded_once_as_deleted(self):
        tag = self.existing_tag("doomed")
        with actor_context(self.user, reason="review"), audit.batch():
            with transaction.atomic():
                tag.name = "doomed soon"
                tag.save()
            Tag.objects.get(pk=tag.pk).delete()
        self.assertEqual(self.records_for("doomed", tag.pk), ["create", "delete"])


class TokenThrottleTests(TestCase):
    """A token's prefix is not secret (listed with the token, written in token_rejected records)."""

    @classmethod
    def setUpTestData(cls):
        cls.owner = make_user("review-token-owner")

    # Garbage sent by anyone behind the same address with a valid token's (public) prefix must
    # not lock the valid token out: the token is looked up before the throttle is asked.
    def test_others_garbage_with_my_prefix_does_not_refuse_my_token(self):
        from django.conf import settings

        token, raw = services.create_token(user=self.owner, actor=self.owner, name="victim")
        attacker = APIClient()
        attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {token.prefix}{'x' * 40}")
        for _ in range(settings.ACCORD_AUTH_FAILURE_LIMIT + 1):
            attacker.get("/api/v1/datasets/")
        victim = APIClient()
        victim.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        self.assertEqual(victim.get("/api/v1/datasets/").status_code, 200)


class ForwardedForTests(TestCase):
    def ip(self, forwarded: str, remote: str = "10.0.0.5") -> str | None:
        from django.test import RequestFactory

        from permissions.clientip import client_ip

        return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded))

    def test_without_trusted_proxies_the_header_is_ignored(self):
        with self.settings(ACCORD_TRUSTED_PROXIES=[]):
            self.assertEqual(self.ip("203.0.113.9"), "10.0.0.5")

    def test_behind_a_trusted_proxy_only_the_hop_it_saw_counts(self):
        with self.settings(ACCORD_TRUSTED_PROXIES=["10.0.0.0/8"]):
            self.assertEqual(self.ip("1.2.3.4, 198.51.100.7"), "198.51.100.7")  # left part is the client's
            self.assertEqual(self.ip("1.2.3.4, garbage, 10.0.0.9"), "10.0.0.9")
            self.assertEqual(self.ip("198.51.100.7", remote="192.0.2.1"), "192.0.2.1")  # untrusted sender
