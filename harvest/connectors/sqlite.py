"""SQLite: tables, views, columns, types, keys and foreign keys through PRAGMA, on a file
opened read-only (``mode=ro`` and ``PRAGMA query_only``, governance.checks.data.open_source)."""

from __future__ import annotations

from collections.abc import Iterator

from governance.checks.data import open_source
from harvest.connectors.base import Column, Connector, ForeignKey, SchemaBatch, SourceObject


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteConnector(Connector):
    engine = "sqlite"

    def __enter__(self) -> SQLiteConnector:
        self._context = open_source(self.dsn, statement_timeout_ms=self.statement_timeout_ms)
        self.source = self._context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)

    def batches(self, selected) -> Iterator[SchemaBatch]:
        db = self.source.connection
        rows = db.execute("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                          "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
        objects = []
        for name, kind, sql in rows:
            if not selected(name):
                continue
            obj = SourceObject(qualified_name=name, kind="view" if kind == "view" else "table")
            info = db.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            pk = sorted((row[5], row[1]) for row in info if row[5])
            obj.primary_key = [column for _, column in pk]
            for cid, column, data_type, notnull, default, in_pk in info:
                obj.columns.append(Column(name=column, data_type=(data_type or "").lower(),
                                          nullable=not notnull and not in_pk, position=cid + 1,
                                          default="" if default is None else str(default)))
            if kind == "table":
                for index in db.execute(f"PRAGMA index_list({_quote(name)})").fetchall():
                    if index[2] and index[3] == "u":  # unique, declared as a UNIQUE constraint
                        columns = db.execute(f"PRAGMA index_info({_quote(index[1])})").fetchall()
                        obj.unique_keys.append([c[2] for c in sorted(columns)])
                keys: dict[int, ForeignKey] = {}
                for fk_id, _seq, target, source_column, target_column, *_ in db.execute(
                        f"PRAGMA foreign_key_list({_quote(name)})").fetchall():
                    key = keys.setdefault(fk_id, ForeignKey(f"{name}_fk{fk_id}", [], target, []))
                    key.columns.append(source_column)
                    key.target_columns.append(target_column)
                for key in keys.values():
                    if None in key.target_columns:  # REFERENCES t without columns: t's primary key
                        target_pk = sorted((r[5], r[1]) for r in db.execute(
                            f"PRAGMA table_info({_quote(key.target)})").fetchall() if r[5])
                        key.target_columns = [column for _, column in target_pk]
                obj.foreign_keys = list(keys.values())
            else:
                obj.view_definition = sql or ""
            objects.append(obj)
        yield SchemaBatch(schema="", objects=objects, missing={"sizes"})
