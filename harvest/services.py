"""Harvesting a System's live source into the catalog, and the drift it finds.

Precedence: the source is authoritative for what exists and its physical facts (kind, types,
nullability, keys, position, default, size, row estimate, its own comment kept as
``source_description``); people are for curated metadata (name, description, owners,
steward, classification, tags, lifecycle), which a harvest never writes. A vanished object is
marked ``removed_from_source_at`` (never deleted) and restored when it comes back; a vanished
column is deleted (its audit record keeps what it held).

Set-based: each schema's objects are compared with the registry read in two queries; only
differences are written, each through the model's audited save or delete, under the actor
``system:harvest:<run id>``. A harvest that changes nothing writes no catalog row and no
audit record (only its run row)."""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import logging
import re
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog.lineage_sync import replace_edges
from catalog.models import Dataset, Field, LineageEdge, System
from catalog.models.lineage import HARVEST_ORIGINS, LineageOrigin
from catalog.signals import schema_changed
from harvest.connectors.base import SchemaBatch, SourceObject
from harvest.connectors.postgresql import connector_for
from harvest.lineage import parse_view
from harvest.models import (
    ChangeKind,
    Compatibility,
    FieldRelationship,
    HarvestRun,
    HarvestSettings,
    HarvestStatus,
    HarvestTrigger,
    SchemaChange,
)
from permissions import audit, context
from permissions.access import restricted_flag
from permissions.context import Actor

logger = logging.getLogger(__name__)
KINDS = ("datasets", "fields", "relationships", "lineage")


class HarvestError(Exception):
    pass


def selector(system: System):
    """A predicate on qualified names from the System's include and exclude patterns."""
    config = HarvestSettings.objects.filter(system=system).first()
    include = config.include if config else []
    exclude = config.exclude if config else []

    def selected(name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude):
            return False
        return not include or any(fnmatch.fnmatchcase(name, pattern) for pattern in include)

    return selected


def get_or_create_run(system: System, *, trigger: str, scheduled_for: datetime.datetime | None = None,
                      requested_by=None) -> tuple[HarvestRun, bool]:
    at = scheduled_for or timezone.now()
    existing = HarvestRun.objects.filter(system=system, scheduled_for=at).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return HarvestRun.objects.create(system=system, trigger=trigger, scheduled_for=at,
                                             requested_by=requested_by), True
    except IntegrityError:  # another worker made it a moment ago
        return HarvestRun.objects.get(system=system, scheduled_for=at), False


#: The first key of the PostgreSQL advisory locks that keep one System's harvests one at a time.
_LOCK_NAMESPACE = 0x48525653  # "HRVS"


