"""Notifications: events to webhooks (Standard Webhooks signatures) and Slack-compatible
incoming webhooks, recorded per delivery and retried with exponential backoff and jitter.

At least once: a delivery is marked delivered only after a 2xx answer, and its
``webhook-id`` (the event id) is the same on every attempt so receivers can
de-duplicate. Payloads are built for each subscription's owner and contain only
what that person may see.

Deliveries go out over httpx (`http_client`): explicit timeouts, redirects not followed,
nothing from the environment, and only to addresses `governance.outbound` allows, checked after
resolving the host on every attempt and connected to as checked. Signatures come from the
`standardwebhooks` package.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from standardwebhooks import Webhook

from catalog.models import Dataset, Field
from governance import outbound
from governance.models import CheckResult, DataContract, Delivery, NotificationSubscription
from governance.models.compliance import DeliveryStatus, EventType
from governance.services.common import acting_as, now, user_of
from permissions import audit
from permissions.errors import NotAllowed
from permissions.models import AuditAction

BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
USER_AGENT = "Accord-Webhooks/1"
# Of a refusing receiver's answer, this much is read and the first RESPONSE_EXCERPT_CHARS characters are kept in
# Delivery.last_error (300 characters in all).
RESPONSE_READ_BYTES = 4096
RESPONSE_EXCERPT_CHARS = 200


def webhook_headers(secret: str, message_id: str, timestamp: datetime.datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt; the signature is the library's (v1, HMAC-SHA256)."""
    return {"webhook-id": message_id, "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, timestamp, body)}


def http_client() -> httpx.Client:
    """The client deliveries are sent with: the configured timeout for every phase (connect, write, read, pool),
    redirects answered as failures instead of followed, nothing taken from the environment (no proxy
    variables, no .netrc; certificates from certifi), and every request sent through
    `outbound.PinnedTransport`: to a checked address of its host, or not at all (`outbound.Refused`)."""
    return httpx.Client(timeout=httpx.Timeout(settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS), follow_redirects=False,
                        trust_env=False, headers={"User-Agent": USER_AGENT}, transport=outbound.PinnedTransport())


def _subscriptions_for(event_type: str, contract: DataContract, parties: list[int] | None = None):
    if parties is None:
        parties = [contract.producer_id, *contract.consumers.values_list("pk", flat=True)]
    return (NotificationSubscription.objects.filter(is_active=True)
            .filter(Q(departments__isnull=True) | Q(departments__in=parties)).distinct()
            .select_related("owner"))


def _payload(event_type: str, event_id: str, owner, *, contract, run=None, incident=None,
             details: dict | None = None) -> dict | None:
    """What ``owner`` may know of the event, or None when they may not see the contract at all."""
    if not DataContract.objects.visible_to(owner).filter(pk=contract.pk).exists():
        return None
    data: dict[str, Any] = {"contract": {
        "id": contract.pk, "slug": contract.slug, "name": contract.name, "producer": contract.producer.slug,
        "compliance_status": contract.compliance_status}}
    if run is not None:
        # The results the owner may see: none on a hidden dataset or about a hidden field of a visible one.
        results = [
            {"key": r.key, "kind": r.kind, "rule": r.rule, "status": r.status, "violations": r.violations,
             "threshold": r.threshold, "dataset": r.dataset_id}
            for r in CheckResult.objects.visible_to(owner, inside=("run",)).filter(run=run).order_by("kind", "key")
        ]
        data["run"] = {"id": run.pk, "version": run.contract_version.version, "outcome": run.outcome,
                       "trigger": run.trigger, "scheduled_for": run.scheduled_for.isoformat(), "results": results}
    if incident is not None:
        data["incident"] = {"id": incident.pk, "status": incident.status, "title": incident.title,
                            "escalation_level": incident.escalation_level,
                            "assignee": incident.assignee.get_username() if incident.assignee else None}
    if details:
        details = _visible_details(details, owner)
        if details is not None:
            data["details"] = details
    return {"type": event_type, "id": event_id, "timestamp": now().isoformat(), "data": data}


def _visible_details(details: dict, owner) -> dict | None:
    """An event's details as ``owner`` may see them: None for a hidden dataset; of a visible one's
    changed fields (schema drift: ``created``, ``updated``), only the names of those they see, and
    of its ``changes`` (a harvest's drift), none about a field they may not see. A change about a
    field gone from the catalog (``removed``) stays, as the schema-changes API shows it to whoever
    sees the dataset."""
    dataset_id = details.get("dataset")
    if dataset_id is None:
        return details
    if not Dataset.objects.visible_to(owner).filter(pk=dataset_id).exists():
        return None
    named = {key: value for key, value in details.items()
             if key in ("created", "updated") and isinstance(value, list)}
    changes = details.get("changes") if isinstance(details.get("changes"), list) else None
    if not named and not changes:
        return details
    names = {str(name) for value in named.values() for name in value}
    about = {str(c["field"]) for c in changes or () if isinstance(c, dict) and c.get("field")}
    fields = Field.objects.filter(dataset_id=dataset_id, name__in=names | about)
    seen = set(fields.visible_to(owner, inside=("dataset",)).values_list("name", flat=True))
    visible = {**details, **{key: [name for name in value if str(name) in seen] for key, value in named.items()}}
    if changes is not None:
        from permissions.council import is_council

        hidden = set(fields.values_list("name", flat=True)) - seen
        # A removed field some rule hid ("restricted"): whom from cannot be told any more, so only the council.
        council = any(isinstance(c, dict) and c.get("restricted") for c in changes) and is_council(owner)
        visible["changes"] = [c for c in changes if not (isinstance(c, dict) and (
            str(c.get("field")) in hidden or c.get("restricted") and not council))]
    return visible


def emit(event_type: str, *, contract: DataContract, run=None, incident=None, details: dict | None = None,
         parties: list[int] | None = None) -> list:
    """Record a delivery of the event for every matching subscription; send them after commit.

    ``parties`` (department ids) are whom the event concerns, when not the contract's current parties
    (a proposed version that binds others)."""
    event_id = "evt_" + uuid.uuid4().hex
    created = []
    for subscription in _subscriptions_for(event_type, contract, parties):
        if subscription.event_types and event_type not in subscription.event_types:
            continue
        payload = _payload(event_type, event_id, subscription.owner, contract=contract, run=run, incident=incident,
                           details=details)
        if payload is None:
            continue
        created.append(Delivery.objects.create(subscription=subscription, event_id=event_id, event_type=event_type,
                                               payload=payload, next_attempt_at=now()))
    if created:
        from governance import tasks

        ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: [tasks.deliver_notification.delay(pk) for pk in ids])
    return created


