"""Ingesting dbt artifacts (manifest.json, and optionally catalog.json and run_results.json),
parsed with the dbt-artifacts-parser package, into the catalog.

What dbt says and who wins:

* Models, seeds, snapshots and sources become datasets on the System their database and schema
  map to (``DbtProject``), named ``schema.alias``; documented columns become fields. dbt adds
  datasets and fields, never removes them: what exists in the database is the harvest's (or
  people's) to say.
* Physical facts come from the source: a column's type from catalog.json (what the database
  reported), else the manifest's ``data_type``; its position from catalog.json.
* Curated metadata (descriptions, a dataset's steward and department from ``meta``, tags) is
  written by dbt only where dbt wrote it last time, or where it is empty: a value someone changed in
  Accord since is theirs and stays. Each node remembers what dbt wrote (``DbtNode.written``).
* ``depends_on`` gives dataset-to-dataset lineage (origin ``dbt``, ``job`` = the node's unique id);
  compiled SQL, where the manifest has it, gives field-to-field mappings (sqlglot). Edges the
  project made are replaced by its next ingestion; edges people drew or a harvest made are left
  alone, and dbt adds none beside them.
* Data tests are recorded on their dataset and field, with their latest result when
  run_results.json comes along.

Set-based: the registry is read in a fixed number of queries per ingestion, and only differences
are written, each through the models' audited saves under the actor ``system:ingest:<run id>``;
the same artifacts twice write nothing but the run's own row."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from catalog.lineage_sync import replace_edges
from catalog.models import Dataset, Department, Field, LineageEdge, System, Tag
from catalog.models.lineage import LineageOrigin
from harvest.lineage import parse_view
from ingest.models import (
    DbtNode,
    DbtProject,
    DbtResourceType,
    DbtTest,
    DbtTestStatus,
    DbtTestType,
    IngestionRun,
    IngestionStatus,
)
from permissions import audit, context
from permissions.context import Actor

#: Manifest schema versions read, and the dbt releases that write them.
SUPPORTED_MANIFESTS = {"v10": "dbt 1.6", "v11": "dbt 1.7", "v12": "dbt 1.8 to 1.12"}
KINDS = ("datasets", "fields", "tags", "lineage", "tests", "nodes")
#: sqlglot's dialect for a dbt adapter type.
DIALECTS = {"postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake", "bigquery": "bigquery",
            "databricks": "databricks", "spark": "spark", "duckdb": "duckdb", "trino": "trino",
            "sqlite": "sqlite", "sqlserver": "tsql", "fabric": "tsql", "athena": "athena", "clickhouse": "clickhouse"}
WARNINGS_LISTED = 20  # names listed in one warning, then "and N more"
#: The stored lengths of a node's unique id and a field's name: what dbt names is cut to them once, when
#: read, so every later look-up uses the name as stored.
UNIQUE_ID_LENGTH, FIELD_NAME_LENGTH = 500, 255

logger = logging.getLogger(__name__)


class IngestError(Exception):
    """Artifacts Accord cannot take: nothing was written. ``field`` names the artifact."""

    def __init__(self, message: str, *, field: str = "manifest"):
        super().__init__(message)
        self.field = field


# --- parsing -----------------------------------------------------------------------------------------------------


@dataclass
class Artifacts:
    manifest: Any
    catalog: Any | None
    run_results: Any | None
    manifest_version: str
    dbt_version: str
    project_name: str
    adapter_type: str


def _schema_version(document: Any, field: str) -> str:
    """The artifact's schema version (``v12``) from ``metadata.dbt_schema_version``; ``field`` is
    the artifact (manifest, catalog, run_results)."""
    kind = field.replace("_", "-")  # run_results.json's schema is .../run-results/v6.json
    if not isinstance(document, dict):
        raise IngestError(f"The {field} must be a JSON object (dbt's {field}.json).", field=field)
    metadata = document.get("metadata")
    url = metadata.get("dbt_schema_version") if isinstance(metadata, dict) else None
    match = re.search(rf"/{kind}/(v\d+)\.json$", url) if isinstance(url, str) else None
    if match is None:
        raise IngestError(f"This is not a dbt {field}.json: metadata.dbt_schema_version is missing or names "
                          f"another artifact ({str(url)[:200]!r}).", field=field)
    return match.group(1)


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[:3]
        return "; ".join(f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg')}" for error in first)
    return str(exc)[:500]


def _nul_path(document: Any) -> str | None:
    """The path of the first text (or key) holding a NUL character, which PostgreSQL cannot store
    and dbt never writes; none when there is none."""
    values, found = [document], False
    while values and not found:  # first without paths, which cost more than the walk
        value = values.pop()
        if isinstance(value, str):
            found = "\x00" in value
        elif isinstance(value, dict):
            found = any(isinstance(key, str) and "\x00" in key for key in value)
            values.extend(value.values())
        elif isinstance(value, list):
            values.extend(value)
    if not found:
        return None
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "(the document)"
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{path}.{key!r}".lstrip(".")
                stack.append((item, f"{path}.{key}".lstrip(".")))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{index}".lstrip(".")) for index, item in enumerate(value))
    return None


def parse_artifacts(manifest: Any, catalog: Any = None, run_results: Any = None) -> Artifacts:
    """The artifacts parsed, or an ``IngestError`` naming what is wrong (the version found, the
    path of the first invalid values)."""
    from dbt_artifacts_parser.parser import parse_catalog, parse_manifest, parse_run_results

    for name, document in (("manifest", manifest), ("catalog", catalog), ("run_results", run_results)):
        where = _nul_path(document) if document is not None else None
        if where is not None:
            raise IngestError(f"{name}.json holds a NUL character (\\u0000) at {where[:300]}: dbt never writes "
                              "one, and the database cannot store it.", field=name)
    version = _schema_version(manifest, "manifest")
    if version not in SUPPORTED_MANIFESTS:
        raise IngestError(f"manifest.json is schema version {version}; Accord reads "
                          f"{', '.join(f'{v} ({dbt})' for v, dbt in SUPPORTED_MANIFESTS.items())}.")
    try:
        parsed = parse_manifest(manifest)
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError or the parser's ValueError
        raise IngestError(f"manifest.json ({version}) does not parse: {_validation_message(exc)}") from None
    parsed_catalog = parsed_results = None
    if catalog is not None:
        _schema_version(catalog, "catalog")
        try:
            parsed_catalog = parse_catalog(catalog)
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"catalog.json does not parse: {_validation_message(exc)}", field="catalog") from None
    if run_results is not None:
        _schema_version(run_results, "run_results")
        try:
            parsed_results = parse_run_results(run_results)
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"run_results.json does not parse: {_validation_message(exc)}",
                              field="run_results") from None
    metadata = parsed.metadata
    project_name = getattr(metadata, "project_name", None) or ""
    if not project_name:
        raise IngestError("manifest.json names no project (metadata.project_name): written by dbt 1.6 or later?")
    return Artifacts(manifest=parsed, catalog=parsed_catalog, run_results=parsed_results, manifest_version=version,
                     dbt_version=str(getattr(metadata, "dbt_version", "") or ""), project_name=project_name,
                     adapter_type=str(getattr(metadata, "adapter_type", "") or ""))


# --- the run -----------------------------------------------------------------------------------------------------


def schema_system_problems(user, schema_systems) -> list[str]:
    """Why ``user`` may not give a project these ``schema_systems``: each System named must be one
    they see and may change, since the project's ingestions write its datasets there (API and admin)."""
    from permissions.edit import can_change

    slugs = {str(slug) for slug in schema_systems.values()} if isinstance(schema_systems, dict) else set()
    systems = {s.slug: s for s in System.objects.visible_to(user).filter(slug__in=slugs)}
    problems = [f"No system with slug {slug!r}." for slug in sorted(slugs - set(systems))]
    return problems + [f"You may not change the system {slug!r}, so its datasets cannot be written by this project."
                       for slug, system in sorted(systems.items()) if not can_change(user, system)]


