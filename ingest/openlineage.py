"""OpenLineage events into the catalog.

Events arrive as the spec's JSON and are built into openlineage-python's own event classes
(``openlineage.client.event_v2`` and the ``schema`` and ``columnLineage`` facets of
``openlineage.client.facet_v2``): every value is checked against the type the class declares,
the classes' validators (``eventTime`` a date-time, ``runId`` a UUID) run, and the first path
that does not fit is named. The package ships the spec as these classes (no JSON Schema), so
they are the spec Accord validates against; other facets, which the spec leaves open, are kept
as objects and not read.

What an event writes, in one transaction under the actor ``system:openlineage`` (the reason
names who sent it):

- a COMPLETE run (and a JobEvent, the job's static lineage) links each input dataset to each
  output (origin ``openlineage``, ``job`` = the job's ``namespace/name``, ``last_run_at`` = the
  event's time), and each output field to the input fields its ``columnLineage`` facet names;
- ``schema`` facets (of any COMPLETE run's, JobEvent's or DatasetEvent's datasets) register
  the datasets and fields they describe, with their types, positions and descriptions, as a
  harvest would: a changed type is recorded as drift (``SchemaChange``) and classified against
  the active contracts by the harvest's own code;
- START, RUNNING, FAIL, ABORT and OTHER runs are validated and counted, nothing else.

Lineage people drew, a harvest or dbt made is never touched, and no second edge is added beside
it; fields an event does not list stay (an event tells what a job saw, not what the source holds).
"""

from __future__ import annotations

import datetime
import enum
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import attr
from dateutil import parser as dateparser
from django.db import IntegrityError, transaction
from django.utils import timezone
from openlineage.client import event_v2
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.generated.base import BaseFacet

from catalog.models import Dataset, Field, LineageEdge, System
from catalog.models.lineage import LineageOrigin
from ingest.models import LineageNamespace, UnknownNamespace
from permissions import audit, context
from permissions.context import Actor

ACTOR = Actor(system="openlineage")

#: The facets Accord reads, by their key in a dataset's ``facets``; others are kept unread.
DATASET_FACETS: dict[str, type] = {
    "schema": schema_dataset.SchemaDatasetFacet,
    "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet,
}

#: Schemes whose namespace names the database, so that a dataset's name there is
#: ``database.schema.table`` and its qualified name ``schema.table``, as a harvest names it.
DATABASE_IN_NAMESPACE = ("postgres", "postgresql", "redshift", "sqlserver", "mssql", "oracle", "db2", "trino",
                         "presto")

MAX_EVENTS = 1000