def emit_audit_checkpoint(line: dict) -> list:
    """Send a signed audit checkpoint (the published line) to every active subscription that names
    ``audit.checkpoint`` among its event types and whose owner may read the audit log.

    A checkpoint is about no contract and no department: only an explicit subscription gets it (one
    with no event types, "all events", is about contracts), and departments do not filter it."""
    event_type = EventType.AUDIT_CHECKPOINT
    event_id = "evt_" + hashlib.sha256(f"{line.get('seq')}:{line.get('signature')}".encode()).hexdigest()[:32]
    created = []
    with transaction.atomic():
        # Subscriptions are few, and SQLite cannot look inside a JSON list: the event types are compared here.
        for subscription in NotificationSubscription.objects.filter(is_active=True).select_related("owner"):
            if event_type not in (subscription.event_types or []):
                continue
            if not (subscription.owner.is_active and subscription.owner.has_perm("permissions.view_auditrecord")):
                continue
            payload = {"type": event_type, "id": event_id, "timestamp": now().isoformat(), "data": dict(line)}
            delivery, made = Delivery.objects.get_or_create(
                subscription=subscription, event_id=event_id,
                defaults={"event_type": event_type, "payload": payload, "next_attempt_at": now()})
            if made:
                created.append(delivery)
        if created:
            from governance import tasks

            ids = [delivery.pk for delivery in created]
            transaction.on_commit(lambda: [tasks.deliver_notification.delay(pk) for pk in ids])
    return created


def _body(delivery: Delivery) -> bytes:
    if delivery.subscription.kind == "slack":
        data = delivery.payload.get("data", {})
        contract = data.get("contract", {})
        text = f"*{delivery.get_event_type_display()}*: {contract.get('name', '')}"
        if delivery.event_type == EventType.AUDIT_CHECKPOINT:
            text = f"*{delivery.get_event_type_display()}*: record #{data.get('seq')}, hash {data.get('hash')}"
        if "incident" in data:
            text += f" — incident #{data['incident']['id']} ({data['incident']['status']})"
        if "run" in data:
            text += f" — run {data['run']['id']}: {data['run']['outcome']}"
        return json.dumps({"text": text}).encode()
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def _backoff(attempts: int) -> datetime.timedelta:
    seconds = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return datetime.timedelta(seconds=seconds * (1 + random.random() * 0.25))  # noqa: S311 - jitter, not crypto


