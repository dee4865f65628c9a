"""The connector interface: one module per engine reads what a source holds into a Snapshot.

A connector opens the source read-only (every statement in a read-only transaction with a
statement timeout) and yields one ``SchemaBatch`` per schema, so a harvest holds one
schema's objects at a time. A facet it could not read (a catalog the role may not read) is
named in ``missing`` with a warning: the harvest then leaves that facet as registered."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Column:
    name: str
    data_type: str  # "" when the source declares none (SQLite): the registered type is kept
    nullable: bool = True
    position: int = 0
    default: str = ""
    comment: str = ""


@dataclass
class ForeignKey:
    name: str
    columns: list[str]
    target: str  # qualified name of the referenced object
    target_columns: list[str]


@dataclass
class SourceObject:
    qualified_name: str
    kind: str  # catalog DatasetKind: table or view
    comment: str = ""
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_estimate: int | None = None
    size_bytes: int | None = None
    view_definition: str = ""
    depends_on: list[str] = field(default_factory=list)  # the source's own dependency records (views)


@dataclass
class SchemaBatch:
    schema: str
    objects: list[SourceObject]
    missing: set[str] = field(default_factory=set)  # facets not read: "comments", "sizes", "keys"…


class Connector(ABC):
    """Open with ``with Connector(dsn, statement_timeout_ms=…) as c:``; then ``c.batches(selector)``."""

    engine = ""

    def __init__(self, dsn: str, *, statement_timeout_ms: int):
        self.dsn = dsn
        self.statement_timeout_ms = statement_timeout_ms
        self.warnings: list[str] = []

    @abstractmethod
    def __enter__(self) -> Connector:
        """Connect, in a read-only transaction with the statement timeout."""

    @abstractmethod
    def __exit__(self, *exc) -> None:
        """Close the connection."""

    @abstractmethod
    def batches(self, selected) -> Iterator[SchemaBatch]:
        """Each schema's objects whose qualified name ``selected(name)`` accepts."""
