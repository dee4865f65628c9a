"""Which registered datasets an imported ODCS document describes.

An ODCS document says where its tables live in ``servers`` (type, host, port, database, schema)
and names each table in its schema objects (``physicalName``, else ``name``). A System knows its
source only through the environment variable that holds its DSN (``System.connection_env``), so a
server is matched to the Systems of the same engine whose DSN, read in this process, names the same
host, port and database. An explicit ``system`` replaces that matching. Each schema object is then
looked up among that System's datasets by ``<server schema>.<physicalName>``, else by the
``physicalName`` itself (a name registered as it stands, as ``accord register`` does).

Everything is read through the importer's visibility: a System or dataset the importer may not see
is never matched and never named, exactly as if it were not registered. What matches nothing, or
more than one dataset, is reported in the warnings by the document's own names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from catalog.choices import ConnectionEngine
from catalog.models import Dataset, System
from governance.models import DataContract
from governance.services.common import user_of
from permissions.errors import Invalid

# ODCS server types → the connection engines Accord reads.
SERVER_ENGINES = {"postgresql": ConnectionEngine.POSTGRESQL, "postgres": ConnectionEngine.POSTGRESQL}
POSTGRESQL_PORT = 5432


@dataclass
class Mapping:
    """The datasets the version covers (``None``: nothing was found, so the contract's stay), and the
    warnings to show the importer."""

    datasets: list[Dataset] | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Target:
    system: System
    schema: str | None  # the server's schema, prefixed to physical names


def _visible(queryset, reader):
    return queryset if reader is None else queryset.visible_to(reader)


def _connection_of(system: System) -> dict | None:
    """Host, port and database of the System's PostgreSQL DSN, when its variable is set here."""
    dsn = os.environ.get(system.connection_env or "", "")
    if not dsn:
        return None
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Error:  # its text may quote the DSN: never shown
        return None
    try:
        port = int(info.get("port") or POSTGRESQL_PORT)
    except ValueError:
        return None
    return {"host": str(info.get("host") or "").lower(), "port": port, "database": str(info.get("dbname") or "")}


def _server_connection(server: dict) -> dict | None:
    try:
        port = int(server.get("port") or POSTGRESQL_PORT)
    except (TypeError, ValueError):
        return None
    if not server.get("host") or not server.get("database"):
        return None
    return {"host": str(server["host"]).lower(), "port": port, "database": str(server["database"])}


def _servers(document: dict) -> list[dict]:
    servers = document.get("servers")
    return [server for server in servers if isinstance(server, dict)] if isinstance(servers, list) else []


def _targets(document: dict, system: System | None, reader) -> tuple[list[_Target], list[str]]:
    """Where to look up the schema objects, and the warnings of matching the servers."""
    servers = _servers(document)
    if system is not None:
        schemas = sorted({str(s["schema"]) for s in servers if s.get("schema")})
        return [_Target(system, schema) for schema in schemas] or [_Target(system, None)], []
    candidates = list(_visible(System.objects.exclude(connection_env=""), reader)
                      .filter(connection_engine__in=set(SERVER_ENGINES.values())).order_by("name"))
    connections = {candidate.pk: _connection_of(candidate) for candidate in candidates}
    targets: list[_Target] = []
    for server in servers:
        engine = SERVER_ENGINES.get(str(server.get("type") or "").lower())
        wanted = _server_connection(server) if engine else None
        if wanted is None:
            continue
        for candidate in candidates:
            if candidate.connection_engine == engine and connections[candidate.pk] == wanted:
                targets.append(_Target(candidate, str(server["schema"]) if server.get("schema") else None))
    if targets or not servers:  # a document that says nothing of where its tables are: nothing to look up
        return targets, []
    described = ", ".join(
        f"{s.get('server') or '?'} ({s.get('type') or '?'} {s.get('host') or ''}:{s.get('port') or ''}"
        f"/{s.get('database') or ''})" for s in servers) or "none"
    return [], [f"No registered System's connection matches the document's servers ({described}), so its schema "
                "objects were not mapped to datasets: name the System (the import's system parameter, "
                "accord contract push --system SLUG)."]


def _names(obj: dict, schema: str | None) -> list[str]:
    """The qualified names the object may be registered under, the most specific first."""
    physical = str(obj.get("physical_name") or obj.get("name") or "")
    if not physical:
        return []
    return [f"{schema}.{physical}", physical] if schema and "." not in physical else [physical]


def _label(obj: dict) -> str:
    name, physical = obj.get("name"), obj.get("physical_name")
    return f"{name!r} (physicalName {physical!r})" if physical and physical != name else repr(name or physical)


def map_datasets(document: dict, schema_objects: list[dict], *, system: System | None, actor,
                 contract: DataContract | None = None) -> Mapping:
    """The datasets a version imported by ``actor`` covers: the registered dataset of each schema object,
    as the actor may see them (a system component sees everything).

    Importing into an existing ``contract``, the datasets it covers that the actor may not see stay
    covered: what the actor cannot see, the import can neither name nor remove."""
    reader = user_of(actor)
    if system is not None and reader is not None and not System.objects.visible_to(reader).filter(
            pk=system.pk).exists():
        raise Invalid("There is no such system.", errors={"system": ["There is no such system."]})
    objects = [obj for obj in schema_objects or [] if isinstance(obj, dict)]
    if not objects:
        return Mapping(None)
    targets, warnings = _targets(document, system, reader)
    if not targets:
        return Mapping(None, warnings)
    wanted = {name for target in targets for obj in objects for name in _names(obj, target.schema)}
    registered = {(d.system_id, d.qualified_name): d for d in _visible(Dataset.objects, reader).filter(
        system__in={target.system.pk for target in targets}, qualified_name__in=wanted).select_related("system")}
    systems = ", ".join(sorted({target.system.name for target in targets}))
    found: dict[int, Dataset] = {}
    for obj in objects:
        matches: dict[int, Dataset] = {}
        for rank in range(2):  # the schema-qualified name first; the name as it stands only if none has that
            for target in targets:
                names = _names(obj, target.schema)
                dataset = registered.get((target.system.pk, names[rank])) if rank < len(names) else None
                if dataset is not None:
                    matches[dataset.pk] = dataset
            if matches:
                break
        if len(matches) == 1:
            dataset = next(iter(matches.values()))
            found[dataset.pk] = dataset
        elif matches:
            listed = ", ".join(sorted(f"{d.system.name}: {d.qualified_name}" for d in matches.values()))
            warnings.append(f"Schema object {_label(obj)} matches more than one registered dataset ({listed}); it "
                            "was not mapped: name the System (the import's system parameter).")
        else:
            warnings.append(f"Schema object {_label(obj)} matches no registered dataset in {systems}; it was not "
                            "mapped (register it, or correct its physicalName or the server's schema).")
    if not found:
        return Mapping(None, warnings)
    kept = [] if contract is None or reader is None else list(
        contract.datasets.exclude(pk__in=Dataset.objects.visible_to(reader).values("pk")))
    return Mapping([*found.values(), *kept], warnings)
