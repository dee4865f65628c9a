"""Webhooks against a real local HTTP receiver: Standard Webhooks signatures (verified
with the `standardwebhooks` library, as a receiver would), retries while the receiver
is down, what the HTTP client refuses to do (follow redirects, use proxies from the
environment, wait forever), what a refusal stores, stable ids, Slack payloads, payloads
limited to what the subscription's owner may see, and a signing secret shown once. The receivers
listen on 127.0.0.1, allowed here explicitly (ACCORD_WEBHOOK_ALLOWED_NETWORKS)."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks import Webhook, WebhookVerificationError

from catalog.models import Dataset
from governance.models import Delivery, NotificationSubscription
from governance.services import compliance, notifications
from permissions.context import Actor
from permissions.models import AccessRule, AuditRecord
from tests.governance.compliance_fixtures import build_contract
from tests.mixins import make_user

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it receives."""

    def __init__(self, port: int = 0, fail_first: int = 0, answer=None):
        """`answer(path)` -> (status, headers, body) replaces the default: 500 `fail_first` times, then 204."""
        self.requests: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "body": body,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                if answer is not None:
                    status, headers, content = answer(self.path)
                else:
                    failing = receiver.fail_first > 0
                    receiver.fail_first -= 1
                    status, headers, content = (500 if failing else 204), {}, b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if content:
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, request: dict) -> bool:
    """What a receiver does (docs/compliance.md): the library's verification of the raw body and headers."""
    try:
        Webhook(secret).verify(request["body"], request["headers"])
    except WebhookVerificationError:
        return False
    return True


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    """These tests' receivers listen on 127.0.0.1, which deliveries reach only when its network is allowed
    (governance.outbound; tests/governance/test_outbound.py tests the refusals)."""
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return build_contract(tmp_path, monkeypatch)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def subscribe(owner, url, **kw):
    return NotificationSubscription.objects.create(name=f"hook for {owner}", owner=owner, url=url, **kw)


def fail_contract(setup):
    run, _ = compliance.get_or_create_run(setup["version"], scheduled_for=timezone.now(), trigger="manual",
                                          actor=Actor(system="tests"))
    return compliance.execute(run, actor=Actor(system="tests"))