def project_for(artifacts: Artifacts, *, system: System | None, actor) -> DbtProject:
    """The registered project the manifest names, or one registered now on ``system``."""
    project = DbtProject.objects.filter(name=artifacts.project_name).select_related("system").first()
    if project is not None:
        return project
    if system is None:
        raise IngestError(f"The dbt project {artifacts.project_name!r} is not registered in Accord: register it "
                          "(dbt projects) or name the system its relations belong to.", field="system")
    with context.acting_as(actor, reason=f"dbt project {artifacts.project_name} ingested for the first time"):
        return DbtProject.objects.create(name=artifacts.project_name, system=system)


def ingest(project: DbtProject, artifacts: Artifacts, *, requested_by=None) -> IngestionRun:
    """Bring the catalog in line with ``artifacts``; the run, finished. All or nothing: a failure
    rolls the catalog back and is recorded on the run."""
    run = IngestionRun.objects.create(project=project, requested_by=requested_by,
                                      manifest_version=artifacts.manifest_version,
                                      dbt_version=artifacts.dbt_version[:32])
    ingestion = _Ingestion(project, run, artifacts)
    try:
        with context.acting_as(Actor(system=run.actor_name), reason=f"dbt ingestion #{run.pk} of {project.name}"), \
                transaction.atomic(), audit.batch():
            ingestion.apply()
        run.status = IngestionStatus.PARTIAL if ingestion.warnings else IngestionStatus.SUCCEEDED
        run.counts = ingestion.counts
    except IngestError as exc:
        run.status, run.errors = IngestionStatus.FAILED, [str(exc)]
    except Exception as exc:  # noqa: BLE001 - a database error, a bug: rolled back, and the run says so
        logger.exception("dbt ingestion #%s of %s failed", run.pk, project.name)
        run.status = IngestionStatus.FAILED
        run.errors = [f"The ingestion failed ({type(exc).__name__}) and wrote nothing; the server log has the "
                      "details."]
    run.warnings = ingestion.warnings
    run.finished_at = timezone.now()
    run.save()
    return run


