"""Where webhooks may go (governance.outbound): public addresses only, checked after resolving
the host, when a subscription is saved (API and admin) and on every send, where the request goes
to the address that was checked. No test uses DNS: names are answered by a resolver of the test's
own (`FakeDNS`), and the receivers are real servers on 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from governance import outbound
from governance.models import Delivery, NotificationSubscription
from governance.services import notifications
from tests.governance.test_notifications import Receiver, fail_contract, subscribe, verify
from tests.governance.test_notifications import setup as setup  # noqa: F401, PLC0414 - the fixture

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a public address; nothing connects to it (every name here is answered by FakeDNS)


class FakeDNS:
    """Answers for host names, in order (the last answer repeats); addresses written as such answer
    themselves, anything else does not resolve. Records every question."""

    def __init__(self, answers: dict[str, list[list[str]]] | None = None):
        self.answers = {host: list(sequence) for host, sequence in (answers or {}).items()}
        self.questions: list[str] = []

    def __call__(self, host: str, port: int):
        self.questions.append(host)
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        sequence = self.answers.get(host)
        if not sequence:
            raise outbound.Unresolvable(f"{host} could not be resolved")
        answer = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return [ipaddress.ip_address(address) for address in answer]


@pytest.fixture
def dns(monkeypatch):
    resolver = FakeDNS()
    monkeypatch.setattr(outbound, "resolve", resolver)
    return resolver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


# --- The address policy -------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.10.10", "link-local"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),  # unique-local
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "private"), ("255.255.255.255", "private"),  # reserved (ipaddress counts them private)
    ("100.64.0.1", "not a public address"),  # shared address space (carrier-grade NAT)
    ("192.0.2.1", "private"), ("2001:db8::1", "private"),  # documentation
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"), ("169.254.170.2", "metadata"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "metadata"),  # IPv4-mapped
    ("2002:7f00:1::1", "loopback"), ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 of 127.0.0.1, 169.254.169.254
    ("64:ff9b::a00:1", "private"), ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 10.0.0.1, 169.254.169.254
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_internal_addresses_are_refused(address, why):
    reason = outbound.refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason, (address, reason)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert outbound.refusal(ipaddress.ip_address(address)) is None


def test_allowed_networks_let_exactly_their_addresses_through_but_never_metadata(settings):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["10.1.0.0/16", "127.0.0.1/32", "fd12::/16"]
    for address in ("10.1.2.3", "127.0.0.1", "::ffff:127.0.0.1", "fd12:3456::1"):
        assert outbound.refusal(ipaddress.ip_address(address)) is None, address
    for address in ("10.2.0.1", "127.0.0.2", "192.168.1.1"):
        assert outbound.refusal(ipaddress.ip_address(address)), address
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["0.0.0.0/0", "::/0"]
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254"):
        assert outbound.refusal(ipaddress.ip_address(address)) == "a cloud metadata address", address


def test_other_spellings_of_an_address_are_checked_as_what_they_resolve_to():
    """The resolver's answer is checked, not the text: 127.1 and 2130706433 are 127.0.0.1 (resolved here
    without DNS, by the tests' numeric resolver)."""
    for host in ("127.1", "2130706433", "0x7f000001"):
        with pytest.raises(outbound.Refused, match=rf"{host} resolves to 127\.0\.0\.1, a loopback address"):
            outbound.checked_addresses(host, 80)


def test_a_name_is_refused_if_any_of_its_addresses_is(dns):
    dns.answers["mixed.example"] = [[PUBLIC, "10.0.0.7"]]
    with pytest.raises(outbound.Refused, match=r"mixed\.example resolves to 10\.0\.0\.7, a private address"):
        outbound.checked_addresses("mixed.example", 443)


# --- At save: the API and the admin ---------------------------------------------------------------

def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("url", "named"), [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://127.0.0.1:8000/hooks", "127.0.0.1 is a loopback address"),
    ("https://[::1]/hooks", "::1 is a loopback address"),
    ("http://metadata.internal/computeMetadata/v1/", "metadata.internal resolves to 169.254.169.254"),
    ("https://intranet.example/hooks", "intranet.example resolves to 10.20.30.40, a private address"),
    ("https://rebound.example/hooks", "a loopback address"),  # ::ffff:127.0.0.1
])
def test_the_api_refuses_internal_urls_with_a_400_naming_the_address(setup, dns, url, named):
    dns.answers |= {"metadata.internal": [["169.254.169.254"]], "intranet.example": [["10.20.30.40"]],
                    "rebound.example": [["::ffff:127.0.0.1"]]}
    response = api_as(setup["sofia"]).post("/api/v1/subscriptions/", {"name": "x", "url": url}, format="json")
    assert response.status_code == 400, response.content
    [message] = response.json()["errors"]["url"]
    assert named in message and message.startswith("Webhooks may only go to public addresses"), message
    assert not NotificationSubscription.objects.exists()


def test_the_api_accepts_public_and_not_yet_resolvable_names(setup, dns):
    dns.answers["hooks.partner.example"] = [[PUBLIC]]
    client = api_as(setup["sofia"])
    for url in ("https://hooks.partner.example/accord", f"https://{PUBLIC}/x", "https://not-yet.example/x"):
        response = client.post("/api/v1/subscriptions/", {"name": url, "url": url}, format="json")
        assert response.status_code == 201, (url, response.content)


def test_an_unchanged_url_is_not_checked_again_so_a_subscription_can_be_switched_off(setup, dns):
    dns.answers["hooks.partner.example"] = [[PUBLIC], ["10.0.0.9"]]  # public when saved, internal later
    client = api_as(setup["sofia"])
    created = client.post("/api/v1/subscriptions/", {"name": "x", "url": "https://hooks.partner.example/a"},
                          format="json")
    assert created.status_code == 201, created.content
    detail = f"/api/v1/subscriptions/{created.json()['id']}/"
    assert client.patch(detail, {"is_active": False}, format="json").status_code == 200
    moved = client.patch(detail, {"url": "https://hooks.partner.example/b"}, format="json")
    assert moved.status_code == 400 and "10.0.0.9" in moved.json()["errors"]["url"][0]


