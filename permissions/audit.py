"""Writing and verifying the audit log.

Two layers (STYLE.md "Audit without gaps"):

* **change records**, written automatically for every create, update and delete of
  an audited model (``permissions.signals``), with field-level before/after values;
* **events**, written by services: approvals, signatures, token and login events,
  denied requests, reads of restricted objects (``record_event``).

Several changes to one object inside ``batch()`` (a save followed by setting its
tags, say) become one record. Every record is appended to a hash chain under a
lock, so concurrent writers can neither fork nor leave a gap in it.

The chain's tip is kept in a one-row table (``AuditChainHead``). On PostgreSQL an
append is one call of a server-side function (``accord_audit_append``, migration
0007): it moves the head forward (the row lock it takes serialises appenders until
commit), hashes the record in the database from text parts computed here, and
inserts the record. ``seq`` is the order of the chain:
the timestamp is taken just before the append, so concurrent writers' timestamps
may differ from the chain's order by the duration of an append. SQLite appends with
three plain statements inside the writer's transaction (``_append_serialised``).

Denials (403s) and reads of restricted objects repeat: one actor's repeats of the same
event on the same object within an hour (``ACCORD_AUDIT_REPEAT_WINDOW_SECONDS``) are counted,
not chained one by one (``record_event``, ``close_event_windows``), so no user can grow the
chain without bound. Every change record is still chained.

Every record is written inside the transaction of the change it records, so a change
that rolls back takes its records with it. ``batch()`` merges the changes made in it
into one record per object; when savepoints were made inside it, each merged record is
checked against the stored row when the batch ends, so records follow savepoints exactly.
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
from permissions.models import AuditAction, AuditChainHead, AuditEventWindow, AuditRecord

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq", "timestamp", "action", "actor_id", "actor_name", "object_type", "object_id", "object_repr",
    "parent_type", "parent_id", "changes", "details", "request_id", "client_request_id", "client_ip",
    "user_agent", "reason", "prev_hash",
)
# Fields added to the record after records were first written: hashed only when set, so the
# records written before them keep the hashes they were written with.
HASHED_WHEN_SET = ("client_request_id",)


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


def _canonical_values(record: AuditRecord | dict) -> dict[str, Any]:
    data = record if isinstance(record, dict) else {name: getattr(record, name) for name in HASHED_FIELDS}
    data = {name: jsonable(data.get(name)) for name in HASHED_FIELDS}
    for name in HASHED_WHEN_SET:
        if not data[name]:
            del data[name]
    if isinstance(data["timestamp"], str):
        # One spelling of the instant, whatever the database handed back.
        data["timestamp"] = datetime.datetime.fromisoformat(data["timestamp"]).astimezone(datetime.UTC).isoformat()
    return data


# json.dumps with these settings, without building an encoder per call (chain_parts calls it per key).
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical(record: AuditRecord | dict) -> bytes:
    return _dumps(_canonical_values(record)).encode()


def compute_hash(record: AuditRecord | dict) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def chain_parts(record: AuditRecord | dict) -> tuple[str, str, str]:
    """The canonical text of a record around the two values only known under the chain's lock.

    For any ``prev_hash`` and ``seq``: ``canonical(record)`` is the UTF-8 encoding of
    ``before_prev + prev_hash + before_seq + str(seq) + after_seq``. The text is built key by
    key with the same JSON settings as ``canonical``; the keys are sorted, so ``prev_hash``
    (a JSON string) comes before ``seq`` (a bare integer).
    """
    data = record if isinstance(record, dict) else {name: getattr(record, name) for name in HASHED_FIELDS}
    data = _canonical_values({**data, "seq": 0, "prev_hash": GENESIS_HASH})
    parts: list[str] = []
    text = "{"
    for index, key in enumerate(sorted(data)):
        text += ("," if index else "") + _dumps(key) + ":"
        if key == "prev_hash":
            parts.append(text + '"')
            text = '"'
        elif key == "seq":
            parts.append(text)
            text = ""
        else:
            text += _dumps(data[key])
    parts.append(text + "}")
    before_prev, before_seq, after_seq = parts
    return before_prev, before_seq, after_seq


def _chained_hash(parts: tuple[str, str, str], prev_hash: str, seq: int) -> str:
    before_prev, before_seq, after_seq = parts
    return hashlib.sha256(f"{before_prev}{prev_hash}{before_seq}{seq}{after_seq}".encode()).hexdigest()


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


def _prepare(values: dict[str, Any]) -> tuple[tuple[str, str, str], list]:
    """Complete a record's values from the audit context; its canonical text around the chain's
    values, and its content as statement parameters."""
    ctx = context.current()
    actor = ctx.resolved_actor() if ctx else None
    if actor is None and values.get("actor_name") is None:
        require_actor(f"{values.get('action')} of {values.get('object_type')}:{values.get('object_id')}")
    defaults = {
        "actor_id": actor.user_id if actor else None,
        "actor_name": actor.name if actor else "anonymous",
        "request_id": ctx.request_id if ctx else "",
        "client_request_id": ctx.client_request_id if ctx else "",
        "client_ip": ctx.client_ip if ctx else None,
        "user_agent": ctx.user_agent if ctx else "",
        "reason": ctx.reason if ctx else "",
    }
    for key, value in defaults.items():
        if values.get(key) is None:
            values[key] = value
    values["changes"] = jsonable(values.get("changes"))
    values["details"] = jsonable(values.get("details"))
    values["timestamp"] = timezone.now()
    parts = chain_parts(values)
    return parts, [field.get_db_prep_save(values[field.name], connection) for field in _CONTENT_FIELDS]


def _append(**values: Any) -> AuditRecord:
    return _record(values, _append_now(values))


def _append_now(values: dict[str, Any]) -> tuple:
    """Append a record; the row the database returned, its hash checked before the transaction commits."""
    parts, params = _prepare(values)
    # No savepoint: a failed append must fail the whole change it records. Outside any
    # transaction (an event of its own: a restricted read, a login) PostgreSQL's one
    # statement is atomic by itself, and needs no transaction and commit around it.
    with contextlib.nullcontext() if _alone() else transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRESQL_APPEND, [*parts, *params])
            row = cursor.fetchone()
        else:
            row = _append_serialised(cursor, parts, params)
        return _checked_row(parts, row)


def _alone() -> bool:
    """Whether an append is a statement of its own: PostgreSQL, outside any transaction."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _record(values: dict[str, Any], row: tuple) -> AuditRecord:
    pk, seq, prev_hash, record_hash = row
    data = {**values, "id": pk, "seq": seq, "prev_hash": prev_hash, "record_hash": record_hash}
    names = [f.attname for f in AuditRecord._meta.concrete_fields]
    return AuditRecord.from_db(connection.alias, names, [data.get(name) for name in names])


