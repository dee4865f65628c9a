"""The ``audit.checkpoint`` event: a signed checkpoint goes, signed as a webhook, to a real receiver on
127.0.0.1 for each subscription that names the event and whose owner may read the audit log."""

from __future__ import annotations

import json

import pytest

from governance.models import Delivery
from governance.services import notifications
from permissions import checkpoints
from permissions.context import Actor, system_actor
from tests import factories
from tests.governance.test_notifications import Receiver, subscribe, verify
from tests.mixins import make_user
from tests.permissions.test_audit_checkpoints import key_file

pytestmark = pytest.mark.django_db(transaction=False)
AUDITOR_PERMS = ("permissions.view_auditrecord",)


@pytest.fixture
def signing(settings, tmp_path):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.ACCORD_AUDIT_SIGNING_KEY_FILE = key_file(tmp_path)
    settings.ACCORD_AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    with system_actor("tests", reason="setup"):
        factories.tag()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_a_signed_checkpoint_reaches_its_subscribers_only(signing, receiver, django_capture_on_commit_callbacks):
    auditor = make_user("cp-auditor", perms=AUDITOR_PERMS)
    reader = make_user("cp-reader")
    wanted = subscribe(auditor, receiver.url, event_types=["audit.checkpoint"])
    subscribe(auditor, receiver.url + "/all", event_types=[])  # "all events" is about contracts
    subscribe(auditor, receiver.url + "/breaches", event_types=["contract.breached"])
    subscribe(reader, receiver.url + "/reader", event_types=["audit.checkpoint"])  # may not read the log
    with django_capture_on_commit_callbacks(execute=True):
        made = checkpoints.make_checkpoint(actor=Actor(system="tests"))
    [delivery] = Delivery.objects.all()
    assert (delivery.subscription_id, delivery.event_type) == (wanted.pk, "audit.checkpoint")
    delivery = notifications.deliver(delivery.pk)
    assert delivery.status == "delivered"
    [request] = receiver.requests
    assert request["path"] == "/hooks" and verify(wanted.secret, request)
    body = json.loads(request["body"])
    assert body["type"] == "audit.checkpoint"
    assert body["data"] == made.published
    # The line a receiver keeps verifies against the chain like the file's.
    assert checkpoints.verify(full=True, checkpoint_lines=[body["data"]]).ok


def test_a_checkpoint_event_is_one_delivery_whatever_repeats(signing, django_capture_on_commit_callbacks):
    auditor = make_user("cp-auditor-2", perms=AUDITOR_PERMS)
    subscribe(auditor, "http://127.0.0.1:9/hooks", event_types=["audit.checkpoint"])
    with django_capture_on_commit_callbacks(execute=True):
        made = checkpoints.make_checkpoint(actor=Actor(system="tests"))
    notifications.emit_audit_checkpoint(made.published)  # a signal delivered twice
    assert Delivery.objects.count() == 1