def test_the_admin_refuses_internal_urls_with_a_form_error(setup, dns, client):
    dns.answers["intranet.example"] = [["192.168.4.4"]]
    setup["sofia"].is_staff = True
    setup["sofia"].save()
    from django.contrib.auth.models import Permission

    setup["sofia"].user_permissions.add(*Permission.objects.filter(codename__endswith="notificationsubscription"))
    client.force_login(setup["sofia"])
    response = client.post("/admin/governance/notificationsubscription/add/", {
        "name": "intranet", "kind": "webhook", "url": "https://intranet.example/hook", "event_types": "[]",
        "is_active": "on", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "url" in errors and "192.168.4.4, a private address" in errors["url"][0], errors
    assert not NotificationSubscription.objects.exists()


# --- At send ---------------------------------------------------------------------------------------

def delivery_for(setup, url, **kw) -> tuple[NotificationSubscription, Delivery]:
    subscription = subscribe(setup["sofia"], url, event_types=["contract.breached"], **kw)
    fail_contract(setup)
    return subscription, Delivery.objects.get(subscription=subscription)


def test_a_name_that_resolves_to_an_internal_address_at_send_is_not_sent_and_not_retried(setup, dns, receiver):
    """DNS rebinding: public when the subscription was saved, the receiver's loopback when it is sent."""
    dns.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    outbound.validate_webhook_url(f"http://rebind.example:{receiver.port}/hooks")  # accepted at save
    _, delivery = delivery_for(setup, f"http://rebind.example:{receiver.port}/hooks")
    delivery = notifications.deliver(delivery.pk)
    assert receiver.requests == []
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error == ("Not sent: rebind.example resolves to 127.0.0.1, a loopback address, "
                                   "not in ACCORD_WEBHOOK_ALLOWED_NETWORKS")
    assert notifications.retry_due(at=timezone.now() + datetime.timedelta(days=2)) == []
    assert receiver.requests == []


def test_a_literal_metadata_address_saved_before_the_check_is_never_sent_to(setup, dns, settings):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    _, delivery = delivery_for(setup, "http://169.254.169.254/latest/meta-data/iam/")  # objects.create: no check
    delivery = notifications.deliver(delivery.pk)
    assert delivery.status == "failed"
    assert delivery.last_error == "Not sent: 169.254.169.254 is a cloud metadata address"


def test_the_request_goes_to_the_address_that_was_checked_with_the_hosts_name(setup, dns, receiver, settings):
    """Resolved once per attempt; the connection goes to the checked address (a second answer, which
    would point elsewhere, is never asked for), with the URL's host in the Host header."""
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    dns.answers["hooks.partner.example"] = [["127.0.0.1"], ["10.9.9.9"]]
    subscription, delivery = delivery_for(setup, f"http://hooks.partner.example:{receiver.port}/hooks")
    delivery = notifications.deliver(delivery.pk)
    assert delivery.status == "delivered", delivery.last_error
    assert dns.questions == ["hooks.partner.example"]
    [request] = receiver.requests
    assert request["headers"]["host"] == f"hooks.partner.example:{receiver.port}"
    assert request["path"] == "/hooks" and verify(subscription.secret, request)


def test_when_a_checked_address_does_not_answer_the_next_one_is_tried(setup, dns, receiver, settings):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    dns.answers["two.example"] = [["127.0.0.2", "127.0.0.1"]]  # nothing listens on 127.0.0.2
    _, delivery = delivery_for(setup, f"http://two.example:{receiver.port}/hooks")
    assert notifications.deliver(delivery.pk).status == "delivered"
    assert len(receiver.requests) == 1 and dns.questions == ["two.example"]


def test_a_name_that_does_not_resolve_is_retried_like_a_receiver_that_is_down(setup, dns):
    _, delivery = delivery_for(setup, "https://gone.example/hooks")
    delivery = notifications.deliver(delivery.pk)
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert delivery.last_error == "gone.example could not be resolved"


# --- TLS: the certificate is checked for the URL's host, not the address -------------------------------

def _certificates(folder) -> tuple[str, str, str]:
    """A throwaway CA and a certificate it signs for hooks.tls.example (openssl)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=Accord test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=hooks.tls.example")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:hooks.tls.example\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")
    return str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_tls_uses_the_hosts_name_for_sni_and_the_certificate_check(tmp_path, dns, settings):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    ca, certificate, key = _certificates(tmp_path)
    server_names: list[str | None] = []
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            return None

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    server_context.sni_callback = lambda sock, name, context: server_names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    dns.answers |= {"hooks.tls.example": [["127.0.0.1"]], "other.tls.example": [["127.0.0.1"]]}
    try:
        client_context = ssl.create_default_context(cafile=ca)
        with httpx.Client(transport=outbound.PinnedTransport(verify=client_context), trust_env=False) as client:
            response = client.post(f"https://hooks.tls.example:{port}/hooks", content=b"{}")
            assert response.status_code == 204
            assert server_names == ["hooks.tls.example"] and hosts == [f"hooks.tls.example:{port}"]
            # Same address, another name: the certificate does not name it, so nothing is sent.
            with pytest.raises(httpx.ConnectError, match="certificate"):
                client.post(f"https://other.tls.example:{port}/hooks", content=b"{}")
            assert hosts == [f"hooks.tls.example:{port}"]
    finally:
        server.shutdown()
        server.server_close()