# --- what the manifest says --------------------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    description: str = ""
    data_type: str = ""
    position: int | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Relation:
    unique_id: str
    resource_type: str
    database: str
    schema: str
    alias: str
    description: str
    materialized: str
    columns: dict[str, Column]
    meta: dict
    tags: list[str]
    depends_on: list[str]
    compiled_code: str | None
    contract_enforced: bool
    constraints: dict = field(default_factory=dict)  # an enforced contract's: primary key, not-null columns
    system: System | None = None
    qualified_name: str = ""


def _text(value) -> str:
    return str(value or "")


def _relations(artifacts: Artifacts) -> list[Relation]:
    manifest = artifacts.manifest
    catalog_nodes: dict[str, Any] = {}
    if artifacts.catalog is not None:
        catalog_nodes = {**(artifacts.catalog.nodes or {}), **(artifacts.catalog.sources or {})}
    relations = []
    nodes = list((manifest.nodes or {}).values()) + list((manifest.sources or {}).values())
    for node in nodes:
        kind = _text(getattr(node, "resource_type", ""))
        kind = getattr(getattr(node, "resource_type", None), "value", kind)
        if kind not in DbtResourceType.values:
            continue
        config = getattr(node, "config", None)
        materialized = _text(getattr(config, "materialized", "")) if kind != "source" else "source"
        if materialized == "ephemeral":
            continue  # no relation in the database: nothing to register
        columns: dict[str, Column] = {}
        for name, column in (getattr(node, "columns", None) or {}).items():
            name = name[:FIELD_NAME_LENGTH]
            columns[name] = Column(name=name, description=_text(column.description),
                                   data_type=_text(getattr(column, "data_type", "")),
                                   tags=list(getattr(column, "tags", None) or []))
        catalog_node = catalog_nodes.get(node.unique_id)
        if catalog_node is not None:
            for name, column in (catalog_node.columns or {}).items():
                found = next((c for c in columns.values() if c.name.lower() == name.lower()), None)
                if found is None:
                    name = name[:FIELD_NAME_LENGTH]
                    found = columns[name] = Column(name=name)
                found.data_type = _text(column.type) or found.data_type
                index = int(column.index) if column.index is not None else None
                found.position = index if index is not None and 0 <= index < 2 ** 31 else None
        contract = getattr(config, "contract", None) if kind == "model" else None
        enforced = bool(getattr(contract, "enforced", False))
        depends = getattr(node, "depends_on", None)
        relations.append(Relation(
            unique_id=node.unique_id[:UNIQUE_ID_LENGTH], resource_type=kind, database=_text(node.database),
            schema=_text(getattr(node, "schema_", "")),
            alias=_text(getattr(node, "identifier", None) or getattr(node, "alias", None) or node.name),
            description=_text(node.description), materialized=materialized, columns=columns,
            meta=dict(getattr(node, "meta", None) or {}), tags=list(getattr(node, "tags", None) or []),
            depends_on=[u[:UNIQUE_ID_LENGTH] for u in getattr(depends, "nodes", None) or []] if depends else [],
            compiled_code=getattr(node, "compiled_code", None) or None,
            contract_enforced=enforced, constraints=_constraints(node) if enforced else {}))
    return relations