def _checked_row(parts: tuple[str, str, str], row: tuple | None) -> tuple:
    """The row an append returned (id, seq, prev_hash, record_hash), once its hash is the one
    ``verify_chain`` will compute from ``parts``."""
    if row is None:  # PostgreSQL's function starts a missing head itself, so this is not expected
        raise RuntimeError("audit: the append returned no record")
    _, seq, prev_hash, record_hash = row
    if record_hash != _chained_hash(parts, prev_hash, seq):
        # The database hashed other bytes than verify_chain will (a server encoding other than UTF-8?).
        raise RuntimeError(f"audit record #{seq}: the database's hash differs from permissions.audit.compute_hash")
    return row


_RECORDS = AuditRecord._meta.db_table
_HEAD = AuditChainHead._meta.db_table
_CHAINED = ("seq", "prev_hash", "record_hash")
# The record's columns known before the append (everything but the chain's own).
_CONTENT_FIELDS = tuple(f for f in AuditRecord._meta.concrete_fields if f.name != "id" and f.name not in _CHAINED)
_COLUMNS = ", ".join([*_CHAINED, *(f.column for f in _CONTENT_FIELDS)])
_PLACEHOLDERS = ", ".join(["%s"] * len(_CONTENT_FIELDS))

# One round trip: a call of the server-side function (migration permissions 0007) that moves
# the head forward, hashes the record from the parts and the predecessor's hash, and inserts
# it; PL/pgSQL keeps the plan of that statement per session. The row lock the function's
# UPDATE takes on the head is held until commit: it serialises appenders, and an appender
# that waited for it continues from the head the other one committed.
APPEND_FUNCTION = "accord_audit_append"
_POSTGRESQL_APPEND = f"SELECT * FROM {APPEND_FUNCTION}(%s, %s, %s, {_PLACEHOLDERS})"
# SQLite: the head from the last record (or the genesis), when the row is missing: a fresh
# table, or a test database flushed between tests. (PostgreSQL's function does the same.)
_INITIALISE_HEAD = f"""
INSERT INTO {_HEAD} (id, seq, record_hash, prev_hash)
SELECT 1, coalesce(last.seq, 0), coalesce(last.record_hash, %s), coalesce(last.prev_hash, %s)
FROM (SELECT 1 AS one) AS genesis
LEFT JOIN (SELECT seq, record_hash, prev_hash FROM {_RECORDS} ORDER BY seq DESC LIMIT 1) AS last ON 1 = 1
WHERE 1 = 1
ON CONFLICT (id) DO NOTHING
"""


