"""API tokens (hashed, shown once, expiring, revocable, audited, throttled) and
optimistic concurrency with ETag / If-Match."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Tag
from permissions import services
from permissions.models import ApiToken, AuditRecord
from tests import factories
from tests.mixins import PASSWORD, make_user

User = get_user_model()
TOKENS = "/api/v1/tokens/"


def head_seq() -> int:
    return AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def records_since(seq: int) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(seq__gt=seq).order_by("seq"))


def record_text(record: AuditRecord) -> str:
    values = {f.attname: getattr(record, f.attname) for f in AuditRecord._meta.concrete_fields}
    return json.dumps(values, default=str)


class captured_logs(logging.Handler):  # noqa: N801 - used as a context manager
    """Every log record of every logger, at DEBUG, while the block runs (the test settings log WARNING and
    up). Every SQL statement is logged too, with its parameters (django.db.backends, as with DEBUG on)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.records.append(record)

    def text(self, *, leaving_out: tuple[str, ...] = ()) -> str:
        return "\n".join(self.format(record) for record in self.records
                         if not record.name.startswith(leaving_out))

    def __enter__(self):
        root = logging.getLogger()
        self._level = root.level
        self._loggers = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
                         if isinstance(logger, logging.Logger)}
        for name in self._loggers:
            logging.getLogger(name).setLevel(logging.DEBUG)
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        self._isolated = [logging.getLogger(name) for name in self._loggers if not logging.getLogger(name).propagate]
        for logger in self._isolated:
            logger.addHandler(self)
        self._queries = CaptureQueriesContext(connection)
        self._queries.__enter__()
        return self

    def __exit__(self, *exc):
        self._queries.__exit__(*exc)
        root = logging.getLogger()
        root.removeHandler(self)
        for logger in self._isolated:
            logger.removeHandler(self)
        root.setLevel(self._level)
        for name, level in self._loggers.items():
            logging.getLogger(name).setLevel(level)


def sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def bearer(raw: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


class TokenTestBase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.alice = make_user("alice", perms=("catalog.add_tag", "catalog.change_tag"))
        cls.bob = make_user("bob")
        cls.root = User.objects.create_superuser("token-root", "root@example.com", PASSWORD)

    def create_via_api(self, user=None, status=201, **body):
        body.setdefault("name", f"token {factories.n()}")
        response = as_user(user or self.alice).post(TOKENS, body, format="json")
        self.assertEqual(response.status_code, status, response.content)
        return response

    def make_token(self, user=None, **kw) -> tuple[ApiToken, str]:
        kw.setdefault("name", f"token {factories.n()}")
        return services.create_token(user=user or self.alice, actor=user or self.alice, **kw)


class TestTokenLifecycle(TokenTestBase):
    def test_raw_token_is_returned_once_and_only_its_hash_is_stored(self):
        response = self.create_via_api(name="dbt nightly")
        body = response.json()
        raw = body["token"]
        self.assertTrue(raw.startswith("accord_"), raw)
        self.assertGreaterEqual(len(raw), len("accord_") + 32)
        self.assertEqual(body["prefix"], raw[: len(body["prefix"])])
        self.assertLess(len(body["prefix"]), len(raw))
        self.assertEqual(body["name"], "dbt nightly")
        self.assertEqual(body["user"]["username"], "alice")
        self.assertTrue(body["is_active"])
        self.assertIsNotNone(body["expires_at"])  # a default expiry, not forever

        token = ApiToken.objects.get(pk=body["id"])
        self.assertEqual(token.key_hash, sha256(raw))
        stored = json.dumps(list(ApiToken.objects.filter(pk=token.pk).values()), default=str)
        self.assertNotIn(raw, stored)
        self.assertNotIn(raw[len(body["prefix"]):], stored)

        client = as_user(self.alice)
        for url in (TOKENS, f"{TOKENS}{token.pk}/"):
            with self.subTest(url=url):
                shown = client.get(url)
                self.assertEqual(shown.status_code, 200)
                self.assertNotIn(raw, shown.content.decode())
                self.assertNotIn(token.key_hash, shown.content.decode())
                self.assertIn(body["prefix"], shown.content.decode())
        detail = client.get(f"{TOKENS}{token.pk}/").json()
        self.assertNotIn("token", detail)
        self.assertNotIn("key_hash", detail)

    def test_a_token_asked_to_never_expire_gets_the_longest_lifetime(self):
        body = self.create_via_api(never_expires=True).json()
        expires = datetime.datetime.fromisoformat(body["expires_at"])
        self.assertAlmostEqual((expires - timezone.now()).total_seconds(), 365 * 86400, delta=60)

    def test_the_api_answer_holding_the_token_is_not_cached_nor_logged(self):
        with captured_logs() as logs:
            response = self.create_via_api(name="logged?")
        raw = response.json()["token"]
        self.assertEqual(response["Cache-Control"], "no-store")
        self.assertIn("INSERT INTO", logs.text())  # the capture works: the statements are in it
        self.assertNotIn(raw, logs.text())
        self.assertNotIn(raw[len(response.json()["prefix"]):], logs.text())

    def test_bearer_auth_works_and_updates_last_used(self):
        token, raw = self.make_token()
        self.assertIsNone(token.last_used_at)
        response = bearer(raw).get("/api/v1/tags/")
        self.assertEqual(response.status_code, 200, response.content)
        token.refresh_from_db()
        self.assertIsNotNone(token.last_used_at)
        self.assertLess(timezone.now() - token.last_used_at, datetime.timedelta(minutes=1))

    def test_bearer_write_is_audited_as_the_tokens_user(self):
        _, raw = self.make_token()
        before = head_seq()
        response = bearer(raw).post("/api/v1/tags/", {"name": "via token", "slug": "via-token"}, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        [record] = records_since(before)
        self.assertEqual((record.action, record.actor_name, record.actor_id), ("create", "alice", self.alice.pk))

    def test_owner_revokes_own_token(self):
        token, raw = self.make_token()
        response = as_user(self.alice).delete(f"{TOKENS}{token.pk}/")
        self.assertEqual(response.status_code, 204, response.content)
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 401)

    def test_revoke_keeps_the_row(self):
        token, raw = self.make_token()
        response = as_user(self.root).delete(f"{TOKENS}{token.pk}/")
        self.assertEqual(response.status_code, 204)
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        self.assertFalse(token.is_active)
        detail = as_user(self.alice).get(f"{TOKENS}{token.pk}/").json()
        self.assertIsNotNone(detail["revoked_at"])
        self.assertFalse(detail["is_active"])
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 401)

    def test_same_name_allowed_again_after_revocation(self):
        self.create_via_api(name="ci")
        self.create_via_api(name="ci", status=400)
        services.revoke_token(ApiToken.objects.get(user=self.alice, name="ci"), actor=self.alice)
        self.create_via_api(name="ci")

    def test_two_active_tokens_with_the_same_name_are_refused(self):
        self.create_via_api(name="airflow")
        response = self.create_via_api(name="airflow", status=400)
        self.assertIn("name", response.json()["errors"])
        self.assertEqual(ApiToken.objects.filter(user=self.alice, name="airflow").count(), 1)
        self.create_via_api(user=self.bob, name="airflow")  # another person's token may share the name

    def test_expiry_in_the_past_is_refused(self):
        past = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
        response = self.create_via_api(name="old", expires_at=past, status=400)
        self.assertIn("expires_at", response.json()["errors"])
        self.assertFalse(ApiToken.objects.filter(name="old").exists())

    def test_anonymous_cannot_create_tokens(self):
        response = APIClient().post(TOKENS, {"name": "anon"}, format="json")
        self.assertEqual(response.status_code, 401)

    def test_a_token_cannot_be_changed(self):
        token, _ = self.make_token(name="fixed")
        response = as_user(self.alice).patch(f"{TOKENS}{token.pk}/", {"name": "other"}, format="json")
        self.assertEqual(response.status_code, 405)
        token.refresh_from_db()
        self.assertEqual(token.name, "fixed")