def deliver(delivery_id: int, *, client: httpx.Client | None = None) -> Delivery:
    """One attempt. Safe to run twice: a delivered or abandoned delivery is left alone.

    `client` (from `http_client`) lets a batch share connections; without it the attempt opens its own.
    A delivery whose host resolves to an address that is not allowed (`outbound.Refused`) fails at once,
    with the reason in `last_error`: it is not retried.
    """
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery_id)
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        delivery.attempts += 1
        delivery.last_attempt_at = now()
        delivery.save(update_fields=["attempts", "last_attempt_at"])
    refused = False
    try:
        if client is None:
            with http_client() as own:
                status_code, error = _send(own, delivery)
        else:
            status_code, error = _send(client, delivery)
    except outbound.Refused as exc:
        status_code, error, refused = None, f"Not sent: {exc}", True
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        delivery.last_status_code = status_code
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now()
            delivery.next_attempt_at = None
            delivery.last_error = ""
        else:
            delivery.last_error = (error or f"HTTP {status_code}")[:300]
            deadline = delivery.created_at + datetime.timedelta(hours=settings.ACCORD_WEBHOOK_RETRY_HOURS)
            next_at = now() + _backoff(delivery.attempts)
            if refused or next_at > deadline:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = next_at
        delivery.save()
    return delivery


def _send(client: httpx.Client, delivery: Delivery) -> tuple[int | None, str]:
    """POST the delivery once: (status code or None, what went wrong or "").

    The error never holds the URL (a Slack-style URL is itself a credential) nor the secret: a transport failure is
    named by its exception class (a host that does not resolve, by its name), a refusal by its status code and the
    start of the receiver's answer with those removed. `outbound.Refused` is left to the caller.
    """
    body = _body(delivery)
    sent_at = now().replace(microsecond=0)
    headers = {"Content-Type": "application/json"}
    if delivery.subscription.kind == "webhook":
        headers |= webhook_headers(delivery.subscription.secret, delivery.event_id, sent_at, body)
    else:
        headers |= {"webhook-id": delivery.event_id, "webhook-timestamp": str(int(sent_at.timestamp()))}
    status_code = None
    try:
        with client.stream("POST", delivery.subscription.url, content=body, headers=headers) as response:
            status_code = response.status_code
            if response.is_success:
                return status_code, ""
            if response.is_redirect:
                return status_code, f"HTTP {status_code}: redirects are not followed"
            answer = b""
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) >= RESPONSE_READ_BYTES:
                    break
    except outbound.Unresolvable as exc:
        return status_code, str(exc)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return status_code, type(exc).__name__
    # Credentials are removed before cutting, so none is left half-visible at the cut.
    text = _without_credentials(" ".join(answer.decode("utf-8", "replace").split()), delivery.subscription)
    text = text[:RESPONSE_EXCERPT_CHARS]
    return status_code, f"HTTP {status_code}: {text}" if text else f"HTTP {status_code}"


def _without_credentials(text: str, subscription: NotificationSubscription) -> str:
    url = urlsplit(subscription.url)
    candidates = [subscription.url, url.path + (f"?{url.query}" if url.query else ""), url.query,
                  url.password or "", *url.path.split("/"), *url.query.split("&"),
                  subscription.secret, subscription.secret.removeprefix("whsec_")]
    # Longest first, so a whole URL is removed before its parts; short parts ("hooks", "services") are not secrets.
    for candidate in sorted(set(candidates), key=len, reverse=True):
        if len(candidate) >= 12:
            text = text.replace(candidate, "[redacted]")
    return text


def retry_due(at: datetime.datetime | None = None, limit: int = 500) -> list[Delivery]:
    due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=at or now()).order_by(
        "next_attempt_at").values_list("pk", flat=True)[:limit]
    with http_client() as client:
        return [deliver(pk, client=client) for pk in list(due)]


def redeliver(delivery: Delivery, *, actor) -> Delivery:
    """Send a delivery again (the admin's re-send, the API's ``redeliver``): same event id, so receivers can
    de-duplicate. A person may re-send only a delivery they may see (their subscription's; a superuser's, any).
    The re-send is audited, naming who asked, in the transaction that queues it."""
    user = user_of(actor)
    with acting_as(actor), transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
        if user is not None and not Delivery.objects.visible_to(user).filter(pk=delivery.pk).exists():
            raise NotAllowed("Only the subscription's owner may re-send its deliveries.")
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now()
        delivery.save()
        audit.record_event(AuditAction.UPDATE, delivery, reason="Re-send requested",
                           details={"resent": True, "event_id": delivery.event_id,
                                    "subscription": delivery.subscription_id, "before": before})
    from governance import tasks

    transaction.on_commit(lambda: tasks.deliver_notification.delay(delivery.pk))
    return delivery