def _append_serialised(cursor, parts: tuple[str, str, str], params: list) -> tuple:
    """SQLite: the transaction already holds the database's write lock (IMMEDIATE mode), or
    SQLite refuses its first write if another writer committed since its read. The head is
    only moved from the seq it was read at, so even then the chain cannot fork."""
    cursor.execute(f"SELECT seq, record_hash FROM {_HEAD} WHERE id = 1")
    head = cursor.fetchone()
    if head is None:
        cursor.execute(_INITIALISE_HEAD, [GENESIS_HASH, GENESIS_HASH])
        cursor.execute(f"SELECT seq, record_hash FROM {_HEAD} WHERE id = 1")
        head = cursor.fetchone()
    seq, prev_hash = head[0] + 1, head[1]
    record_hash = _chained_hash(parts, prev_hash, seq)
    cursor.execute(f"UPDATE {_HEAD} SET seq = %s, prev_hash = %s, record_hash = %s WHERE id = 1 AND seq = %s",
                   [seq, prev_hash, record_hash, seq - 1])
    if cursor.rowcount != 1:
        raise RuntimeError("the audit chain's head moved during an append; retry the change")
    cursor.execute(f"INSERT INTO {_RECORDS} ({_COLUMNS}) VALUES (%s, %s, %s, {_PLACEHOLDERS})",
                   [seq, prev_hash, record_hash, *params])
    return cursor.lastrowid, seq, prev_hash, record_hash


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
                 object_type: str = "", object_id: str = "", object_repr: str = "") -> AuditRecord | None:
    """Write a semantic event (approval, token, login, denial…) now.

    A denial or restricted read (``COUNTED_ACTIONS``) that repeats one already chained in its
    window (same actor, same object) is only counted: the answer is then None.
    """
    values = _event_values(action, obj, details=details, reason=reason, actor_name=actor_name,
                           actor_id=actor_id, object_type=object_type, object_id=object_id, object_repr=object_repr)
    if action in COUNTED_ACTIONS and repeat_window() is not None:
        return _record_counted(values)
    return _append(**values)


def _event_values(action: str, obj: models.Model | None, *, details: dict | None, object_type: str,
                  object_id: str, object_repr: str = "", reason: str | None = None, actor_name: str | None = None,
                  actor_id: int | None = None) -> dict[str, Any]:
    target = describe(obj) if obj is not None else {
        "object_type": object_type, "object_id": object_id, "object_repr": object_repr,
        "parent_type": "", "parent_id": "",
    }
    return {"action": action, "changes": {}, "details": details or {}, "reason": reason, "actor_name": actor_name,
            "actor_id": actor_id, **target}


# --- repeated denials and restricted reads, counted per (actor, object, window) ---------------

#: Events anyone can cause at will, again and again: after the first in its window, one actor's
#: repeats on one object only add to a counter outside the chain (``AuditEventWindow``), and
#: ``close_event_windows`` chains that count once the window has ended.
COUNTED_ACTIONS = frozenset({AuditAction.ACCESS_DENIED, AuditAction.READ_RESTRICTED})
_WINDOWS = AuditEventWindow._meta.db_table


def repeat_window() -> datetime.timedelta | None:
    """The length of a counting window, or None when every event is chained (setting 0)."""
    seconds = getattr(settings, "ACCORD_AUDIT_REPEAT_WINDOW_SECONDS", 3600)
    return datetime.timedelta(seconds=seconds) if seconds and seconds > 0 else None


def window_start(at: datetime.datetime, length: datetime.timedelta) -> datetime.datetime:
    """The start of the window ``at`` falls in: windows are aligned on the epoch, in UTC."""
    seconds = int(length.total_seconds())
    epoch = int(at.timestamp())
    return datetime.datetime.fromtimestamp(epoch - epoch % seconds, tz=datetime.UTC)