class TestTokenLifetime(TokenTestBase):
    """No token lives longer than ACCORD_TOKEN_MAX_LIFETIME_DAYS (365 by default) after its creation."""

    def expiry_in(self, days: float) -> str:
        return (timezone.now() + datetime.timedelta(days=days)).isoformat()

    def test_an_expiry_beyond_the_maximum_is_a_400_naming_the_limit(self):
        response = self.create_via_api(name="forever-ish", expires_at=self.expiry_in(366), status=400)
        [message] = response.json()["errors"]["expires_at"]
        self.assertIn("at most 365 days", message)
        self.assertIn("ACCORD_TOKEN_MAX_LIFETIME_DAYS", message)
        self.assertFalse(ApiToken.objects.filter(name="forever-ish").exists())
        body = self.create_via_api(name="a year", expires_at=self.expiry_in(364)).json()
        self.assertGreater(datetime.datetime.fromisoformat(body["expires_at"]), timezone.now())

    def test_without_an_expiry_a_token_gets_the_default_and_never_more_than_the_maximum(self):
        body = self.create_via_api().json()
        expires = datetime.datetime.fromisoformat(body["expires_at"])
        self.assertAlmostEqual((expires - timezone.now()).total_seconds(), 90 * 86400, delta=60)
        with override_settings(ACCORD_TOKEN_MAX_LIFETIME_DAYS=30):
            for extra in ({}, {"never_expires": True}, {"expires_at": None}):
                with self.subTest(**extra):
                    body = self.create_via_api(**extra).json()
                    expires = datetime.datetime.fromisoformat(body["expires_at"])
                    self.assertAlmostEqual((expires - timezone.now()).total_seconds(), 30 * 86400, delta=60)
            response = self.create_via_api(expires_at=self.expiry_in(31), status=400)
            self.assertIn("at most 30 days", response.json()["errors"]["expires_at"][0])

    def test_the_service_refuses_a_longer_expiry_too(self):
        with self.assertRaises(ValidationError) as refused:
            self.make_token(expires_at=timezone.now() + datetime.timedelta(days=400))
        self.assertIn("ACCORD_TOKEN_MAX_LIFETIME_DAYS", refused.exception.messages[0])
        self.assertFalse(ApiToken.objects.exists())

    def test_an_expired_token_does_not_authenticate(self):
        token, raw = self.make_token()
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 200)
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 401)

    def test_a_token_older_than_the_maximum_does_not_authenticate_whatever_its_expiry(self):
        """Tokens made before the limit existed (no expiry) or while it was longer stop at the limit too."""
        legacy, legacy_raw = self.make_token(name="legacy")
        long_lived, long_raw = self.make_token(name="long-lived")
        created = timezone.now() - datetime.timedelta(days=366)
        ApiToken.objects.filter(pk=legacy.pk).update(created_at=created, expires_at=None)
        ApiToken.objects.filter(pk=long_lived.pk).update(created_at=created,
                                                          expires_at=timezone.now() + datetime.timedelta(days=30))
        for token, raw in ((legacy, legacy_raw), (long_lived, long_raw)):
            with self.subTest(token=token.name):
                self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 401)
                token.refresh_from_db()
                self.assertFalse(token.is_active)
                self.assertFalse(as_user(self.alice).get(f"{TOKENS}{token.pk}/").json()["is_active"])
        young, young_raw = self.make_token(name="young")
        ApiToken.objects.filter(pk=young.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))
        self.assertEqual(bearer(young_raw).get("/api/v1/tags/").status_code, 200)
        with override_settings(ACCORD_TOKEN_MAX_LIFETIME_DAYS=1):  # lowering the limit shortens existing tokens
            self.assertEqual(bearer(young_raw).get("/api/v1/tags/").status_code, 401)


class TestTokenVisibility(TokenTestBase):
    def test_users_see_their_own_tokens_superusers_all(self):
        alices, _ = self.make_token(user=self.alice)
        bobs, _ = self.make_token(user=self.bob)

        def ids(user):
            response = as_user(user).get(TOKENS)
            self.assertEqual(response.status_code, 200)
            return {row["id"] for row in response.json()["results"]}

        self.assertEqual(ids(self.alice), {alices.pk})
        self.assertEqual(ids(self.bob), {bobs.pk})
        self.assertEqual(ids(self.root), {alices.pk, bobs.pk})
        self.assertEqual(as_user(self.bob).get(f"{TOKENS}{alices.pk}/").status_code, 404)
        self.assertEqual(as_user(self.bob).delete(f"{TOKENS}{alices.pk}/").status_code, 404)
        alices.refresh_from_db()
        self.assertIsNone(alices.revoked_at)
        self.assertEqual(as_user(self.root).delete(f"{TOKENS}{alices.pk}/").status_code, 204)