@contextlib.contextmanager
def _one_at_a_time(system: System):
    """On PostgreSQL, wait for any other harvest of ``system`` to finish (a session-level advisory
    lock, released when the harvest ends or its connection goes): two deliveries of one tick, or a
    scheduled and a manual harvest, do not reconcile the same datasets at once."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, system.pk])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, system.pk])


def harvest(system: System, *, trigger: str = HarvestTrigger.COMMAND, requested_by=None,
            scheduled_for: datetime.datetime | None = None) -> HarvestRun:
    """Harvest ``system`` now (or finish the run of ``scheduled_for``); the run, finished."""
    run, _ = get_or_create_run(system, trigger=trigger, scheduled_for=scheduled_for, requested_by=requested_by)
    if run.status != HarvestStatus.RUNNING:
        return run  # a redelivered task: this tick's harvest already ran
    with _one_at_a_time(system):
        run.refresh_from_db()
        if run.status != HarvestStatus.RUNNING:
            return run  # the same run, finished by the harvest this one waited for
        return _harvest(system, run)


def _harvest(system: System, run: HarvestRun) -> HarvestRun:
    from governance.services.compliance import SourceNotConfigured, dsn_for

    actor = Actor(system=run.actor_name)
    reconciler = _Reconciler(system, run)
    try:
        dsn = dsn_for(system)
        connector_class = connector_for(system.connection_engine)
        with context.acting_as(actor, reason=f"Harvest #{run.pk} of {system.name}"), \
                connector_class(dsn, statement_timeout_ms=settings.ACCORD_CHECK_STATEMENT_TIMEOUT_MS) as connector:
            for batch in connector.batches(reconciler.selected):
                reconciler.reconcile(batch)
            reconciler.finish()
            run.warnings = connector.warnings
        run.status = HarvestStatus.PARTIAL if run.warnings else HarvestStatus.SUCCEEDED
    except (SourceNotConfigured, KeyError) as exc:
        run.errors = [str(exc) if not isinstance(exc, KeyError) else f"No connector for engine {exc}."]
        run.status = HarvestStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - a failed harvest is recorded on its run, never a crash
        import sqlite3

        import psycopg

        from governance.checks.data import CheckSetupError, SourceUnavailable

        if isinstance(exc, (SourceUnavailable, CheckSetupError, HarvestError, psycopg.Error, sqlite3.Error)):
            run.errors = [f"{type(exc).__name__}: {exc}"[:2000]]  # the source's own answer
        else:
            # The registry's database, or a bug: what this batch wrote is rolled back (each schema is
            # one transaction), and the run ends failed instead of staying "running" behind a crash.
            logger.exception("Harvest #%s of %s failed", run.pk, system.slug)
            run.errors = [f"The harvest failed ({type(exc).__name__}); schemas reconciled before it are kept, the "
                          "one in progress was rolled back; the server log has the details."]
        run.status = HarvestStatus.FAILED
    run.counts = reconciler.counts
    run.finished_at = timezone.now()
    run.save()
    return run


# --- types -------------------------------------------------------------------------------------

_INTEGERS = ["smallint", "integer", "bigint"]
_FLOATS = ["real", "double precision"]
_INTEGER_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}  # decimal digits a numeric needs to hold it
_EXACT_IN = {"real": {"smallint"}, "double precision": {"smallint", "integer"}}  # integers held without loss
_DEFAULT_PRECISION = {"timestamp": 6, "timestamptz": 6, "time": 6, "timetz": 6, "interval": 6, "character": 1}
_ALIASES = {"int2": "smallint", "int": "integer", "int4": "integer", "int8": "bigint", "float4": "real",
            "float8": "double precision", "float": "double precision", "double": "double precision",
            "bool": "boolean", "decimal": "numeric", "char": "character", "bpchar": "character",
            "character varying": "varchar", "timestamp without time zone": "timestamp",
            "timestamp with time zone": "timestamptz", "time without time zone": "time",
            "time with time zone": "timetz"}


def _parse_type(text: str) -> tuple[str, tuple[int, ...]]:
    """(base type, its modifiers) in one spelling for the ways PostgreSQL's ``format_type`` and
    SQLite's declarations write it: ``character varying(20)`` and ``VARCHAR(20)`` are
    ``("varchar", (20,))``, ``timestamp(3) with time zone`` is ``("timestamptz", (3,))``; an
    array keeps ``[]`` on its base."""
    text = " ".join(text.strip().lower().split())
    dimensions = 0
    while text.endswith("[]"):
        text, dimensions = text[:-2].rstrip(), dimensions + 1
    match = re.fullmatch(r"([a-z][a-z\d ]*?)\s*(?:\(([\d,\s]+)\)\s*([a-z ]*))?", text)
    if not match:
        return text + "[]" * dimensions, ()
    name = " ".join(part for part in (match.group(1), match.group(3)) if part)
    params = tuple(int(p) for p in match.group(2).split(",")) if match.group(2) else ()
    return _ALIASES.get(name, name) + "[]" * dimensions, params


def _numeric_room(params: tuple[int, ...]) -> tuple[float, float]:
    """(digits before the point, digits after) a numeric holds; unbounded without modifiers."""
    if not params:
        return float("inf"), float("inf")
    precision, scale = params[0], params[1] if len(params) > 1 else 0
    return precision - scale, scale


def _holds(before: tuple[str, tuple[int, ...]], after: tuple[str, tuple[int, ...]]) -> bool | None:
    """Whether every value of ``before`` fits ``after`` unchanged (None: the two are different kinds of value)."""
    (b, bp), (a, ap) = before, after
    if b == a:
        if b == "numeric":
            return all(x <= y for x, y in zip(_numeric_room(bp), _numeric_room(ap), strict=True))
        bp = bp or ((_DEFAULT_PRECISION[b],) if b in _DEFAULT_PRECISION else ())
        ap = ap or ((_DEFAULT_PRECISION[a],) if a in _DEFAULT_PRECISION else ())
        if not ap:
            return True  # varchar(n) -> varchar: no limit now
        return len(bp) == len(ap) and all(x <= y for x, y in zip(bp, ap, strict=True))
    if b in ("varchar", "character", "text") and a in ("varchar", "text"):
        if b == "character" and a == "varchar":
            return None  # blank-padded to not padded: the values change
        return not ap
    if b == "text" and a == "character":
        return False
    for family in (_INTEGERS, _FLOATS):
        if b in family and a in family:
            return family.index(a) >= family.index(b)
    if b in _INTEGERS and a == "numeric":
        return _numeric_room(ap)[0] >= _INTEGER_DIGITS[b]
    if b in _INTEGERS and a in _FLOATS:
        return b in _EXACT_IN[a]
    if b in ("numeric", *_FLOATS) and a in _INTEGERS:
        return False
    return None


def type_change(before: str, after: str) -> str:
    """widened, narrowed or changed (``before`` and ``after`` differ as written). Widened: every
    value of ``before`` fits ``after`` unchanged (the same type spelled another way, ``int`` and
    ``integer``, is widened too: nothing is lost); narrowed: the same kind of value with less
    room (a shorter varchar, fewer digits, a smaller integer); changed: another kind of value
    (text to integer, timestamp to timestamptz, char to varchar)."""
    (b, bp), (a, ap) = _parse_type(before), _parse_type(after)
    if b.endswith("[]") or a.endswith("[]"):
        if len(b) - len(b.rstrip("[]")) != len(a) - len(a.rstrip("[]")):
            return ChangeKind.TYPE_CHANGED  # a value and an array of them, or arrays of other dimensions
        b, a = b.rstrip("[]"), a.rstrip("[]")
    holds = _holds((b, bp), (a, ap))
    if holds is None:
        return ChangeKind.TYPE_CHANGED
    return ChangeKind.TYPE_WIDENED if holds else ChangeKind.TYPE_NARROWED


# --- contracts ---------------------------------------------------------------------------------


def _contract_terms(dataset: Dataset) -> list[tuple[Any, dict[str, dict]]]:
    """(contract, contracted fields by physical name) of each active contract covering ``dataset``."""
    from governance.checks.metadata import datasets_by_schema_object
    from governance.choices import ContractStatus
    from governance.models import DataContract

    found = []
    for contract in DataContract.objects.filter(datasets=dataset, versions__status=ContractStatus.ACTIVE).distinct():
        version = contract.active_version()
        if version is None:
            continue
        mapping = datasets_by_schema_object(version)
        for obj in version.terms.get("schema", []) or []:
            if mapping.get(obj.get("name")) is not None and mapping[obj.get("name")].pk == dataset.pk:
                found.append((contract, {spec.get("physical_name") or spec["name"]: spec
                                         for spec in obj.get("fields", []) or []}))
    return found


def classify(change: SchemaChange, terms: list[tuple[Any, dict[str, dict]]]) -> None:
    """Breaking when it breaks an active contract's schema terms: a contracted field removed, its
    type narrowed or changed, a required field made nullable, a contracted key field no longer a
    key, the dataset gone from the source."""
    broken = []
    for contract, fields in terms:
        spec = fields.get(change.field_name) if change.field_name else None
        kind = change.kind
        if kind == ChangeKind.DATASET_REMOVED:  # a contract naming the dataset breaks, fields listed or not
            broken.append(contract.pk)
        elif spec is None:
            continue
        elif kind in (ChangeKind.FIELD_REMOVED, ChangeKind.TYPE_NARROWED, ChangeKind.TYPE_CHANGED) or (
                kind == ChangeKind.NULLABILITY_CHANGED and change.after and spec.get("required")) or (
                kind == ChangeKind.KEY_CHANGED and not change.after and spec.get("primary_key")):
            broken.append(contract.pk)
    change.contracts = broken
    change.compatibility = Compatibility.BREAKING if broken else Compatibility.COMPATIBLE


# --- reconciliation ----------------------------------------------------------------------------


class _Registered(NamedTuple):
    """A registered field's physical facts, as compared with the source's (no model instance: most are
    unchanged; the changed ones are loaded whole, in one query per schema, to be saved or deleted)."""

    pk: int
    name: str
    data_type: str
    nullable: bool
    is_key: bool
    position: int
    source_default: str
    source_description: str


class _Ref(NamedTuple):
    pk: int
    dataset_id: int


class _Reconciler:
    def __init__(self, system: System, run: HarvestRun):
        self.system, self.run = system, run
        self.selected = selector(system)
        self.counts = {kind: {"added": 0, "changed": 0, "removed": 0, "unchanged": 0} for kind in KINDS}
        self.seen: set[str] = set()
        self.complete = True
        self.changes: list[SchemaChange] = []
        self.foreign_keys: list[tuple[str, Any]] = []
        self.views: list[tuple[str, SourceObject]] = []
        # This schema's changed and vanished fields: (dataset, column, changed facts, id) and (dataset, field).
        self._updates: list[tuple[Dataset, str, dict[str, Any], int]] = []
        self._removals: list[tuple[Dataset, _Registered]] = []
        self._ids: dict[str, int] = {}  # the system's datasets by qualified name, read when the batches are done

    def _change(self, dataset, kind, *, field=None, field_name="", before=None, after=None,
                field_restricted=False) -> None:
        self.changes.append(SchemaChange(run=self.run, dataset=dataset, field=field, field_name=field_name,
                                         kind=kind, before=before, after=after, field_restricted=field_restricted))

    def reconcile(self, batch: SchemaBatch) -> None:
        names = [obj.qualified_name for obj in batch.objects]
        self.seen.update(names)
        with transaction.atomic(), audit.batch():
            registered = {d.qualified_name: d for d in Dataset.objects.filter(system=self.system,
                                                                               qualified_name__in=names)}
            fields: dict[int, dict[str, _Registered]] = {}
            for dataset_id, *row in Field.objects.filter(dataset__in=[d.pk for d in registered.values()]) \
                    .values_list("dataset_id", *_Registered._fields):
                fields.setdefault(dataset_id, {})[row[1]] = _Registered(*row)
            for obj in batch.objects:
                dataset = registered.get(obj.qualified_name)
                self._dataset(obj, dataset, fields.get(dataset.pk, {}) if dataset else {}, batch.missing)
                for key in obj.foreign_keys:
                    self.foreign_keys.append((obj.qualified_name, key))
                if obj.kind == "view":
                    self.views.append((batch.schema, obj))
            self._write_field_changes()

    def _dataset(self, obj: SourceObject, dataset: Dataset | None, fields: dict[str, _Registered], missing) -> None:
        facts: dict[str, Any] = {"kind": obj.kind}
        if "comments" not in missing:
            facts["source_description"] = obj.comment
        # A view declares no keys and no NOT NULL: what is registered for it (by people) stays.
        declares_keys = "keys" not in missing and obj.kind != "view"
        if declares_keys:
            facts["key_fields"] = obj.primary_key
            facts["unique_keys"] = obj.unique_keys
        if obj.row_estimate is not None:
            facts["row_count"] = obj.row_estimate
        if "sizes" not in missing and obj.size_bytes is not None:
            facts["size_bytes"] = obj.size_bytes
        counts = self.counts["datasets"]
        if dataset is None:
            dataset = Dataset(system=self.system, qualified_name=obj.qualified_name, name=obj.qualified_name, **facts)
            dataset.save()
            counts["added"] += 1
            self._change(dataset, ChangeKind.DATASET_ADDED)
            new = True
        else:
            new = False
            changed = [name for name, value in facts.items() if getattr(dataset, name) != value]
            if dataset.removed_from_source_at is not None:
                dataset.removed_from_source_at = None
                changed.append("removed_from_source_at")
                self._change(dataset, ChangeKind.DATASET_RESTORED)
            if changed:
                for name in changed:
                    if name in facts:
                        setattr(dataset, name, facts[name])
                dataset.save()
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
        if "columns" not in missing:
            self._fields(dataset, obj, fields, new, keys=declares_keys, comments="comments" not in missing)

    def _fields(self, dataset: Dataset, obj: SourceObject, fields: dict[str, _Registered], new: bool, *,
                keys: bool, comments: bool) -> None:
        counts = self.counts["fields"]
        key_columns = set(obj.primary_key)
        wanted = set()
        for column in obj.columns:
            wanted.add(column.name)
            is_key = column.name in key_columns if keys else None
            current = fields.get(column.name)
            if obj.kind == "view":  # a view's columns are all "nullable" to the source: keep what is registered
                nullable = current.nullable if current is not None else True
            else:
                nullable = column.nullable and not is_key
            if current is not None and current[2:] == (  # the common case, without building the facts below
                    column.data_type[:120] or current.data_type, nullable, current.is_key if is_key is None else
                    is_key, column.position, column.default, column.comment if comments else
                    current.source_description):
                counts["unchanged"] += 1
                continue
            facts = {"nullable": nullable, "position": column.position, "source_default": column.default}
            if comments:  # comments the role could not read stay as registered
                facts["source_description"] = column.comment
            if column.data_type:  # a source that declares no type (SQLite) leaves the registered one
                facts["data_type"] = column.data_type[:120]
            if is_key is not None:
                facts["is_key"] = is_key
            if current is None:
                current = Field(dataset=dataset, name=column.name, **facts)
                current.data_type = current.data_type or ""
                current.save()
                counts["added"] += 1
                if not new:
                    self._change(dataset, ChangeKind.FIELD_ADDED, field=current, field_name=column.name,
                                 after={"data_type": current.data_type, "nullable": nullable})
                continue
            changed = {name: value for name, value in facts.items() if getattr(current, name) != value}
            if not changed:
                counts["unchanged"] += 1
                continue
            self._updates.append((dataset, column.name, changed, current.pk))
        for name in sorted(set(fields) - wanted):
            self._removals.append((dataset, fields[name]))

    def _write_field_changes(self) -> None:
        """Save this schema's changed fields, each through the model's audited save, and delete its vanished
        ones with one queryset delete (which sends each field's delete signals, so each is audited, and
        collects what cascades with them in one query per relation, not per field); record their changes."""
        if not self._updates and not self._removals:
            return
        counts = self.counts["fields"]
        loaded = Field.objects.in_bulk([pk for *_, pk in self._updates]) if self._updates else {}
        for dataset, column_name, changed, pk in self._updates:
            current = loaded[pk]
            if "data_type" in changed:
                self._change(dataset, type_change(current.data_type, changed["data_type"]), field=current,
                             field_name=column_name, before=current.data_type, after=changed["data_type"])
            if "nullable" in changed:
                self._change(dataset, ChangeKind.NULLABILITY_CHANGED, field=current, field_name=column_name,
                             before=current.nullable, after=changed["nullable"])
            if "is_key" in changed:
                self._change(dataset, ChangeKind.KEY_CHANGED, field=current, field_name=column_name,
                             before=current.is_key, after=changed["is_key"])
            for name, value in changed.items():
                setattr(current, name, value)
            current.save()
            counts["changed"] += 1
        # Fields some deny rule hides from somebody: once deleted, whom from can no longer be told, so
        # their removal is recorded as restricted (shown to the council only, SchemaChangeQuerySet).
        flag = restricted_flag(Field) if self._removals else None
        restricted = set(Field.objects.filter(pk__in=[gone.pk for _, gone in self._removals]).filter(flag)
                         .values_list("pk", flat=True)) if flag is not None else set()
        for dataset, gone in self._removals:
            self._change(dataset, ChangeKind.FIELD_REMOVED, field_name=gone.name,
                         before={"data_type": gone.data_type, "nullable": gone.nullable},
                         field_restricted=gone.pk in restricted)
            counts["removed"] += 1
        if self._removals:
            Field.objects.filter(pk__in=[gone.pk for _, gone in self._removals]).delete()
        self._updates, self._removals = [], []

    def finish(self) -> None:
        with transaction.atomic(), audit.batch():
            rows = list(Dataset.objects.filter(system=self.system).values_list(
                "qualified_name", "pk", "removed_from_source_at"))
            self._ids = {name: pk for name, pk, _ in rows}  # every registered dataset of the system, by name
            gone = [pk for name, pk, removed in rows
                    if removed is None and name not in self.seen and self.selected(name)]
            vanished = list(Dataset.objects.filter(pk__in=gone)) if gone else []
            now = timezone.now()
            for dataset in vanished:
                dataset.removed_from_source_at = now
                dataset.save()
                self.counts["datasets"]["removed"] += 1
                self._change(dataset, ChangeKind.DATASET_REMOVED)
            self._relationships()
            self._lineage()
            for change in self.changes:
                change.field_id = change.field.pk if change.field is not None and change.field.pk else None
            self._classify_and_record()

    def _field_index(self, names: set[str], columns: set[str]) -> dict[tuple[str, str], _Ref]:
        """The registered fields named ``columns`` of the datasets named ``names``: their ids, by
        (dataset's qualified name, field name)."""
        ids = {self._ids[name]: name for name in names if name in self._ids}
        if not ids or not columns:
            return {}
        return {(ids[dataset_id], name): _Ref(pk, dataset_id) for pk, dataset_id, name in
                Field.objects.filter(dataset_id__in=list(ids), name__in=columns).values_list("pk", "dataset_id",
                                                                                             "name")}

    def _relationships(self) -> None:
        names = {n for n, _ in self.foreign_keys} | {k.target for _, k in self.foreign_keys}
        index = self._field_index(names, {c for _, k in self.foreign_keys for c in (*k.columns, *k.target_columns)})
        wanted = {}
        for source, key in self.foreign_keys:
            for position, (column, target_column) in enumerate(zip(key.columns, key.target_columns, strict=False)):
                a, b = index.get((source, column)), index.get((key.target, target_column))
                if a is not None and b is not None:
                    wanted[(a.pk, b.pk, key.name)] = position
        counts = self.counts["relationships"]
        existing = {(from_id, to_id, constraint): (pk, old_position) for pk, from_id, to_id, constraint, old_position in
                    FieldRelationship.objects.filter(system=self.system).values_list(
                        "pk", "from_field_id", "to_field_id", "constraint_name", "position")}
        moved = {existing[key][0]: position for key, position in wanted.items()
                 if key in existing and existing[key][1] != position}
        gone = [existing[key][0] for key in set(existing) - set(wanted)]
        loaded = FieldRelationship.objects.in_bulk(list(moved)) if moved else {}
        for key, position in wanted.items():
            if key not in existing:
                FieldRelationship(system=self.system, from_field_id=key[0], to_field_id=key[1],
                                  constraint_name=key[2], position=position).save()
                counts["added"] += 1
            elif existing[key][0] in moved:
                row = loaded[existing[key][0]]
                row.position = position
                row.save()
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
        if gone:  # one queryset delete: each row's delete signals (its audit record), one collection
            FieldRelationship.objects.filter(pk__in=gone).delete()
            counts["removed"] += len(gone)

    def _lineage(self) -> None:
        datasets = self._ids
        dialect = "postgres" if self.system.connection_engine == "postgresql" else "sqlite"
        wanted: dict[tuple, tuple[str, str]] = {}  # (source, target, source_field, target_field) -> origin, text
        names, columns = set(), set()
        parsed_views = []
        for schema, view in self.views:
            parsed = parse_view(view.view_definition, default_schema=schema, dialect=dialect) \
                if view.view_definition else None
            parsed_views.append((view, parsed))
            names.add(view.qualified_name)
            if parsed:
                names |= parsed.sources
                columns |= set(parsed.columns) | {c for origins in parsed.columns.values() for _, c in origins}
        index = self._field_index(names, columns)
        for view, parsed in parsed_views:
            target = datasets.get(view.qualified_name)
            if target is None:
                continue
            if parsed is None:
                for source_name in view.depends_on:
                    source = datasets.get(source_name)
                    if source is not None and source != target:
                        wanted[(source, target, None, None)] = (
                            LineageOrigin.VIEW_DEPENDENCY,
                            "Harvested from the source's dependency records: the view's definition did not parse.")
                continue
            for source_name in parsed.sources:
                source = datasets.get(source_name)
                if source is not None and source != target:
                    wanted[(source, target, None, None)] = (LineageOrigin.VIEW_DEFINITION,
                                                                  "Harvested from the view's definition.")
            for column, origins in parsed.columns.items():
                target_field = index.get((view.qualified_name, column))
                for source_name, source_column in origins:
                    source_field = index.get((source_name, source_column))
                    if source_field is not None and target_field is not None and source_field.dataset_id != target:
                        wanted[(source_field.dataset_id, target, source_field.pk, target_field.pk)] = (
                            LineageOrigin.VIEW_DEFINITION, "Harvested from the view's definition.")
        counts = self.counts["lineage"]
        existing = {(e.source_id, e.target_id, e.source_field_id, e.target_field_id): e
                    for e in LineageEdge.objects.filter(target__system=self.system, origin__in=HARVEST_ORIGINS)}
        others = set(LineageEdge.objects.filter(target__system=self.system).exclude(
            origin__in=HARVEST_ORIGINS).values_list("source_id", "target_id", "source_field_id", "target_field_id"))
        # People drew it (or an ingestion made it) already: theirs stays as it is.
        replace_edges({key: {"origin": origin, "transformation": text} for key, (origin, text) in wanted.items()},
                      existing, others, counts, lambda key, values: LineageEdge(
                          source_id=key[0], target_id=key[1], source_field_id=key[2], target_field_id=key[3],
                          **values))

    def _classify_and_record(self) -> None:
        if not self.changes:
            return
        by_dataset: dict[int, list[SchemaChange]] = {}
        for change in self.changes:
            by_dataset.setdefault(change.dataset.pk, []).append(change)
        drifted = []
        for changes in by_dataset.values():
            dataset = changes[0].dataset
            if all(c.kind == ChangeKind.DATASET_ADDED for c in changes):
                continue  # a new dataset: no contract covers it yet
            terms = _contract_terms(dataset)
            for change in changes:
                classify(change, terms)
            drifted.append((dataset, changes, [contract for contract, _ in terms]))
        SchemaChange.objects.bulk_create(self.changes)
        for dataset, changes, contracts in drifted:
            transaction.on_commit(lambda d=dataset, c=changes, k=contracts: self._announce_drift(d, c, k))

    def _announce_drift(self, dataset: Dataset, changes: list[SchemaChange], contracts: list) -> None:
        """After commit: the catalog's ``schema_changed`` signal, on which governance sends
        ``schema.drift`` to each covering contract's subscribers and starts its checks
        (governance.apps._schema_drift); then an incident on each contract the drift breaks."""
        fields = {kind: sorted({c.field_name for c in changes if c.field_name and c.kind in kinds
                                and not c.field_restricted})
                  for kind, kinds in (("created", {ChangeKind.FIELD_ADDED}),
                                      ("removed", {ChangeKind.FIELD_REMOVED}),
                                      ("updated", {ChangeKind.TYPE_WIDENED, ChangeKind.TYPE_NARROWED,
                                                   ChangeKind.TYPE_CHANGED, ChangeKind.NULLABILITY_CHANGED,
                                                   ChangeKind.KEY_CHANGED}))}
        details = {**fields, "harvest_run": self.run.pk, "changes": [
            {"kind": c.kind, "field": c.field_name, "before": c.before, "after": c.after,
             "compatibility": c.compatibility, **({"restricted": True} if c.field_restricted else {})}
            for c in changes]}
        # One transaction: the checks the receiver asks for start when it commits, so the incident
        # below is opened by the drift (at once), not by whatever those checks find later.
        with transaction.atomic():
            schema_changed.send(sender=Dataset, dataset=dataset, changes=details)
            for contract in contracts:
                breaking = [c for c in changes if contract.pk in c.contracts]
                if breaking:
                    self._open_drift_incident(contract, dataset, breaking)

    def _open_drift_incident(self, contract, dataset: Dataset, breaking: list[SchemaChange]) -> None:
        from governance.models import ComplianceRun, EventType, Incident
        from governance.models.compliance import IncidentStatus, RunTrigger
        from governance.services import compliance, notifications

        actor = Actor(system=self.run.actor_name)
        with context.acting_as(actor, reason=f"Breaking schema drift found by harvest #{self.run.pk}"):
            if Incident.objects.filter(contract=contract).exclude(status=IncidentStatus.RESOLVED).exists():
                return  # one open incident per contract, as the checks keep it
            # The run the drift started (the signal's receiver asked for it), else one asked for now.
            run = ComplianceRun.objects.filter(contract_version__contract=contract,
                                               trigger=RunTrigger.SCHEMA_DRIFT).order_by("-id").first()
            if run is None:
                run = compliance.request_run(contract, trigger=RunTrigger.SCHEMA_DRIFT, actor=actor)
            incident = compliance.open_incident(contract, run, actor=actor)
            # Named for the contract, not the dataset: who reads the incident may not see the dataset
            # (its summary names it, and is redacted for each reader).
            incident.title = f"Breaking schema drift: {contract.name}"[:300]
            incident.summary = {"harvest_run": self.run.pk, "dataset": dataset.pk, "breaking_changes": [
                {"kind": c.kind, "field": c.field_name, "before": c.before, "after": c.after,
                 **({"restricted": True} if c.field_restricted else {})} for c in breaking]}
            incident.save()
            notifications.emit(EventType.INCIDENT_OPENED, contract=contract, run=run, incident=incident)