def _db_time(value: datetime.datetime):
    """A time as the window table's columns store it (SQLite keeps text in its own spelling)."""
    return AuditEventWindow._meta.get_field("window_start").get_db_prep_value(value, connection)


def _counted_objects(values: dict[str, Any]) -> list[str]:
    """The objects an event is about, one key each: the ids a restricted list read showed, else
    the object's id, else (a denial on a list or a custom route) the path."""
    ids = values["details"].get("ids") if isinstance(values.get("details"), dict) else None
    if isinstance(ids, list) and ids:
        return [str(i) for i in ids]
    if values.get("object_id"):
        return [str(values["object_id"])]
    return ["path:" + str((values.get("details") or {}).get("path", ""))]


def _record_counted(values: dict[str, Any]) -> AuditRecord | None:
    length = repeat_window()
    ctx = context.current()
    actor = ctx.resolved_actor() if ctx else None
    if actor is None and values.get("actor_name") is None:
        require_actor(f"{values['action']} of {values['object_type']}:{values['object_id']}")
    actor_id = values["actor_id"] if values.get("actor_name") is not None else (actor.user_id if actor else None)
    actor_name = values.get("actor_name") or (actor.name if actor else "anonymous")
    # Without an account, the address tells callers apart (anonymous callers never share a window).
    who = [actor_id, actor_name, None if actor_id else (ctx.client_ip if ctx else None)]
    now = timezone.now()
    start = window_start(now, length)
    objects = _counted_objects(values)
    keys = {obj: hashlib.sha256(_dumps([values["action"], *who, values["object_type"], obj]).encode()).hexdigest()
            for obj in objects}
    # A repeat is one statement, atomic on its own, that touches no chained row (no chain lock).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_WINDOWS} SET count = count + 1, last_at = %s WHERE window_start = %s "
            f"AND event_key IN ({', '.join(['%s'] * len(keys))}) RETURNING event_key",
            [_db_time(now), _db_time(start), *keys.values()])
        counted = {row[0] for row in cursor.fetchall()}
    new = [obj for obj in objects if keys[obj] not in counted]
    if not new:
        return None
    if len(new) != len(objects):  # a list read: the record names the objects first read in this window
        ids = [int(obj) if obj.isdigit() else obj for obj in new]
        values = {**values, "details": {**values["details"], "ids": ids},
                  "object_id": new[0] if len(new) == 1 else ""}
    values["details"] = {**values["details"], "repeats_counted_until": (start + length).isoformat()}
    with transaction.atomic(savepoint=False):
        record = _append(**values)
        # Two first events racing for one window may both be chained; the second's row is dropped.
        AuditEventWindow.objects.bulk_create([
            AuditEventWindow(event_key=keys[obj], window_start=start, action=values["action"], actor_id=actor_id,
                             actor_name=actor_name[:150], object_type=values["object_type"][:100],
                             object_id=obj[:64], first_seq=record.seq, count=1, last_at=now)
            for obj in new], ignore_conflicts=True)
    return record


def close_event_windows(at: datetime.datetime | None = None) -> list[AuditRecord]:
    """Chain the counts of the windows that have ended by ``at`` (now) and forget those windows.

    One ``repeated`` record per first record whose objects recurred (a list read's objects share
    one); a window whose event never recurred leaves nothing more. The windows' rows are locked
    while this runs, so a repeat arriving meanwhile is counted before or, finding its row gone,
    chained as the first of a window of its own."""
    length = repeat_window() or datetime.timedelta(hours=1)  # windows left from before counting was switched off
    at = at or timezone.now()
    written = []
    with transaction.atomic():
        ended = list(AuditEventWindow.objects.select_for_update()
                     .filter(window_start__lte=at - length).order_by("first_seq", "object_id"))
        groups: dict[int, list[AuditEventWindow]] = {}
        for window in ended:
            groups.setdefault(window.first_seq, []).append(window)
        for first_seq, windows in groups.items():
            repeated = [w for w in windows if w.count > 1]
            if not repeated:
                continue
            one = windows[0]
            details = {"of": one.action, "first_seq": first_seq, "window_start": one.window_start.isoformat(),
                       "window_end": (one.window_start + length).isoformat(),
                       "last_at": max(w.last_at for w in repeated).isoformat(),
                       "repeats": sum(w.count - 1 for w in repeated)}
            if len(windows) > 1 or one.object_id.startswith("path:"):
                details["repeats_by_object"] = {w.object_id: w.count - 1 for w in repeated}
            single = len(repeated) == 1 and not repeated[0].object_id.startswith("path:")
            written.append(_append(**_event_values(
                AuditAction.REPEATED, None, details=details, object_type=one.object_type,
                object_id=repeated[0].object_id if single else "",
                reason=f"{details['repeats']} repeats of record #{first_seq} in its window",
                actor_name=one.actor_name, actor_id=one.actor_id)))
        AuditEventWindow.objects.filter(pk__in=[w.pk for w in ended]).delete()
    return written