class TestRejectedTokens(TokenTestBase):
    def assert_rejected(self, header_value: str, *, secret: str | None = None, client_ip="127.0.0.1"):
        before = head_seq()
        client = APIClient(REMOTE_ADDR=client_ip)
        client.credentials(HTTP_AUTHORIZATION=header_value)
        response = client.get("/api/v1/tags/")
        self.assertEqual(response.status_code, 401, response.content)
        self.assertTrue(response["WWW-Authenticate"].startswith("Bearer"), response["WWW-Authenticate"])
        self.assertNotIn("results", response.json())
        records = records_since(before)
        rejected = [r for r in records if r.action == "token_rejected"]
        self.assertEqual(len(rejected), 1, [str(r) for r in records])
        record = rejected[0]
        self.assertEqual(record.client_ip, client_ip)
        self.assertEqual(record.request_id, response["X-Request-ID"])
        if secret is not None:
            for text in map(record_text, records):
                self.assertNotIn(secret, text)
                self.assertNotIn(sha256(secret), text)
                if len(secret) > 20:
                    self.assertNotIn(secret[13:], text)  # the part after the shown prefix
        return record

    def test_expired_token(self):
        token, raw = self.make_token()
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        record = self.assert_rejected(f"Bearer {raw}", secret=raw)
        self.assertEqual(record.details.get("prefix"), token.prefix)

    def test_revoked_token(self):
        token, raw = self.make_token()
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 200)
        services.revoke_token(token, actor=self.alice)
        self.assert_rejected(f"Bearer {raw}", secret=raw)

    def test_token_of_an_inactive_user(self):
        carol = make_user("carol")
        _, raw = self.make_token(user=carol)
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 200)
        carol.is_active = False
        carol.save()
        self.assert_rejected(f"Bearer {raw}", secret=raw)

    def test_garbage(self):
        for value in ("Bearer nonsense", "Bearer accord_notarealtokenatall", f"Bearer accord_{'x' * 43}"):
            with self.subTest(value=value):
                self.assert_rejected(value, secret=value.split()[1])

    def test_malformed_header_is_401(self):
        for value in ("Bearer", "Bearer two parts"):
            with self.subTest(value=value):
                response = APIClient(HTTP_AUTHORIZATION=value).get("/api/v1/tags/")
                self.assertEqual(response.status_code, 401, response.content)
                self.assertTrue(response["WWW-Authenticate"].startswith("Bearer"))

    def test_no_credentials_is_401_with_challenge(self):
        response = APIClient().get("/api/v1/tags/")
        self.assertEqual(response.status_code, 401)
        self.assertTrue(response["WWW-Authenticate"].startswith("Bearer"))


