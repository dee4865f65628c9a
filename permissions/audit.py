"""Writing and verifying the audit log.

Two layers (STYLE.md "Audit without gaps"):

* **change records**, written automatically for every create, update and delete of
  an audited model (``permissions.signals``), with field-level before/after values;
* **events**, written by services: approvals, signatures, token and login events,
  denied requests, reads of restricted objects (``record_event``).

Several changes to one object inside ``batch()`` (a save followed by setting its
tags, say) become one record. Every record is appended to a hash chain under a
lock, so concurrent writers can neither fork nor leave a gap in it.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from permissions import context
from permissions.models import AuditAction, AuditRecord

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_KEY = 0x61636364  # "accd"; serialises appends on PostgreSQL
HASHED_FIELDS = (
    "seq", "timestamp", "action", "actor_id", "actor_name", "object_type", "object_id", "object_repr",
    "parent_type", "parent_id", "changes", "details", "request_id", "client_ip", "user_agent", "reason",
    "prev_hash",
)


def jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        items = [jsonable(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set) else items
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # time zones, UUIDs and the like: their text is what a reader needs


def canonical(record: AuditRecord | dict) -> bytes:
    data = record if isinstance(record, dict) else {name: getattr(record, name) for name in HASHED_FIELDS}
    data = {name: jsonable(data[name]) for name in HASHED_FIELDS}
    if isinstance(data["timestamp"], str):
        # One spelling of the instant, whatever the database handed back.
        data["timestamp"] = datetime.datetime.fromisoformat(data["timestamp"]).astimezone(datetime.UTC).isoformat()
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(record: AuditRecord | dict) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
    # SQLite serialises writers itself: the transaction holds the database's write
    # lock from its first write (or from BEGIN in IMMEDIATE mode) until commit.


def require_actor(what: str) -> None:
    """Refuse, before anything is written, a change nobody is accountable for
    (when ``ACCORD_AUDIT_REQUIRE_ACTOR`` is on)."""
    if not getattr(settings, "ACCORD_AUDIT_REQUIRE_ACTOR", False):
        return
    ctx = context.current()
    if ctx is None or ctx.resolved_actor() is None:
        raise context.MissingActorError(
            f"The {what} has no actor; wrap work outside a request in permissions.context.system_actor(...)"
        )


def _append(**values: Any) -> AuditRecord:
    ctx = context.current()
    actor = ctx.resolved_actor() if ctx else None
    if actor is None and values.get("actor_name") is None:
        require_actor(f"{values.get('action')} of {values.get('object_type')}:{values.get('object_id')}")
    defaults = {
        "actor_id": actor.user_id if actor else None,
        "actor_name": actor.name if actor else "anonymous",
        "request_id": ctx.request_id if ctx else "",
        "client_ip": ctx.client_ip if ctx else None,
        "user_agent": ctx.user_agent if ctx else "",
        "reason": ctx.reason if ctx else "",
    }
    for key, value in defaults.items():
        if values.get(key) is None:
            values[key] = value
    # No savepoint: a failed append must fail the whole change it records.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        head = AuditRecord.objects.order_by("-seq").values_list("seq", "record_hash").first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        record = AuditRecord(seq=seq, prev_hash=prev_hash, timestamp=timezone.now(), **values)
        record.changes = jsonable(record.changes)
        record.details = jsonable(record.details)
        record.record_hash = compute_hash(record)
        record.save(force_insert=True)
    return record


def describe(obj: models.Model) -> dict[str, str]:
    """Type, id and text of an object for its audit record, and its parent's type and id
    (read from the foreign key, so it works while a cascade deletes the parent first)."""
    from django.core.exceptions import ObjectDoesNotExist

    parent = getattr(obj, "audit_parent", None)
    parent_type, parent_id = "", ""
    if parent:
        field = obj._meta.get_field(parent)
        value = getattr(obj, field.attname)
        if value is not None:
            parent_type, parent_id = field.related_model._meta.label_lower, str(value)
    try:
        text = str(obj)
    except ObjectDoesNotExist:
        text = f"{obj._meta.verbose_name} #{obj.pk}"
    return {"object_type": obj._meta.label_lower, "object_id": str(obj.pk), "object_repr": text[:300],
            "parent_type": parent_type, "parent_id": parent_id}


def record_event(action: str, obj: models.Model | None = None, *, details: dict | None = None,
                 reason: str | None = None, actor_name: str | None = None, actor_id: int | None = None,
                 object_type: str = "", object_id: str = "", object_repr: str = "") -> AuditRecord:
    """Write a semantic event (approval, token, login, denial…) now."""
    target = describe(obj) if obj is not None else {
        "object_type": object_type, "object_id": object_id, "object_repr": object_repr,
        "parent_type": "", "parent_id": "",
    }
    return _append(action=action, changes={}, details=details or {}, reason=reason, actor_name=actor_name,
                   actor_id=actor_id, **target)


# --- change records, batched per object ---------------------------------------------------------


@dataclass
class _Pending:
    action: str
    target: dict[str, str]
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


_batch: ContextVar[dict | None] = ContextVar("accord_audit_batch", default=None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Merge the change records of each object made inside the block into one."""
    if _batch.get() is not None:
        yield
        return
    pending: dict[tuple[str, str], _Pending] = {}
    token = _batch.set(pending)
    try:
        yield
        _batch.reset(token)
        token = None
        for item in pending.values():
            if item.action == AuditAction.UPDATE and not item.changes:
                continue
            _append(action=item.action, changes=item.changes, details={}, **item.target)
    finally:
        if token is not None:
            _batch.reset(token)