class EventError(Exception):
    """Events that are not OpenLineage's: ``errors`` maps each path to what is wrong there."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors.items()))
        self.errors = errors


def qualified_name(namespace: str, name: str) -> str:
    """A dataset's qualified name in its System: ``name`` without its database part where the
    namespace names the database (``postgres://host:5432/shop`` + ``shop.crm.leads`` →
    ``crm.leads``), else ``name`` as it is (``snowflake://``: ``db.schema.table``, ``bigquery``:
    ``project.dataset.table``, ``s3://bucket``: the object's path, ``mysql://``: ``schema.table``)."""
    scheme = namespace.split("://", 1)[0].lower() if "://" in namespace else ""
    if scheme in DATABASE_IN_NAMESPACE:
        database = namespace.split("://", 1)[1].split("/", 1)[1] if "/" in namespace.split("://", 1)[1] else ""
        parts = name.split(".")
        if len(parts) == 3 and (not database or parts[0] == database.split("/")[0]):
            return ".".join(parts[1:])
    return name


# --- reading events -----------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The attribute types the class declares (resolved once per class: they never change)."""
    return typing.get_type_hints(cls)


def _describe(kind: Any) -> str:
    if kind is str:
        return "a string"
    if kind is int:
        return "an integer"
    if kind is bool:
        return "true or false"
    if kind is float:
        return "a number"
    origin = typing.get_origin(kind)
    if origin is list:
        return "a list"
    if origin is dict or attr.has(kind):
        return "an object"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(member.value for member in kind)
    return str(kind)


class _Reader:
    """Builds the package's classes from JSON, collecting the paths that do not fit."""

    def __init__(self):
        self.errors: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "$", message)

    def value(self, kind: Any, data: Any, path: str, facets: dict[str, type] | None = None) -> Any:
        origin = typing.get_origin(kind)
        if origin in (typing.Union, types.UnionType):
            options = [option for option in typing.get_args(kind) if option is not type(None)]
            if data is None:
                return None
            return self.value(options[0], data, path, facets) if len(options) == 1 else data
        if kind is Any:
            return data
        if kind in (str, int, float, bool):
            fits = isinstance(data, kind) and not (kind in (int, float) and isinstance(data, bool))
            if kind is float and isinstance(data, int) and not isinstance(data, bool):
                fits = True
            if not fits:
                self.fail(path, f"Expected {_describe(kind)}, got {type(data).__name__}: {str(data)[:80]!r}.")
            return data
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            try:
                return kind(data)
            except ValueError:
                self.fail(path, f"Expected {_describe(kind)}, got {str(data)[:80]!r}.")
                return None
        if origin is list:
            if not isinstance(data, list):
                self.fail(path, f"Expected a list, got {type(data).__name__}.")
                return []
            (item,) = typing.get_args(kind)
            return [self.value(item, value, f"{path}[{i}]") for i, value in enumerate(data)]
        if origin is dict:
            if not isinstance(data, dict):
                self.fail(path, f"Expected an object, got {type(data).__name__}.")
                return {}
            _, item = typing.get_args(kind)
            if isinstance(item, type) and issubclass(item, BaseFacet):
                return {key: self.facet(key, value, f"{path}.{key}", facets or {}) for key, value in data.items()}
            return {key: self.value(item, value, f"{path}.{key}") for key, value in data.items()}
        if attr.has(kind):
            return self.build(kind, data, path)
        return data

    def facet(self, key: str, data: Any, path: str, known: dict[str, type]) -> Any:
        if not isinstance(data, dict):
            self.fail(path, f"A facet is an object, got {type(data).__name__}.")
            return None
        if key in known:
            return self.build(known[key], data, path)
        return data  # a facet Accord does not read: the spec leaves its shape to its producer

    def build(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.fail(path, f"Expected an object, got {type(data).__name__}.")
            return None
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        before = len(self.errors)
        for spec in attr.fields(cls):
            if not spec.init:
                continue
            where = f"{path}.{spec.name}" if path else spec.name
            if spec.name not in data:
                if spec.default is attr.NOTHING:
                    self.fail(where, "Required.")
                continue
            facets = DATASET_FACETS if spec.name == "facets" and issubclass(cls, event_v2.Dataset) else None
            value = self.value(hints[spec.name], data[spec.name], where, facets)
            if spec.validator is not None and len(self.errors) == before:
                try:
                    spec.validator(None, spec, value)
                except (ValueError, TypeError) as exc:
                    self.fail(where, f"{exc}"[:200] or "Invalid value.")
            kwargs[spec.alias] = value
        if len(self.errors) > before:
            return None
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            self.fail(path, str(exc)[:200])
            return None


def _event_class(data: dict) -> type:
    if "run" in data:
        return event_v2.RunEvent
    if "dataset" in data:
        return event_v2.DatasetEvent
    return event_v2.JobEvent


def parse_events(payload: Any) -> list[Any]:
    """One event or a list of them, as the package's event objects; ``EventError`` names every
    path that does not fit (each prefixed with its event's index in a list)."""
    listed = isinstance(payload, list)
    documents = payload if listed else [payload]
    if listed and not documents:
        raise EventError({"$": "Send one OpenLineage event or a list of them; the list is empty."})
    if len(documents) > MAX_EVENTS:
        raise EventError({"$": f"At most {MAX_EVENTS} events per request; send {len(documents)} in several."})
    reader, events = _Reader(), []
    for index, document in enumerate(documents):
        prefix = f"[{index}]" if listed else ""
        if not isinstance(document, dict):
            reader.fail(prefix, f"An OpenLineage event is an object, got {type(document).__name__}.")
            continue
        cls = _event_class(document)
        if cls is event_v2.RunEvent and document.get("eventType") is None:
            reader.fail(f"{prefix}.eventType" if prefix else "eventType",
                        "Required: one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER (Accord takes lineage "
                        "from COMPLETE runs).")
        if cls is event_v2.JobEvent and "job" not in document:
            reader.fail(prefix, "Not an OpenLineage event: it has none of run (RunEvent), dataset (DatasetEvent), "
                                "job (JobEvent).")
            continue
        event = reader.build(cls, document, prefix)
        if event is not None:
            events.append(event)
    if reader.errors:
        raise EventError(reader.errors)
    return events


def event_time(event: Any) -> datetime.datetime:
    moment = dateparser.isoparse(event.eventTime)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, datetime.UTC)