@override_settings(AXES_FAILURE_LIMIT=3)
class TestFailureThrottling(TokenTestBase):
    """Failures are counted per (credential, client address): a valid credential is never refused
    because somebody else failed, from the same address or any other."""

    def get(self, value: str, address: str, **extra):
        client = APIClient(REMOTE_ADDR=address, **extra)
        client.credentials(HTTP_AUTHORIZATION=value)
        return client.get("/api/v1/tags/")

    def wrong_token_like(self, raw: str) -> str:
        """A wrong token with the same (public) prefix as ``raw``."""
        return raw[: len("accord_") + 6] + "x" * 40

    def test_a_token_prefix_that_keeps_failing_is_refused_from_that_address_only(self):
        token, raw = self.make_token()
        wrong = self.wrong_token_like(raw)
        for _ in range(3):
            self.assertEqual(self.get(f"Bearer {wrong}", "10.1.2.3").status_code, 401)
        response = self.get(f"Bearer {wrong}", "10.1.2.3")
        self.assertEqual(response.status_code, 429, response.content)
        self.assertIn("Retry-After", response)
        self.assertIn("detail", response.json())
        # The prefix is not secret: the valid token itself is never refused for those failures,
        # and the failing one is not refused from another address.
        self.assertEqual(self.get(f"Bearer {raw}", "10.1.2.3").status_code, 200)
        self.assertEqual(self.get(f"Bearer {wrong}", "10.9.9.9").status_code, 401)
        self.assertEqual(self.get(f"Bearer {raw}", "10.9.9.9").status_code, 200)
        _, other = self.make_token(name="other")
        self.assertEqual(self.get(f"Bearer {other}", "10.1.2.3").status_code, 200)

    def test_garbage_tokens_do_not_lock_out_real_ones(self):
        _, raw = self.make_token()
        for attempt in range(5):
            self.assertIn(self.get(f"Bearer garbage-{attempt}", "10.1.2.3").status_code, (401, 429))
        self.assertEqual(self.get(f"Bearer {raw}", "10.1.2.3").status_code, 200)

    def test_failed_sign_ins_and_tokens_are_separate_credentials(self):
        _, raw = self.make_token()
        for _ in range(3):
            self.client.post("/admin/login/", {"username": "alice", "password": "not-it"}, REMOTE_ADDR="10.4.4.4")
        self.assertEqual(self.get(f"Bearer {raw}", "10.4.4.4").status_code, 200)

    def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(self):
        _, raw = self.make_token()
        wrong = self.wrong_token_like(raw)
        # Untrusted: a client cannot escape its count by writing X-Forwarded-For.
        for attempt in range(3):
            self.get(f"Bearer {wrong}", "10.1.2.3", HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")
        self.assertEqual(self.get(f"Bearer {wrong}", "10.1.2.3", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code, 429)
        rejected = AuditRecord.objects.filter(action="token_rejected").order_by("-seq").first()
        self.assertEqual(rejected.client_ip, "10.1.2.3")

        with override_settings(ACCORD_TRUSTED_PROXIES=["10.0.0.0/24"]):
            # Behind the trusted proxy 10.0.0.5, each client is the address the proxy saw.
            for _ in range(3):
                self.get(f"Bearer {wrong}", "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
            self.assertEqual(self.get(f"Bearer {wrong}", "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code,
                             429)
            self.assertEqual(self.get(f"Bearer {raw}", "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code,
                             200)
            # What a client puts left of the proxy's entry is not believed.
            response = self.get(f"Bearer {wrong}", "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.8, 203.0.113.7")
            self.assertEqual(response.status_code, 429)
            rejected = AuditRecord.objects.filter(action="token_rejected").order_by("-seq").first()
            self.assertEqual(rejected.client_ip, "203.0.113.7")
            # Another client behind the same proxy is not refused for those failures.
            self.assertEqual(self.get(f"Bearer {wrong}", "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code,
                             401)


class TestTokenAudit(TokenTestBase):
    def test_creation_and_revocation_are_audited_without_the_token(self):
        before = head_seq()
        response = self.create_via_api(name="audited")
        raw, token_id = response.json()["token"], response.json()["id"]
        token = ApiToken.objects.get(pk=token_id)
        [created] = records_since(before)
        self.assertEqual(created.action, "token_created")
        self.assertEqual((created.object_type, created.object_id), ("permissions.apitoken", str(token_id)))
        self.assertEqual((created.actor_name, created.actor_id), ("alice", self.alice.pk))
        self.assertEqual(created.request_id, response["X-Request-ID"])
        self.assertEqual(created.details.get("prefix"), token.prefix)
        self.assertEqual(created.details.get("name"), "audited")

        before = head_seq()
        response = as_user(self.root).delete(f"{TOKENS}{token_id}/")
        self.assertEqual(response.status_code, 204)
        [revoked] = records_since(before)
        self.assertEqual(revoked.action, "token_revoked")
        self.assertEqual((revoked.object_type, revoked.object_id), ("permissions.apitoken", str(token_id)))
        self.assertEqual((revoked.actor_name, revoked.actor_id), (self.root.username, self.root.pk))
        self.assertEqual(revoked.request_id, response["X-Request-ID"])
        for record in (created, revoked):
            self.assertNotIn(raw, record_text(record))
            self.assertNotIn(token.key_hash, record_text(record))
            self.assertNotIn(raw[len(token.prefix):], record_text(record))

    def test_revoking_twice_writes_one_record(self):
        token, _ = self.make_token()
        self.assertEqual(as_user(self.root).delete(f"{TOKENS}{token.pk}/").status_code, 204)
        before = head_seq()
        response = as_user(self.root).delete(f"{TOKENS}{token.pk}/")
        self.assertIn(response.status_code, (204, 404))
        self.assertEqual([r.action for r in records_since(before) if r.action == "token_revoked"], [])


class TestTokenAdmin(TokenTestBase):
    def setUp(self):
        self.client.force_login(self.root)

    def add_in_admin(self, **fields):
        expires = fields.pop("expires", None)
        data = {"user": self.bob.pk, "name": "from the admin", **fields}
        if expires is not None:
            data |= {"expires_at_0": expires.strftime("%Y-%m-%d"), "expires_at_1": expires.strftime("%H:%M:%S")}
        return self.client.post("/admin/permissions/apitoken/add/", data)

    def test_token_is_created_in_the_admin_and_shown_once_on_the_answer_itself(self):
        expires = timezone.localtime(timezone.now() + datetime.timedelta(days=30))
        before = head_seq()
        with captured_logs() as logs:
            response = self.add_in_admin(expires=expires)
        # The answer to the POST is the page that shows the token: no redirect carries it.
        self.assertEqual(response.status_code, 200, response.content[:2000])
        self.assertTemplateUsed(response, "admin/secret_shown_once.html")
        page = response.content.decode()
        shown = re.findall(r"accord_[A-Za-z0-9_-]{20,}", page)  # the prefix alone may show
        self.assertEqual(len(shown), 1, shown)
        raw = shown[0]
        self.assertIn("shown only on this page", page)
        self.assertIn("no-store", response["Cache-Control"])
        token = ApiToken.objects.get(user=self.bob, name="from the admin")
        self.assertEqual(token.key_hash, sha256(raw))
        self.assertEqual(token.expires_at.replace(microsecond=0), expires.replace(microsecond=0))
        self.assertEqual(ApiToken.objects.filter(name="from the admin").count(), 1)
        created = [r for r in records_since(before) if r.action == "token_created"]
        self.assertEqual(len(created), 1)
        self.assertEqual(created[0].actor_name, self.root.username)

        # Nowhere else: not in a message, a cookie, a session, a log line or a record.
        secret_part = raw[len(token.prefix):]
        self.assertEqual([str(m) for m in get_messages(response.wsgi_request) if secret_part in str(m)], [])
        for name, morsel in response.cookies.items():
            self.assertNotIn(secret_part, morsel.value, name)
        self.assertNotIn("messages", response.cookies)
        for session in Session.objects.all():
            self.assertNotIn(secret_part, json.dumps(session.get_decoded(), default=str))
            self.assertNotIn(secret_part, session.session_data)
        self.assertIn("INSERT INTO", logs.text())
        self.assertNotIn(secret_part, logs.text())
        for record in records_since(before):
            self.assertNotIn(secret_part, record_text(record))
        self.assertNotIn(secret_part, json.dumps(list(LogEntry.objects.values()), default=str))

        # Shown once: no later page shows it again.
        for url in ("/admin/permissions/apitoken/", f"/admin/permissions/apitoken/{token.pk}/change/",
                    f"/admin/permissions/apitoken/{token.pk}/history/", "/admin/"):
            with self.subTest(url=url):
                later = self.client.get(url)
                self.assertEqual(later.status_code, 200)
                self.assertNotContains(later, secret_part)
        self.assertContains(self.client.get("/admin/permissions/apitoken/"), token.prefix)
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 200)

    def test_admin_refuses_an_expiry_beyond_the_maximum_lifetime(self):
        response = self.add_in_admin(expires=timezone.localtime(timezone.now() + datetime.timedelta(days=400)))
        self.assertEqual(response.status_code, 200)
        self.assertIn("expires_at", response.context["adminform"].form.errors)
        self.assertContains(response, "ACCORD_TOKEN_MAX_LIFETIME_DAYS")
        self.assertContains(response, "at most 365 days")
        self.assertFalse(ApiToken.objects.filter(name="from the admin").exists())

    def test_admin_gives_a_token_without_an_expiry_the_default(self):
        response = self.add_in_admin()
        self.assertEqual(response.status_code, 200)
        token = ApiToken.objects.get(name="from the admin")
        self.assertAlmostEqual((token.expires_at - timezone.now()).total_seconds(), 90 * 86400, delta=60)

    def test_revoke_action(self):
        token, raw = self.make_token(user=self.bob)
        response = self.client.post("/admin/permissions/apitoken/", {
            "action": "revoke_selected", "_selected_action": [token.pk],
        })
        self.assertEqual(response.status_code, 302)
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        self.assertEqual(bearer(raw).get("/api/v1/tags/").status_code, 401)


# --- ETag / If-Match -------------------------------------------------------------------------------


class TestETags(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.editor = make_user("etag-editor", perms=("catalog.change_tag", "catalog.delete_tag",
                                                     "catalog.change_dataset"))
        cls.tag = factories.tag(description="original")

    def setUp(self):
        self.client = as_user(self.editor)
        self.url = f"/api/v1/tags/{self.tag.pk}/"

    def current_etag(self) -> str:
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.get("ETag"), "GET detail carries no ETag")
        return response["ETag"]

    def test_detail_has_an_etag(self):
        etag = self.current_etag()
        self.assertEqual(etag, self.current_etag())  # stable while nothing changes

    def test_stale_if_match_is_412_and_changes_nothing(self):
        stale = self.current_etag()
        response = self.client.patch(self.url, {"description": "first"}, format="json", HTTP_IF_MATCH=stale)
        self.assertEqual(response.status_code, 200, response.content)
        current = response["ETag"]
        self.assertNotEqual(current, stale)
        before = head_seq()
        response = self.client.patch(self.url, {"description": "lost update"}, format="json", HTTP_IF_MATCH=stale)
        self.assertEqual(response.status_code, 412, response.content)
        self.assertEqual(response["ETag"], current)
        self.assertEqual(Tag.objects.get(pk=self.tag.pk).description, "first")
        self.assertEqual([r.action for r in records_since(before) if r.action in ("update", "delete")], [])
        response = self.client.put(self.url, {"name": self.tag.name, "slug": self.tag.slug, "description": "x"},
                                   format="json", HTTP_IF_MATCH=stale)
        self.assertEqual(response.status_code, 412)
        self.assertEqual(Tag.objects.get(pk=self.tag.pk).description, "first")

    def test_current_if_match_succeeds_with_a_new_etag(self):
        etag = self.current_etag()
        response = self.client.patch(self.url, {"description": "changed"}, format="json", HTTP_IF_MATCH=etag)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertTrue(response.get("ETag"))
        self.assertNotEqual(response["ETag"], etag)
        self.assertEqual(response["ETag"], self.current_etag())
        self.assertEqual(Tag.objects.get(pk=self.tag.pk).description, "changed")

    def test_if_match_list_and_star(self):
        etag = self.current_etag()
        response = self.client.patch(self.url, {"description": "a"}, format="json",
                                     HTTP_IF_MATCH=f'"tag-0-stale", {etag}')
        self.assertEqual(response.status_code, 200, response.content)
        response = self.client.patch(self.url, {"description": "b"}, format="json", HTTP_IF_MATCH="*")
        self.assertEqual(response.status_code, 200, response.content)

    def test_delete_with_stale_if_match_is_412(self):
        stale = self.current_etag()
        self.client.patch(self.url, {"description": "moved on"}, format="json")
        response = self.client.delete(self.url, HTTP_IF_MATCH=stale)
        self.assertEqual(response.status_code, 412, getattr(response, "content", b""))
        self.assertTrue(Tag.objects.filter(pk=self.tag.pk).exists())
        response = self.client.delete(self.url, HTTP_IF_MATCH=self.current_etag())
        self.assertEqual(response.status_code, 204)
        self.assertFalse(Tag.objects.filter(pk=self.tag.pk).exists())

    def test_dataset_etag_changes_with_its_tags(self):
        dataset = factories.dataset()
        url = f"/api/v1/datasets/{dataset.pk}/"
        etag = self.client.get(url)["ETag"]
        response = self.client.patch(url, {"tags": [self.tag.slug]}, format="json", HTTP_IF_MATCH=etag)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertNotEqual(response["ETag"], etag)
        response = self.client.patch(url, {"description": "stale"}, format="json", HTTP_IF_MATCH=etag)
        self.assertEqual(response.status_code, 412)