def record_change(action: str, obj: models.Model, changes: dict[str, dict[str, Any]]) -> None:
    target = describe(obj)
    pending = _batch.get()
    if pending is None:
        if action == AuditAction.UPDATE and not changes:
            return
        _append(action=action, changes=changes, details={}, **target)
        return
    key = (target["object_type"], target["object_id"])
    item = pending.get(key)
    if item is None:
        pending[key] = _Pending(action, target, dict(changes))
        return
    if action == AuditAction.DELETE:
        if item.action == AuditAction.CREATE:
            del pending[key]  # created and deleted in one go: nothing remains
            return
        item.action = AuditAction.DELETE
    for name, change in changes.items():
        if name in item.changes:
            item.changes[name]["after"] = change["after"]
        else:
            item.changes[name] = change
    item.target = target


# --- verification ------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int | None
    head_hash: str
    broken_seq: int | None = None
    problem: str = ""


def verify_chain(chunk: int = 2000) -> VerifyResult:
    """Walk the chain in order; report the first record that does not fit."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq: int | None = None
    queryset = AuditRecord.objects.order_by("seq")
    start = 0
    while True:
        rows = list(queryset.filter(seq__gt=start)[:chunk])
        if not rows:
            break
        for record in rows:
            if record.seq != expected_seq:
                return VerifyResult(False, checked, last_seq, expected_prev, expected_seq,
                                    f"record #{expected_seq} is missing (next is #{record.seq})")
            if record.prev_hash != expected_prev:
                return VerifyResult(False, checked, last_seq, expected_prev, record.seq,
                                    f"record #{record.seq} does not point at its predecessor's hash")
            if compute_hash(record) != record.record_hash:
                return VerifyResult(False, checked, last_seq, expected_prev, record.seq,
                                    f"record #{record.seq} was altered: its content no longer matches its hash")
            expected_prev, expected_seq, last_seq = record.record_hash, record.seq + 1, record.seq
            checked += 1
        start = rows[-1].seq
    return VerifyResult(True, checked, last_seq, expected_prev)


def chain_head() -> dict[str, Any]:
    head = AuditRecord.objects.order_by("-seq").values("seq", "record_hash", "timestamp").first()
    if head is None:
        return {"seq": 0, "hash": GENESIS_HASH, "timestamp": None}
    return {"seq": head["seq"], "hash": head["record_hash"], "timestamp": head["timestamp"]}
