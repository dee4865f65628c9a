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
may differ from the chain's order by the duration of an append.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from permissions import context
from permissions.models import AuditAction, AuditChainHead, AuditRecord

GENESIS_HASH = "0" * 64
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


def _canonical_values(record: AuditRecord | dict) -> dict[str, Any]:
    data = record if isinstance(record, dict) else {name: getattr(record, name) for name in HASHED_FIELDS}
    data = {name: jsonable(data[name]) for name in HASHED_FIELDS}
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
            row = _append_postgresql(cursor, parts, params)
        else:
            row = _append_serialised(cursor, parts, params)
        return _checked_row(parts, row)


def _alone() -> bool:
    """Whether an append is a statement of its own: PostgreSQL (UTF-8), outside any transaction."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block and _utf8_server()


def _record(values: dict[str, Any], row: tuple) -> AuditRecord:
    pk, seq, prev_hash, record_hash = row
    record = AuditRecord(id=pk, seq=seq, prev_hash=prev_hash, record_hash=record_hash, **values)
    record._state.adding = False
    record._state.db = connection.alias
    return record


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


def _utf8_server() -> bool:
    """Whether the PostgreSQL server stores text as UTF-8, so that its hash of a record is
    the one ``compute_hash`` makes (checked once per connection)."""
    connection.ensure_connection()
    raw = connection.connection
    known = getattr(raw, "accord_utf8_server", None)
    if known is None:
        known = raw.info.parameter_status("server_encoding") in ("UTF8", "UTF-8")
        raw.accord_utf8_server = known  # a new connection asks again
    return known


def _append_postgresql(cursor, parts: tuple[str, str, str], params: list) -> tuple | None:
    cursor.execute(_POSTGRESQL_APPEND, [*parts, *params])
    return cursor.fetchone()


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
                 object_type: str = "", object_id: str = "", object_repr: str = "") -> AuditRecord:
    """Write a semantic event (approval, token, login, denial…) now."""
    return _append(**_event_values(action, obj, details=details, reason=reason, actor_name=actor_name,
                                   actor_id=actor_id, object_type=object_type, object_id=object_id,
                                   object_repr=object_repr))


def _event_values(action: str, obj: models.Model | None, *, details: dict | None, object_type: str,
                  object_id: str, object_repr: str = "", reason: str | None = None, actor_name: str | None = None,
                  actor_id: int | None = None) -> dict[str, Any]:
    target = describe(obj) if obj is not None else {
        "object_type": object_type, "object_id": object_id, "object_repr": object_repr,
        "parent_type": "", "parent_id": "",
    }
    return {"action": action, "changes": {}, "details": details or {}, "reason": reason, "actor_name": actor_name,
            "actor_id": actor_id, **target}


class _SentAppend:
    """An event's append sent to PostgreSQL without waiting for its answer, so that the database
    writes the record while the request renders its response. ``confirm`` reads the answer and
    checks the hash; the connection's next statement confirms it first (an execute wrapper),
    and the request middleware confirms it before the response leaves."""

    def __init__(self, values: dict[str, Any], parts: tuple[str, str, str], params: list):
        from django.db import DEFAULT_DB_ALIAS, connections
        from psycopg import ClientCursor, generators

        self.values, self.parts, self.row, self.record = values, parts, None, None
        self.wrapper = connections[DEFAULT_DB_ALIAS]
        self.wrapper.ensure_connection()
        self.raw = self.wrapper.connection
        text = ClientCursor(self.raw).mogrify(_POSTGRESQL_APPEND, [*parts, *params])
        self.raw.pgconn.send_query(text.encode())  # the simple protocol: committed as it runs
        self.raw.wait(generators.send(self.raw.pgconn))
        self.wrapper.execute_wrappers.append(self._before_next_statement)
        self.wrapper.accord_sent_append = self

    def _before_next_statement(self, execute, sql, params, many, context):
        self.read_answer()
        return execute(sql, params, many, context)

    def confirm(self) -> AuditRecord:
        """The record, once the database's answer is read and checked."""
        self.read_answer()
        if self.record is None:
            self.record = _record(self.values, self.row)
        return self.record

    def read_answer(self) -> None:
        """Read the database's answer (raising its error, if it refused the append) and check the hash."""
        if self.row is not None:
            return
        from psycopg import errors, generators, pq

        self.wrapper.execute_wrappers.remove(self._before_next_statement)
        self.wrapper.accord_sent_append = None
        results = self.raw.wait(generators.fetch_many(self.raw.pgconn))
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                with self.wrapper.wrap_database_errors:  # as Django's own statements raise them
                    raise errors.error_from_result(result, encoding=self.raw.info.encoding)
        answer = results[-1] if results else None
        row = None
        if answer is not None and answer.ntuples:
            pk, seq, prev_hash, record_hash = (answer.get_value(0, column).decode() for column in range(4))
            row = (int(pk), int(seq), prev_hash, record_hash)
        self.row = _checked_row(self.parts, row)