# --- writing them -------------------------------------------------------------------------------


@dataclass
class Report:
    """What the events did: counts per kind, the namespaces no (visible) System has, and warnings."""

    events: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        kind: {"added": 0, "changed": 0, "unchanged": 0} for kind in ("datasets", "fields", "lineage")})
    unknown_namespaces: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"events": self.events, "counts": self.counts,
                "unknown_namespaces": sorted(set(self.unknown_namespaces)), "warnings": self.warnings}


def _datasets_of(event: Any) -> list[Any]:
    if isinstance(event, event_v2.DatasetEvent):
        return [event.dataset]
    return [*(event.inputs or []), *(event.outputs or [])]


def _named(event: Any) -> list[tuple[str, str]]:
    """(namespace, name) of every dataset ``event`` names, its column lineage's inputs included."""
    found = []
    for dataset in _datasets_of(event):
        found.append((dataset.namespace, dataset.name))
        column_lineage = (dataset.facets or {}).get("columnLineage")
        if isinstance(column_lineage, column_lineage_dataset.ColumnLineageDatasetFacet):
            for spec in column_lineage.fields.values():
                found.extend((item.namespace, item.name) for item in spec.inputFields)
    return found


def namespaces_of(events: list[Any]) -> set[str]:
    return {namespace for event in events for namespace, _ in _named(event)}


def systems_for(namespaces: set[str], user) -> tuple[dict[str, System], set[str]]:
    """The Systems ``user`` can see that the namespaces map to, and the namespaces that map to
    none they can see (a hidden System answers as a missing one)."""
    visible = System.objects.visible_to(user) if user is not None else System.objects.all()
    mapped = {item.namespace: item.system for item in LineageNamespace.objects.filter(
        namespace__in=namespaces, system__in=visible).select_related("system")}
    return mapped, namespaces - set(mapped)


def _record_unknown(events: list[Any], unknown: set[str], now: datetime.datetime) -> None:
    """Unknown namespaces, for someone to map: how often, when, and a few of their names.
    Namespaces mapped to a System the sender cannot see are not unknown and are left out."""
    if not unknown:
        return
    unmapped = unknown - set(LineageNamespace.objects.filter(namespace__in=unknown).values_list("namespace",
                                                                                               flat=True))
    names: dict[str, list[str]] = {}
    counted: dict[str, int] = {}
    for event in events:
        seen = set()
        for namespace, name in _named(event):
            if namespace in unmapped:
                names.setdefault(namespace, [])
                if name not in names[namespace]:
                    names[namespace].append(name[:500])
                seen.add(namespace)
        for namespace in seen:
            counted[namespace] = counted.get(namespace, 0) + 1
    rows = {row.namespace: row for row in UnknownNamespace.objects.select_for_update().filter(
        namespace__in=list(names))}
    for namespace, found in sorted(names.items()):
        row = rows.get(namespace)
        if row is None:
            UnknownNamespace.objects.create(namespace=namespace[:500], first_seen_at=now, last_seen_at=now,
                                            events=counted.get(namespace, 0), example_names=found[:5])
            continue
        row.events += counted.get(namespace, 0)
        row.last_seen_at = max(row.last_seen_at, now)
        row.example_names = (row.example_names + [n for n in found if n not in row.example_names])[:5]
        row.save(update_fields=["events", "last_seen_at", "example_names"])