def _constraint_type(constraint) -> str:
    kind = getattr(constraint, "type", "")
    return _text(getattr(kind, "value", kind))


def _constraints(node) -> dict:
    """What an enforced dbt contract guarantees: its primary key and its not-null columns."""
    primary_key: list[str] = []
    not_null: list[str] = []
    for constraint in getattr(node, "constraints", None) or []:
        if _constraint_type(constraint) == "primary_key":
            primary_key = [_text(c) for c in getattr(constraint, "columns", None) or []]
    for name, column in (getattr(node, "columns", None) or {}).items():
        kinds = {_constraint_type(c) for c in getattr(column, "constraints", None) or []}
        if "primary_key" in kinds and name not in primary_key:
            primary_key.append(name)
        if "not_null" in kinds:
            not_null.append(name)
    return {"primary_key": primary_key, "not_null": sorted(not_null)}


# --- reconciliation ----------------------------------------------------------------------------------------------


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:WARNINGS_LISTED])
    return shown + (f" and {len(names) - WARNINGS_LISTED} more" if len(names) > WARNINGS_LISTED else "")


class _Ingestion:
    def __init__(self, project: DbtProject, run: IngestionRun, artifacts: Artifacts):
        self.project, self.run, self.artifacts = project, run, artifacts
        self.counts = {kind: {"added": 0, "changed": 0, "removed": 0, "unchanged": 0} for kind in KINDS}
        self.warnings: list[str] = []
        self.datasets: dict[str, Dataset] = {}  # unique id -> dataset
        self.fields: dict[int, dict[str, Field]] = {}  # dataset id -> name -> field
        self.sql_lineage: dict[str, dict | None] = {}  # unique id -> what its compiled SQL reads, column by column

    def warn(self, text: str) -> None:
        self.warnings.append(text[:2000])

    def apply(self) -> None:
        relations = self._placed(_relations(self.artifacts))
        self._datasets(relations)
        self._lineage(relations)
        self._tests()

    # -- where each relation goes

    def _placed(self, relations: list[Relation]) -> list[Relation]:
        project = self.project
        mapping = {key.lower(): slug for key, slug in (project.schema_systems or {}).items()}
        systems = {s.slug: s for s in System.objects.filter(slug__in=set(mapping.values()))}
        unknown = sorted(set(mapping.values()) - set(systems))
        if unknown:
            self.warn(f"schema_systems names systems Accord does not have: {_listed(unknown)}; their relations "
                      f"are registered on {project.system.slug}.")
        placed = []
        for relation in relations:
            slug = mapping.get(f"{relation.database}.{relation.schema}".lower()) or mapping.get(relation.schema.lower())
            relation.system = systems.get(slug) if slug else None
            relation.system = relation.system or project.system
            parts = [relation.database, relation.schema, relation.alias] if project.qualify_with_database else \
                [relation.schema, relation.alias]
            relation.qualified_name = ".".join(p for p in parts if p)[:255]
            placed.append(relation)
        return placed

    # -- datasets, fields, owners, tags

    def _datasets(self, relations: list[Relation]) -> None:
        by_system: dict[int, set[str]] = {}
        for relation in relations:
            by_system.setdefault(relation.system.pk, set()).add(relation.qualified_name)
        query = Q(pk__in=[])
        for system_id, names in by_system.items():
            query |= Q(system_id=system_id, qualified_name__in=names)
        registered = {(d.system_id, d.qualified_name): d for d in Dataset.objects.filter(query)}
        for item in Field.objects.filter(dataset__in=[d.pk for d in registered.values()]):
            self.fields.setdefault(item.dataset_id, {})[item.name] = item
        nodes = {n.unique_id: n for n in DbtNode.objects.filter(project=self.project)}
        people, departments = self._owners(relations)
        tags = self._tags(relations)
        dataset_tags, field_tags = self._current_tags(registered.values())

        seen = set()
        for relation in relations:
            seen.add(relation.unique_id)
            dataset = registered.get((relation.system.pk, relation.qualified_name))
            node = nodes.get(relation.unique_id)
            written = dict(node.written) if node is not None else {}
            wanted = {"description": relation.description,
                      "steward_id": people.get(_text(relation.meta.get(self.project.owner_meta_key))),
                      "owner_department_id": departments.get(_text(relation.meta.get(
                          self.project.department_meta_key)))}
            if dataset is None:
                dataset = Dataset(system=relation.system, qualified_name=relation.qualified_name,
                                  name=relation.alias[:255] or relation.qualified_name,
                                  kind="view" if relation.materialized in ("view", "materialized_view") else "table",
                                  **{k: v for k, v in wanted.items() if v})
                dataset.save()
                registered[(relation.system.pk, relation.qualified_name)] = dataset
                self.counts["datasets"]["added"] += 1
            else:
                changed = [name for name, value in wanted.items() if self._dbt_owns(dataset, name, value, written)]
                if changed:
                    for name in changed:
                        setattr(dataset, name, wanted[name])
                    dataset.save()
                    self.counts["datasets"]["changed"] += 1
                else:
                    self.counts["datasets"]["unchanged"] += 1
            self.datasets[relation.unique_id] = dataset
            written.update({name: value for name, value in wanted.items()})
            written["constraints"] = relation.constraints
            written["sql_lineage"] = self._sql_lineage(relation, written.get("sql_lineage"))
            self.sql_lineage[relation.unique_id] = written["sql_lineage"]
            written["tags"] = self._sync_tags(dataset, relation.tags, written.get("tags", []), tags,
                                              dataset_tags.get(dataset.pk, set()))
            written["columns"] = self._fields(dataset, relation, written.get("columns", {}), tags, field_tags)
            self._node(node, relation, dataset, written)
        for unique_id in sorted(set(nodes) - seen):
            nodes[unique_id].delete()  # gone from the project; its dataset stays
            self.counts["nodes"]["removed"] += 1

    @staticmethod
    def _dbt_owns(obj, name: str, value, written: dict) -> bool:
        """Whether dbt should write ``value`` into ``obj.name``: it differs, and the current value
        is empty or the one dbt wrote last time (so no person changed it since)."""
        current = getattr(obj, name)
        if current == value or not value and name.endswith("_id"):
            return False
        return current in ("", None) or (name in written and current == written[name])

    def _owners(self, relations: list[Relation]) -> tuple[dict[str, int], dict[str, int]]:
        owner_key, department_key = self.project.owner_meta_key, self.project.department_meta_key
        named = {_text(r.meta.get(owner_key)) for r in relations if r.meta.get(owner_key)}
        slugs = {_text(r.meta.get(department_key)) for r in relations if r.meta.get(department_key)}
        people: dict[str, int] = {}
        if named:
            for user in get_user_model().objects.filter(Q(username__in=named) | Q(email__in=named), is_active=True):
                people.setdefault(user.username, user.pk)
                if user.email:
                    people.setdefault(user.email, user.pk)
        departments = dict(Department.objects.filter(slug__in=slugs).values_list("slug", "pk")) if slugs else {}
        unknown_people = sorted(n for n in named if n not in people)
        if unknown_people:
            users = [f"{r.unique_id} ({r.meta.get(owner_key)})" for r in relations
                     if _text(r.meta.get(owner_key)) in unknown_people]
            self.warn(f"meta.{owner_key} names nobody Accord knows (no active user with that username or email), "
                      f"left unset: {_listed(users)}.")
        unknown_departments = sorted(s for s in slugs if s not in departments)
        if unknown_departments:
            found = [f"{r.unique_id} ({r.meta.get(department_key)})" for r in relations
                     if _text(r.meta.get(department_key)) in unknown_departments]
            self.warn(f"meta.{department_key} names no department slug Accord has, left unset: {_listed(found)}.")
        return people, departments

    def _tags(self, relations: list[Relation]) -> dict[str, Tag]:
        names = {t for r in relations for t in r.tags} | {t for r in relations for c in r.columns.values()
                                                          for t in c.tags}
        wanted = {slugify(name)[:80]: name for name in names if slugify(name)}
        tags = {t.slug: t for t in Tag.objects.filter(slug__in=wanted)}
        for slug, name in sorted(wanted.items()):
            if slug not in tags:
                tag = Tag(slug=slug, name=name[:80])
                if Tag.objects.filter(name=tag.name).exists():
                    tag.name = f"{name[:70]} ({slug})"[:80]
                tag.save()
                tags[slug] = tag
                self.counts["tags"]["added"] += 1
        return tags

    def _current_tags(self, datasets) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
        ids = [d.pk for d in datasets]
        on_datasets: dict[int, set[int]] = {}
        for dataset_id, tag_id in Dataset.tags.through.objects.filter(dataset_id__in=ids).values_list(
                "dataset_id", "tag_id"):
            on_datasets.setdefault(dataset_id, set()).add(tag_id)
        on_fields: dict[int, set[int]] = {}
        for field_id, tag_id in Field.tags.through.objects.filter(field__dataset_id__in=ids).values_list(
                "field_id", "tag_id"):
            on_fields.setdefault(field_id, set()).add(tag_id)
        return on_datasets, on_fields

    def _sync_tags(self, obj, names: list[str], before: list[str], tags: dict[str, Tag],
                   current: set[int]) -> list[str]:
        """Add the tags dbt lists, remove those dbt added before and lists no more; people's stay."""
        slugs = sorted({slugify(n)[:80] for n in names if slugify(n)})
        add = [tags[s] for s in slugs if s in tags and tags[s].pk not in current]
        gone = set(before) - set(slugs)
        remove = [t.pk for t in Tag.objects.filter(slug__in=gone)] if gone else []
        remove = [pk for pk in remove if pk in current]
        if add:
            obj.tags.add(*add)
        if remove:
            obj.tags.remove(*remove)
        if add or remove:
            self.counts["tags"]["changed"] += 1
        return slugs

    def _fields(self, dataset: Dataset, relation: Relation, before: dict, tags: dict[str, Tag],
                field_tags: dict[int, set[int]]) -> dict:
        counts = self.counts["fields"]
        existing = self.fields.setdefault(dataset.pk, {})
        written: dict[str, dict] = {}
        for column in relation.columns.values():
            previous = before.get(column.name, {})
            current = existing.get(column.name)
            facts: dict[str, Any] = {}
            if column.data_type:
                facts["data_type"] = column.data_type[:120]
            if column.position is not None:
                facts["position"] = column.position
            if current is None:
                current = Field(dataset=dataset, name=column.name[:255], data_type=facts.get("data_type", ""),
                                position=facts.get("position", 0), description=column.description)
                current.save()
                existing[column.name] = current
                counts["added"] += 1
            else:
                changed = {k: v for k, v in facts.items() if getattr(current, k) != v}
                if self._dbt_owns(current, "description", column.description, previous):
                    changed["description"] = column.description
                if changed:
                    for name, value in changed.items():
                        setattr(current, name, value)
                    current.save()
                    counts["changed"] += 1
                else:
                    counts["unchanged"] += 1
            written[column.name] = {"description": column.description,
                                    "tags": self._sync_tags(current, column.tags, previous.get("tags", []), tags,
                                                            field_tags.get(current.pk, set()))}
        return written

    def _node(self, node: DbtNode | None, relation: Relation, dataset: Dataset, written: dict) -> None:
        values = {"resource_type": relation.resource_type, "dataset_id": dataset.pk,
                  "materialized": relation.materialized[:32], "contract_enforced": relation.contract_enforced,
                  "has_compiled_code": bool(relation.compiled_code), "written": written}
        if node is None:
            DbtNode(project=self.project, unique_id=relation.unique_id[:500], **values).save()
            self.counts["nodes"]["added"] += 1
            return
        changed = {k: v for k, v in values.items() if getattr(node, k) != v}
        if not changed:
            self.counts["nodes"]["unchanged"] += 1
            return
        for name, value in changed.items():
            setattr(node, name, value)
        node.save()
        self.counts["nodes"]["changed"] += 1

    # -- lineage

    def _sql_lineage(self, relation: Relation, previous: dict | None) -> dict | None:
        """Which upstream column each column of a model's compiled SQL comes straight from, parsed with
        sqlglot; kept on the node with the SQL's digest, so unchanged SQL is not parsed again."""
        if relation.resource_type != "model" or not relation.compiled_code:
            return None
        dialect = DIALECTS.get(self.artifacts.adapter_type, "postgres")
        digest = hashlib.sha256(f"{dialect}\n{relation.schema}\n{relation.compiled_code}".encode()).hexdigest()
        if isinstance(previous, dict) and previous.get("digest") == digest:
            return previous
        try:
            parsed = parse_view(relation.compiled_code, default_schema=relation.schema, dialect=dialect)
        except RecursionError:  # nested deeper than sqlglot's recursive parser goes: as SQL that does not parse
            parsed = None
        columns = None if parsed is None else {
            column: sorted([source, source_column] for source, source_column in origins)
            for column, origins in sorted(parsed.columns.items())}
        return {"digest": digest, "columns": columns}

    def _lineage(self, relations: list[Relation]) -> None:
        dialect = DIALECTS.get(self.artifacts.adapter_type, "postgres")
        by_name = {f"{r.schema}.{r.alias}".lower(): r for r in relations}
        wanted: dict[tuple, str] = {}  # (source, target, source field, target field) -> job
        uncompiled = []
        for relation in relations:
            target = self.datasets.get(relation.unique_id)
            upstream = [self.datasets[u] for u in relation.depends_on if u in self.datasets]
            if target is None or not upstream:
                continue
            for source in upstream:
                if source.pk != target.pk:
                    wanted[(source.pk, target.pk, None, None)] = relation.unique_id
            if relation.resource_type != "model":
                continue
            if not relation.compiled_code:
                uncompiled.append(relation.unique_id)
                continue
            parsed = (self.sql_lineage.get(relation.unique_id) or {}).get("columns")
            if parsed is None:
                self.warn(f"The compiled SQL of {relation.unique_id} does not parse ({dialect}): dataset-level "
                          "lineage only.")
                continue
            target_fields = self.fields.get(target.pk, {})
            for column, origins in parsed.items():
                target_field = target_fields.get(column)
                for source_name, source_column in origins:
                    source_relation = by_name.get(source_name.lower())
                    source = self.datasets.get(source_relation.unique_id) if source_relation else None
                    source_field = self.fields.get(source.pk, {}).get(source_column) if source else None
                    if target_field is not None and source_field is not None and source.pk != target.pk:
                        wanted[(source.pk, target.pk, source_field.pk, target_field.pk)] = relation.unique_id
        if uncompiled:
            self.warn(f"No compiled SQL in the manifest for {_listed(sorted(uncompiled))} (written by dbt parse, or "
                      "by dbt test in dbt 1.12): dataset-level lineage only; ingest a manifest from dbt compile, "
                      "run or build for field-level lineage.")
        counts = self.counts["lineage"]
        jobs = {r.unique_id for r in relations} | set(DbtNode.objects.filter(project=self.project).values_list(
            "unique_id", flat=True))
        existing = {(e.source_id, e.target_id, e.source_field_id, e.target_field_id): e
                    for e in LineageEdge.objects.filter(origin=LineageOrigin.DBT, job__in=jobs)}
        targets = {key[1] for key in wanted}
        others = set(LineageEdge.objects.filter(target__in=targets).exclude(
            origin=LineageOrigin.DBT, job__in=jobs).values_list("source_id", "target_id", "source_field_id",
                                                                 "target_field_id"))
        text = f"Ingested from dbt project {self.project.name}."
        datasets = {d.pk: d for d in self.datasets.values()}
        fields = {f.pk: f for by_name in self.fields.values() for f in by_name.values()}
        # The ends as loaded objects: naming a new edge in its audit record then costs no query.
        replace_edges({key: {"job": job[:500], "transformation": text} for key, job in wanted.items()}, existing,
                      others, counts, lambda key, values: LineageEdge(
                          source=datasets[key[0]], target=datasets[key[1]], source_field=fields.get(key[2]),
                          target_field=fields.get(key[3]), origin=LineageOrigin.DBT, **values))

    # -- tests and their results

    def _tests(self) -> None:
        results = {}
        if self.artifacts.run_results is not None:
            for result in self.artifacts.run_results.results or []:
                results[result.unique_id] = result
        existing = {t.unique_id: t for t in DbtTest.objects.filter(project=self.project)}
        counts = self.counts["tests"]
        seen = set()
        unattached = []
        for node in (self.artifacts.manifest.nodes or {}).values():
            kind = getattr(getattr(node, "resource_type", None), "value", _text(getattr(node, "resource_type", "")))
            if kind != "test":
                continue
            unique_id = node.unique_id[:UNIQUE_ID_LENGTH]
            attached = (getattr(node, "attached_node", None) or "")[:UNIQUE_ID_LENGTH] or next(
                (u[:UNIQUE_ID_LENGTH] for u in (getattr(getattr(node, "depends_on", None), "nodes", None) or [])
                 if u[:UNIQUE_ID_LENGTH] in self.datasets), None)
            dataset = self.datasets.get(attached) if attached else None
            if dataset is None:
                unattached.append(unique_id)
                continue
            seen.add(unique_id)
            metadata = getattr(node, "test_metadata", None)
            test_name = _text(getattr(metadata, "name", "")) if metadata is not None else ""
            arguments = {k: v for k, v in dict(getattr(metadata, "kwargs", None) or {}).items()
                         if k not in ("model", "column_name")} if metadata is not None else {}
            column = _text(getattr(node, "column_name", ""))[:FIELD_NAME_LENGTH]
            others = [self.datasets[u[:UNIQUE_ID_LENGTH]] for u in
                      (getattr(getattr(node, "depends_on", None), "nodes", None) or [])
                      if u[:UNIQUE_ID_LENGTH] != attached and u[:UNIQUE_ID_LENGTH] in self.datasets]
            values: dict[str, Any] = {
                "name": _text(node.name)[:500], "dataset_id": dataset.pk,
                "related_dataset_id": others[0].pk if others else None,
                "test_type": test_name if test_name in DbtTestType.values else DbtTestType.OTHER,
                "field_id": getattr(self.fields.get(dataset.pk, {}).get(column), "pk", None),
                "column_name": column[:255], "arguments": audit.jsonable(arguments),
                "severity": _text(getattr(getattr(node, "config", None), "severity", ""))[:8].lower()}
            result = results.get(node.unique_id)
            if result is not None:
                status = _text(getattr(result.status, "value", result.status)).lower()
                values.update(status=status if status in DbtTestStatus.values else DbtTestStatus.ERROR,
                              failures=_bigint(result.failures), message=_text(result.message)[:5000],
                              executed_at=_executed_at(result))
            test = existing.get(unique_id)
            if test is None:
                DbtTest(project=self.project, unique_id=unique_id, **values).save()
                counts["added"] += 1
                continue
            changed = {k: v for k, v in values.items() if getattr(test, k) != v}
            if changed:
                for name, value in changed.items():
                    setattr(test, name, value)
                test.save()
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
        for unique_id in sorted(set(existing) - seen):
            existing[unique_id].delete()
            counts["removed"] += 1
        if unattached:
            self.warn(f"Tests on no relation Accord registered (ephemeral or disabled models, or tests of "
                      f"several models): {_listed(sorted(unattached))}.")


def _bigint(value):
    """A count as the database holds it (a bigint), or none for one beyond it."""
    return value if value is None or -(2 ** 63) <= value < 2 ** 63 else None


def _executed_at(result):
    for timing in getattr(result, "timing", None) or []:
        if _text(getattr(timing, "name", "")) == "execute" and getattr(timing, "completed_at", None):
            value = timing.completed_at
            return value if not isinstance(value, str) else parse_datetime(value.replace("Z", "+00:00"))
    return None