# --- change records, batched per object ---------------------------------------------------------


@dataclass
class _Pending:
    action: str
    target: dict[str, str]
    model: type[models.Model]
    pk: Any
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The object was created in this batch (a later delete does not forget that: the delete
    #: may be rolled back to a savepoint while the create stays).
    created: bool = False
    #: Secret fields' stored values before their first change in the batch (the record shows
    #: only "(hidden)"), so a change rolled back to a savepoint can be told from one that stayed.
    secrets_before: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Batch:
    #: ``connection.savepoint_state`` when the batch began: it counts every savepoint made
    #: on the connection (atomic blocks' and ``transaction.savepoint()``'s alike).
    savepoints_at_start: int
    pending: dict[tuple[str, str], _Pending] = field(default_factory=dict)


_batch: ContextVar[_Batch | None] = ContextVar("accord_audit_batch", default=None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Merge the change records of each object made inside the block into one.

    The block is one transaction (it starts one when none is open; inside one it adds no
    savepoint). Every change made in it, in savepoints opened within it too, is merged
    into one record per object, appended when the block ends, still inside the transaction.
    When a savepoint was made during the block (``transaction.atomic()`` nested in it, or
    ``transaction.savepoint()``), some of those changes may have been rolled back: each
    merged record is then checked against the row as stored at the end, so a record never
    names a change that did not stay (a create rolled back leaves none, a delete rolled back
    leaves none, an update rolled back leaves only what remains changed)."""
    if _batch.get() is not None:
        yield
        return
    with transaction.atomic(savepoint=False):
        current = _Batch(savepoints_at_start=connection.savepoint_state)
        token = _batch.set(current)
        try:
            yield
        finally:
            _batch.reset(token)
        items = list(current.pending.values())
        if connection.savepoint_state != current.savepoints_at_start:
            items = [settled for item in items if (settled := _settle(item)) is not None]
        for item in items:
            if item.action == AuditAction.UPDATE and not item.changes:
                continue
            if item.created and item.action == AuditAction.DELETE:
                continue  # created and deleted in one go: nothing remains
            _append_now({"action": item.action, "changes": item.changes, "details": {}, **item.target})


def _stored(item: _Pending) -> models.Model | None:
    return item.model._base_manager.filter(pk=item.pk).first()


def _stored_value(obj: models.Model, name: str) -> Any:
    from permissions.signals import _snapshot

    model_field = obj._meta.get_field(name)
    if model_field.many_to_many:
        return sorted(getattr(obj, name).values_list("pk", flat=True))
    return _snapshot(obj).get(name)


def _settle(item: _Pending) -> _Pending | None:
    """What of a merged change stayed, read from the row as it is stored now (None: nothing)."""
    from permissions.signals import SECRET_FIELDS, _snapshot

    stored = _stored(item)
    if stored is None:
        if item.created:
            return None  # created, then deleted or rolled back: nothing remains
        if item.action == AuditAction.DELETE:
            return item
        return None  # updated, and the row is gone by a path that records its own delete
    if item.created:
        values = _snapshot(stored)
        values.update({name: _stored_value(stored, name) for name in item.changes if name not in values})
        changes = {name: {"before": None, "after": value} for name, value in sorted(values.items())
                   if value not in (None, "", [], {})}
        for name in SECRET_FIELDS & set(changes):
            changes[name] = {"before": None, "after": "(hidden)"}
        item.action, item.changes = AuditAction.CREATE, changes
        return item
    # Updated (or deleted, and the delete rolled back): what differs from the row before the batch.
    changes = {}
    for name, change in item.changes.items():
        if name in SECRET_FIELDS:
            if name not in item.secrets_before or _stored_value(stored, name) != item.secrets_before[name]:
                changes[name] = change
            continue
        after = _stored_value(stored, name)
        if jsonable(after) != jsonable(change["before"]):
            changes[name] = {"before": change["before"], "after": after}
    item.action, item.changes, item.target = AuditAction.UPDATE, changes, describe(stored)
    return item


def _note_secrets_before(item: _Pending, action: str, obj: models.Model, changes: dict) -> None:
    """Remember the stored value of each secret field a change first touches in the batch: for an
    update, the row as read before the save (``permissions.signals.on_pre_save``); for a delete,
    the deleted instance's own."""
    from permissions.signals import SECRET_FIELDS

    for name in SECRET_FIELDS & set(changes):
        if name in item.secrets_before or item.created:
            continue
        if action == AuditAction.UPDATE:
            before = getattr(obj, "_audit_before", None)
            if before is not None and name in before:
                item.secrets_before[name] = before[name]
        elif action == AuditAction.DELETE:
            item.secrets_before[name] = getattr(obj, obj._meta.get_field(name).attname)


def record_change(action: str, obj: models.Model, changes: dict[str, dict[str, Any]]) -> None:
    target = describe(obj)
    current = _batch.get()
    if current is None:
        if action == AuditAction.UPDATE and not changes:
            return
        _append_now({"action": action, "changes": changes, "details": {}, **target})
        return
    pending = current.pending
    key = (target["object_type"], target["object_id"])
    item = pending.get(key)
    if item is None:
        item = pending[key] = _Pending(action, target, type(obj), obj.pk, dict(changes),
                                       created=action == AuditAction.CREATE)
        _note_secrets_before(item, action, obj, changes)
        return
    _note_secrets_before(item, action, obj, changes)
    if action == AuditAction.DELETE:
        item.action = AuditAction.DELETE
    elif action == AuditAction.CREATE:  # created again after a delete or a rollback
        item.action = AuditAction.CREATE if item.created else AuditAction.UPDATE
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
    #: Where the walk started (0: the genesis; else a verified checkpoint's seq).
    from_seq: int = 0
    #: Signed checkpoints compared with the chain, and of them those whose signature was checked.
    checkpoints_checked: int = 0
    signatures_checked: int = 0
    notes: list[str] = field(default_factory=list)


def verify_chain(chunk: int = 2000, *, start_seq: int = 0, start_hash: str = GENESIS_HASH) -> VerifyResult:
    """Walk the chain in order; report the first record that does not fit.

    From the genesis, or from a point already verified (``start_seq`` and the hash its record
    has: ``permissions.checkpoints.verify`` checks that first), walking only the records after it."""
    expected_prev, expected_seq, checked = start_hash, start_seq + 1, 0
    last_seq: int | None = start_seq or None
    queryset = AuditRecord.objects.order_by("seq")
    start = start_seq
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
    problem = _head_row_problem(last_seq or 0, expected_prev)
    if problem:
        return VerifyResult(False, checked, last_seq, expected_prev, (last_seq or 0) + 1, problem)
    return VerifyResult(True, checked, last_seq, expected_prev)


def _head_row_problem(last_seq: int, last_hash: str) -> str:
    """What is wrong with the chain's head row, given the last record the walk saw ("" when nothing).

    A head ahead of that record is fine when its record exists (appended while the walk ran: the
    head row and its record commit together); otherwise records were removed from the end of the
    log, which the walk alone cannot see. A missing row is rebuilt from the records by the next append.
    """
    head = AuditChainHead.objects.filter(id=1).values_list("seq", "record_hash").first()
    if head is None:
        return ""
    seq, record_hash = head
    if seq > last_seq:
        if AuditRecord.objects.filter(seq=seq, record_hash=record_hash).exists():
            return ""
        return (f"the chain's head row says the log ends at #{seq}, but it ends at #{last_seq}: "
                "records were removed from the end, or the head row was altered")
    if seq < last_seq or record_hash != last_hash:
        return (f"the chain's head row (#{seq}) does not match the last record (#{last_seq}): "
                "the next record would not fit")
    return ""


def chain_head() -> dict[str, Any]:
    head = AuditRecord.objects.order_by("-seq").values("seq", "record_hash", "timestamp").first()
    if head is None:
        return {"seq": 0, "hash": GENESIS_HASH, "timestamp": None}
    return {"seq": head["seq"], "hash": head["record_hash"], "timestamp": head["timestamp"]}