class _Ingestion:
    def __init__(self, systems: dict[str, System], report: Report, requested_by):
        self.systems, self.report, self.requested_by = systems, report, requested_by
        self.datasets: dict[tuple[int, str], Dataset] = {}
        self.fields: dict[int, dict[str, Field]] = {}
        self.changes: dict[int, list] = {}  # drift to record, by System id
        self.linked: set[tuple] = set()  # the edges this request already wrote or confirmed

    # -- datasets and fields

    def dataset(self, namespace: str, name: str, *, create: bool = True) -> Dataset | None:
        system = self.systems.get(namespace)
        if system is None:
            return None
        key = (system.pk, qualified_name(namespace, name)[:500])
        if key not in self.datasets:
            found = Dataset.objects.filter(system=system, qualified_name=key[1]).first()
            if found is None and create:
                found = Dataset(system=system, qualified_name=key[1], name=key[1][:255])
                found.save()
                self.report.counts["datasets"]["added"] += 1  # a new dataset is no drift: nothing covers it yet
            elif found is not None:
                self.report.counts["datasets"]["unchanged"] += 1
            if found is None:
                return None
            self.datasets[key] = found
            self.fields[found.pk] = {f.name: f for f in Field.objects.filter(dataset=found)}
        return self.datasets[key]

    def field(self, dataset: Dataset, name: str) -> Field:
        existing = self.fields[dataset.pk]
        if name not in existing:
            created = Field(dataset=dataset, name=name[:255], data_type="", position=len(existing) + 1)
            created.save()
            existing[name] = created
            self.report.counts["fields"]["added"] += 1
        return existing[name]

    def _drift(self, dataset: Dataset, kind: str, **values) -> None:
        from harvest.models import SchemaChange

        self.changes.setdefault(dataset.system_id, []).append(SchemaChange(dataset=dataset, kind=kind, **values))

    def schema(self, dataset: Dataset, facet: Any, *, new: bool) -> None:
        """The ``schema`` facet's fields: physical facts (type, position, the source's description)
        follow the event; curated metadata stays; a changed type is drift, as in a harvest."""
        from harvest.models import ChangeKind
        from harvest.services import type_change

        counts = self.report.counts["fields"]
        existing = self.fields[dataset.pk]
        for index, spec in enumerate(facet.fields or [], start=1):
            # A position only when the facet states it: an input's facet may list only the columns read.
            facts: dict[str, Any] = {"position": spec.ordinal_position} if spec.ordinal_position else {}
            if spec.type:
                facts["data_type"] = spec.type[:120]
            if spec.description is not None:
                facts["source_description"] = spec.description
            current = existing.get(spec.name)
            if current is None:
                facts.setdefault("position", index)
                current = Field(dataset=dataset, name=spec.name[:255], data_type=facts.pop("data_type", ""), **facts)
                current.save()
                existing[spec.name] = current
                counts["added"] += 1
                if not new:
                    self._drift(dataset, ChangeKind.FIELD_ADDED, field=current, field_name=current.name,
                                after={"data_type": current.data_type, "nullable": current.nullable})
                continue
            changed = {name: value for name, value in facts.items() if getattr(current, name) != value}
            if not changed:
                counts["unchanged"] += 1
                continue
            if "data_type" in changed and current.data_type:
                self._drift(dataset, type_change(current.data_type, changed["data_type"]), field=current,
                            field_name=current.name, before=current.data_type, after=changed["data_type"])
            for name, value in changed.items():
                setattr(current, name, value)
            current.save()
            counts["changed"] += 1

    # -- lineage

    def edge(self, source: Dataset, target: Dataset, job: str, ran_at: datetime.datetime | None,
             source_field: Field | None = None, target_field: Field | None = None, transformation: str = "") -> None:
        key = (source.pk, target.pk, source_field.pk if source_field else None,
               target_field.pk if target_field else None, ran_at)
        if source.pk == target.pk or key in self.linked:
            return
        self.linked.add(key)
        counts = self.report.counts["lineage"]
        found = LineageEdge.objects.filter(source=source, target=target, source_field=source_field,
                                           target_field=target_field).first()
        if found is None:
            LineageEdge(source=source, target=target, source_field=source_field, target_field=target_field,
                        origin=LineageOrigin.OPENLINEAGE, job=job[:500], last_run_at=ran_at,
                        transformation=transformation).save()
            counts["added"] += 1
        elif found.origin == LineageOrigin.OPENLINEAGE and ran_at is not None and (
                found.last_run_at is None or ran_at > found.last_run_at):
            found.last_run_at, found.job = ran_at, job[:500]
            # Its ends (and fields) are loaded already: the audit record's description reads them.
            found.source, found.target = source, target
            if source_field is not None:
                found.source_field, found.target_field = source_field, target_field
            found.save()
            counts["changed"] += 1
        else:
            counts["unchanged"] += 1  # people drew it, a harvest or dbt made it, or nothing newer: it stays

    def apply(self, event: Any) -> None:
        kind = type(event).__name__
        if isinstance(event, event_v2.RunEvent):
            state = event.eventType.value
            self.report.events[state] = self.report.events.get(state, 0) + 1
            if event.eventType != event_v2.RunState.COMPLETE:
                return
            ran_at = event_time(event)
        else:
            self.report.events[kind] = self.report.events.get(kind, 0) + 1
            ran_at = None
        if isinstance(event, event_v2.DatasetEvent):
            self._registered(event.dataset)
            return
        inputs = [d for d in (self._registered(item) for item in event.inputs or []) if d is not None]
        job = f"{event.job.namespace}/{event.job.name}"
        outputs = []
        for item in event.outputs or []:
            target = self._registered(item)
            if target is None:
                continue
            outputs.append(target)
            self._column_lineage(item, target, job, ran_at)
        for target in outputs:
            for source in inputs:
                self.edge(source, target, job, ran_at)

    def _registered(self, item: Any) -> Dataset | None:
        key_known = self.systems.get(item.namespace)
        if key_known is None:
            self.report.unknown_namespaces.append(item.namespace)
            return None
        before = self.report.counts["datasets"]["added"]
        dataset = self.dataset(item.namespace, item.name)
        schema = (item.facets or {}).get("schema")
        if dataset is not None and isinstance(schema, schema_dataset.SchemaDatasetFacet):
            self.schema(dataset, schema, new=self.report.counts["datasets"]["added"] > before)
        return dataset

    def _column_lineage(self, item: Any, target: Dataset, job: str, ran_at) -> None:
        facet = (item.facets or {}).get("columnLineage")
        if not isinstance(facet, column_lineage_dataset.ColumnLineageDatasetFacet):
            return
        for target_name, spec in facet.fields.items():
            target_field = self.field(target, target_name)
            for origin in spec.inputFields:
                source = self.dataset(origin.namespace, origin.name)
                if source is None:
                    self.report.unknown_namespaces.append(origin.namespace)
                    continue
                if source.pk == target.pk:
                    continue
                kinds = [t.type for t in origin.transformations or []] or (
                    [spec.transformationType] if spec.transformationType else [])
                text = spec.transformationDescription or ", ".join(k for k in kinds if k)
                self.edge(source, target, job, ran_at)
                self.edge(source, target, job, ran_at, self.field(source, origin.field), target_field, text[:2000])

    def record_drift(self) -> None:
        """Drift goes on a harvest run of its System (trigger ``api``), classified and announced by
        the harvest's own code, as if a harvest had found it."""
        from harvest.models import HarvestRun, HarvestStatus, HarvestTrigger
        from harvest.services import _Reconciler

        now = timezone.now()
        for system_id, changes in self.changes.items():
            system = System.objects.get(pk=system_id)
            run = HarvestRun.objects.create(
                system=system, trigger=HarvestTrigger.API, scheduled_for=now, requested_by=self.requested_by,
                status=HarvestStatus.SUCCEEDED, finished_at=now,
                warnings=["Schema changes reported by OpenLineage events, not read from the source."])
            reconciler = _Reconciler(system, run)
            for change in changes:
                change.run = run
                change.field_id = change.field.pk if change.field is not None else None
            reconciler.changes = changes
            reconciler._classify_and_record()


ATTEMPTS = 3


def ingest_events(events: list[Any], *, systems: dict[str, System], unknown: set[str], requested_by) -> dict:
    """Write what ``events`` say into the catalog, all or nothing; what they did.

    Two requests about the same new dataset or edge may race (several web processes): the one
    that loses meets the other's row in a unique constraint, and its whole transaction is tried
    again, when it finds that row and confirms it."""
    who = getattr(requested_by, "username", "") or "an unnamed sender"
    ordered = sorted(events, key=event_time)
    for attempt in range(1, ATTEMPTS + 1):
        report = Report()
        ingestion = _Ingestion(systems, report, requested_by)
        try:
            with context.acting_as(ACTOR, reason=f"OpenLineage events sent by {who}"), transaction.atomic(), \
                    audit.batch():
                for event in ordered:
                    ingestion.apply(event)
                ingestion.record_drift()
                _record_unknown(events, unknown, timezone.now())
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
            continue
        return report.as_dict()
    raise AssertionError("unreachable")