def record_event_soon(action: str, *, details: dict | None = None, object_type: str = "",
                      object_id: str = "") -> Callable[[], AuditRecord]:
    """``record_event`` for an event of its own (a restricted read) that a response is about to
    show: on PostgreSQL, outside any transaction, the append is sent now and its answer read
    later (``confirm_sent``, at the latest before the response leaves); elsewhere it is written
    now. Returns what gives the record."""
    values = _event_values(action, None, details=details, object_type=object_type, object_id=object_id)
    if not _alone() or getattr(connection, "accord_sent_append", None) is not None:
        record = _append(**values)
        return lambda: record
    parts, params = _prepare(values)
    return _SentAppend(values, parts, params).confirm


def confirm_sent() -> None:
    """Read and check the answer of an append sent by ``record_event_soon``, if one is pending
    (raises if the database refused it)."""
    sent = getattr(connection, "accord_sent_append", None)
    if sent is not None:
        sent.read_answer()  # nobody reads the record back: no model instance


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
            _append_change(action=item.action, changes=item.changes, details={}, **item.target)
    finally:
        if token is not None:
            _batch.reset(token)


def record_change(action: str, obj: models.Model, changes: dict[str, dict[str, Any]]) -> None:
    target = describe(obj)
    pending = _batch.get()
    if pending is None:
        if action == AuditAction.UPDATE and not changes:
            return
        _append_change(action=action, changes=changes, details={}, **target)
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


def _append_change(**values: Any) -> None:
    """Append a change record now, or leave it for the commit of the outermost transaction."""
    if _at_commit():
        _leave_for_commit(values)
    else:
        _append_now(values)  # nobody reads the record back: no model instance


# --- change records sent with the COMMIT (config/postgresql) -------------------------------------


def _at_commit() -> bool:
    """Whether a change record may wait for the commit: the change was made directly in the
    outermost transaction, on a backend that sends records with its COMMIT (``config.postgresql``),
    whose server hashes text as ``verify_chain`` does."""
    return (getattr(connection, "accord_appends_at_commit", False) and len(connection.atomic_blocks) == 1
            and not connection.needs_rollback and _utf8_server())


def _leave_for_commit(values: dict[str, Any]) -> None:
    # The actor, the time and the text are taken now; only the append waits.
    connection.accord_pending_appends.append(_prepare(values))


def append_pending(wrapper) -> None:
    """Append now the records waiting for the commit of ``wrapper``'s transaction (before another
    statement runs in it: a read of the log, a savepoint, anything)."""
    pending = take_pending(wrapper)
    if pending:
        with wrapper.cursor() as cursor:
            for parts, params in pending:
                _checked_row(parts, _append_postgresql(cursor, parts, params))


def take_pending(wrapper) -> list:
    """The records waiting for the commit, handed over (and no longer waiting)."""
    pending = wrapper.accord_pending_appends
    if pending:
        wrapper.accord_pending_appends = []
    return pending


def commit_with_pending(wrapper) -> None:
    """Commit ``wrapper``'s transaction with the records waiting for it, in one message: their
    appends, then ``COMMIT``. If an append fails, PostgreSQL skips the ``COMMIT`` and the error
    is raised, so the change is not committed without its records."""
    from psycopg import ClientCursor

    pending = take_pending(wrapper)
    quote = ClientCursor(wrapper.connection).mogrify
    statements = [quote(_POSTGRESQL_APPEND, [*parts, *params]) for parts, params in pending]
    with wrapper.cursor() as cursor:
        cursor.execute(";\n".join([*statements, "COMMIT"]))  # no parameters: sent as it is
        for index, (parts, _) in enumerate(pending):
            if index:
                cursor.nextset()
            _checked_row(parts, cursor.fetchone())  # committed already, as the database made it


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