def test_signed_delivery_reaches_the_receiver(setup, receiver):
    subscription = subscribe(setup["sofia"], receiver.url, event_types=["contract.breached"])
    fail_contract(setup)
    [delivery] = Delivery.objects.filter(subscription=subscription)
    delivery = notifications.deliver(delivery.pk)
    assert delivery.status == "delivered" and delivery.last_status_code == 204
    [request] = receiver.requests
    assert verify(subscription.secret, request)
    assert request["headers"]["webhook-id"] == delivery.event_id
    assert abs(int(request["headers"]["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    body = json.loads(request["body"])
    assert body["type"] == "contract.breached" and body["data"]["contract"]["slug"] == "handoff"
    assert body["data"]["run"]["outcome"] == "fail"
    tampered = {**request, "body": request["body"].replace(b"fail", b"pass")}
    assert not verify(subscription.secret, tampered)
    assert not verify(NotificationSubscription._meta.get_field("secret").default(), request)  # another secret
    replayed = {**request, "headers": {**request["headers"], "webhook-timestamp": str(int(time.time()) - 3600)}}
    assert not verify(subscription.secret, replayed)


def test_a_secret_stored_before_the_library_still_verifies(setup, receiver):
    """Secrets already stored were made as "whsec_" + base64(32 random bytes), the format the library reads:
    they are kept as they are (nothing to migrate). This one is fixed, written the way they were."""
    stored = "whsec_qRQ3Tb6N0my+pqcS433CLdHy5KjA3XXxx5UmGWVTf4U="
    subscription = subscribe(setup["sofia"], receiver.url, event_types=["contract.breached"])
    NotificationSubscription.objects.filter(pk=subscription.pk).update(secret=stored)
    fail_contract(setup)
    notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    assert verify(stored, receiver.requests[0])


def test_deliveries_are_retried_while_the_receiver_is_down_and_all_arrive(setup):
    server = Receiver()
    port = server.port
    server.stop()  # down
    subscription = subscribe(setup["sofia"], f"http://127.0.0.1:{port}/hooks")
    fail_contract(setup)  # contract.breached + incident.opened
    deliveries = list(Delivery.objects.filter(subscription=subscription))
    assert len(deliveries) == 2
    for delivery in deliveries:
        attempted = notifications.deliver(delivery.pk)
        assert attempted.status == "pending" and attempted.attempts == 1 and attempted.next_attempt_at
        assert attempted.last_error
    # Exponential backoff: the second wait is longer than the first.
    first = Delivery.objects.get(pk=deliveries[0].pk)
    notifications.deliver(first.pk)
    first.refresh_from_db()
    assert first.attempts == 2
    up = Receiver(port=port, fail_first=1)  # back, but the first answer is a 500
    try:
        later = timezone.now() + datetime.timedelta(hours=2)
        notifications.retry_due(at=later)
        notifications.retry_due(at=later)
        assert set(Delivery.objects.filter(subscription=subscription).values_list("status", flat=True)) == {
            "delivered"}
        ids = [r["headers"]["webhook-id"] for r in up.requests]
        assert set(ids) == {d.event_id for d in deliveries}  # every event arrived
        assert all(verify(subscription.secret, r) for r in up.requests)
    finally:
        up.stop()


@override_settings(ACCORD_WEBHOOK_RETRY_HOURS=0)
def test_delivery_gives_up_after_the_retry_period(setup):
    subscription = subscribe(setup["sofia"], "http://127.0.0.1:9/hooks", event_types=["contract.breached"])
    fail_contract(setup)
    delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    assert delivery.status == "failed"


def test_slack_payload(setup, receiver):
    subscription = subscribe(setup["sofia"], receiver.url, kind="slack", event_types=["incident.opened"])
    fail_contract(setup)
    notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    body = json.loads(receiver.requests[0]["body"])
    assert set(body) == {"text"} and "Lead hand-off" in body["text"] and "incident" in body["text"]
    assert "webhook-signature" not in receiver.requests[0]["headers"]


def test_filters_by_event_type_and_department(setup):
    other = make_user("other-dept-person")
    from tests import factories

    finance = factories.department(name="Finance", slug="finance")
    subscribe(other, "http://127.0.0.1:9/a", event_types=["contract.restored"])
    unrelated = subscribe(other, "http://127.0.0.1:9/b")
    unrelated.departments.set([finance])
    related = subscribe(other, "http://127.0.0.1:9/c")
    related.departments.set([setup["sales"]])
    fail_contract(setup)
    assert set(Delivery.objects.values_list("subscription__url", flat=True)) == {"http://127.0.0.1:9/c"}


def test_payload_only_contains_what_the_owner_may_see(setup, receiver):
    viewer = make_user("opted-out-viewer")
    AccessRule.objects.create(subject_kind="user", subject_user=viewer, target_kind="object",
                              target_type=ContentType.objects.get_for_model(Dataset),
                              target_id=setup["dataset"].pk, reason="not for them")
    subscription = subscribe(viewer, receiver.url, event_types=["contract.breached"])
    fail_contract(setup)
    payload = Delivery.objects.get(subscription=subscription).payload
    assert all(result["dataset"] is None for result in payload["data"]["run"]["results"])
    assert payload["data"]["run"]["results"]  # the metadata results about the contract itself remain


def test_subscription_api_shows_the_secret_once_and_only_to_its_owner(setup):
    client = APIClient()
    client.force_authenticate(setup["sofia"])
    created = client.post("/api/v1/subscriptions/", {"name": "Sales alerts", "url": "https://hooks.example/x",
                                                     "event_types": ["incident.opened"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["secret"].startswith("whsec_")
    detail = client.get(f"/api/v1/subscriptions/{created.json()['id']}/").json()
    assert "secret" not in detail
    bad = client.post("/api/v1/subscriptions/", {"name": "x", "url": "ftp://x", "event_types": ["nope"]},
                      format="json")
    assert bad.status_code == 400 and {"url", "event_types"} <= set(bad.json()["errors"])
    stranger = APIClient()
    stranger.force_authenticate(setup["maria"])
    assert stranger.get(f"/api/v1/subscriptions/{created.json()['id']}/").status_code == 404
    assert created.json()["secret"] not in json.dumps(list(AuditRecord.objects.values("changes", "details")),
                                                      default=str)


def test_redeliver_keeps_the_event_id(setup, receiver):
    subscription = subscribe(setup["sofia"], receiver.url, event_types=["contract.breached"])
    fail_contract(setup)
    delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    client = APIClient()
    client.force_authenticate(setup["sofia"])
    response = client.post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202
    notifications.deliver(delivery.pk)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [delivery.event_id] * 2


def test_redirects_are_not_followed(setup):
    server = Receiver(answer=lambda path: (302, {"Location": "/elsewhere"}, b""))
    try:
        subscription = subscribe(setup["sofia"], server.url, event_types=["contract.breached"])
        fail_contract(setup)
        delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    finally:
        server.stop()
    assert [r["path"] for r in server.requests] == ["/hooks"]
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert delivery.last_error == "HTTP 302: redirects are not followed"


def test_proxies_from_the_environment_are_not_used(setup, receiver, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: a proxied request would fail
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    subscription = subscribe(setup["sofia"], receiver.url, event_types=["contract.breached"])
    fail_contract(setup)
    delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    assert delivery.status == "delivered" and len(receiver.requests) == 1


@override_settings(ACCORD_WEBHOOK_TIMEOUT_SECONDS=1)
def test_a_receiver_that_does_not_answer_times_out(setup):
    server = Receiver(answer=lambda path: (time.sleep(3), (204, {}, b""))[1])
    try:
        subscription = subscribe(setup["sofia"], server.url, event_types=["contract.breached"])
        fail_contract(setup)
        started = time.monotonic()
        delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error == "ReadTimeout" and elapsed < 2.5


def test_a_refusal_stores_the_start_of_the_answer_without_credentials(setup, caplog):
    token = "XoXbT0kenInThePath4f9e2"
    answers = []

    def refuse(path):
        # A receiver that echoes what it got, credentials and all, and then a lot more.
        answers.append(f"no hook at {path} (secret {secret}) ".encode() + b"x" * 10_000)
        return 400, {"Content-Type": "text/plain"}, answers[-1]

    server = Receiver(answer=refuse)
    try:
        subscription = subscribe(setup["sofia"], f"http://127.0.0.1:{server.port}/services/T0001/{token}",
                                 event_types=["contract.breached"])
        secret = subscription.secret
        fail_contract(setup)
        with caplog.at_level(logging.DEBUG):
            delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    finally:
        server.stop()
    assert delivery.status == "pending" and delivery.last_status_code == 400
    assert delivery.last_error.startswith("HTTP 400: no hook at [redacted] (secret [redacted]) xxx")
    assert len(delivery.last_error) == len("HTTP 400: ") + notifications.RESPONSE_EXCERPT_CHARS
    for credential in (token, secret, secret.removeprefix("whsec_")):
        assert credential in answers[0].decode()  # the receiver did echo them
        assert credential not in delivery.last_error and credential not in caplog.text


def test_an_unreachable_receiver_is_named_by_the_failure_only(setup):
    subscription = subscribe(setup["sofia"], "http://127.0.0.1:9/services/T0001/XoXbT0kenInThePath4f9e2",
                             event_types=["contract.breached"])
    fail_contract(setup)
    delivery = notifications.deliver(Delivery.objects.get(subscription=subscription).pk)
    assert delivery.last_status_code is None and delivery.last_error == "ConnectError"


def test_the_admin_shows_a_new_signing_secret_once_on_the_answer_itself(setup, client):
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth import get_user_model
    from django.contrib.messages import get_messages
    from django.contrib.sessions.models import Session

    from tests.permissions.test_tokens import captured_logs

    root = get_user_model().objects.create_superuser("hooks-root", "root@example.com", "pw")
    client.force_login(root)
    form = {"name": "Partner hook", "kind": "webhook", "url": "https://93.184.215.14/hooks", "event_types": "[]",
            "is_active": "on", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    with captured_logs() as logs:
        response = client.post("/admin/governance/notificationsubscription/add/", form)
    assert response.status_code == 200, response.content[:2000]
    subscription = NotificationSubscription.objects.get(name="Partner hook")
    secret = subscription.secret
    page = response.content.decode()
    assert page.count(secret) == 1 and "shown only on this page" in page
    assert "no-store" in response["Cache-Control"]
    key = secret.removeprefix("whsec_")
    assert not [m for m in get_messages(response.wsgi_request) if key in str(m)]
    assert all(key not in morsel.value for morsel in response.cookies.values())
    assert all(key not in json.dumps(s.get_decoded(), default=str) for s in Session.objects.all())
    assert_not_logged(key, logs)
    assert key not in json.dumps(list(AuditRecord.objects.values("changes", "details")), default=str)
    assert key not in json.dumps(list(LogEntry.objects.values()), default=str)
    for url in ("/admin/governance/notificationsubscription/",
                f"/admin/governance/notificationsubscription/{subscription.pk}/change/",
                f"/admin/governance/notificationsubscription/{subscription.pk}/history/"):
        later = client.get(url)
        assert later.status_code == 200 and key not in later.content.decode(), url

    # A Slack-compatible hook is not signed: no secret to show, the usual redirect.
    slack = client.post("/admin/governance/notificationsubscription/add/",
                        {**form, "name": "Slack", "kind": "slack"})
    assert slack.status_code == 302
    slack_secret = NotificationSubscription.objects.get(name="Slack").secret.removeprefix("whsec_")
    assert not [m for m in get_messages(slack.wsgi_request) if slack_secret in str(m)]


def test_the_api_answer_holding_the_secret_is_not_cached_nor_logged(setup):
    from tests.permissions.test_tokens import captured_logs

    client = APIClient()
    client.force_authenticate(setup["sofia"])
    with captured_logs() as logs:
        created = client.post("/api/v1/subscriptions/", {"name": "Sales alerts", "url": "https://93.184.215.14/x"},
                              format="json")
    assert created.status_code == 201, created.content
    assert created["Cache-Control"] == "no-store"
    key = created.json()["secret"].removeprefix("whsec_")
    assert_not_logged(key, logs)


def assert_not_logged(key: str, logs) -> None:
    """The secret is stored (deliveries are signed with it), so the statement that stores it holds it: SQL is
    logged only by django.db.backends at DEBUG, which Accord's logging keeps at WARNING whatever LOG_LEVEL
    says. Every other log line is checked."""
    from django.conf import settings

    assert settings.LOGGING["loggers"]["django.db.backends"]["level"] == "WARNING"
    assert "INSERT INTO" in logs.text()  # the capture saw the statements
    assert key not in logs.text(leaving_out=("django.db.backends",))
