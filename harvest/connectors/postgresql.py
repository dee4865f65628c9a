"""PostgreSQL through psycopg 3 on pg_catalog (information_schema hides what the role cannot
read and has no comments).

Schemas; tables, partitioned tables (not their partitions), views, materialized views and
foreign tables; columns (``format_type``, nullability, defaults, position, comments); table
comments; primary keys and unique constraints in column order; foreign keys; reltuples and
sizes; view definitions (``pg_get_viewdef``) and the views' dependencies (pg_depend and
pg_rewrite). The session is read-only with a statement timeout
(governance.checks.data.open_source); the whole reading is one REPEATABLE READ, READ ONLY
transaction, so every facet comes from the same snapshot. A schema's facet queries run in one
savepoint; when the role may not read one of them, they run again each in a savepoint of its own:
the one refused becomes a warning and that facet is left as registered.
Objects the role may not SELECT are still harvested (the catalog shows them), with a warning."""

from __future__ import annotations

from collections.abc import Iterator

from governance.checks.data import open_source
from harvest.connectors.base import Column, Connector, ForeignKey, SchemaBatch, SourceObject

SCHEMAS = """
SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp_%%'
  AND n.nspname NOT LIKE 'pg_toast_temp_%%'
ORDER BY n.nspname"""

# r table, p partitioned table, v view, m materialized view, f foreign table; partitions left out.
OBJECTS = """
SELECT c.oid, c.relname, c.relkind, c.reltuples::bigint,
       has_table_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c
WHERE c.relnamespace = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
ORDER BY c.relname"""

SIZES = """
SELECT c.oid, pg_catalog.pg_total_relation_size(c.oid) FROM pg_catalog.pg_class c
WHERE c.relnamespace = %s AND c.relkind IN ('r', 'p', 'm')"""

COMMENTS = """
SELECT d.objoid, d.objsubid, d.description FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_class c ON c.oid = d.objoid
WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND c.relnamespace = %s"""

COLUMNS = """
SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, a.attnum,
       coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.relnamespace = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum"""

KEYS = """
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       tn.nspname || '.' || tc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
LEFT JOIN pg_catalog.pg_class tc ON tc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
WHERE c.relnamespace = %s AND con.contype IN ('p', 'u', 'f')
ORDER BY con.conrelid, con.conname"""

VIEWS = """
SELECT c.oid, pg_catalog.pg_get_viewdef(c.oid, true) FROM pg_catalog.pg_class c
WHERE c.relnamespace = %s AND c.relkind IN ('v', 'm')"""

DEPENDENCIES = """
SELECT DISTINCT r.ev_class, n.nspname || '.' || d.relname
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_rewrite'::regclass AND dep.objid = r.oid
JOIN pg_catalog.pg_class d ON d.oid = dep.refobjid AND dep.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_namespace n ON n.oid = d.relnamespace
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
WHERE v.relnamespace = %s AND d.oid <> r.ev_class"""

# A schema's facets, by the name a warning gives them (and ``SchemaBatch.missing`` when refused).
FACETS = (("columns", COLUMNS), ("sizes", SIZES), ("comments", COMMENTS), ("keys", KEYS),
          ("view definitions", VIEWS), ("view dependencies", DEPENDENCIES))


class PostgreSQLConnector(Connector):
    engine = "postgresql"

    def __enter__(self) -> PostgreSQLConnector:
        self._context = open_source(self.dsn, statement_timeout_ms=self.statement_timeout_ms)
        self.source = self._context.__enter__()
        self.connection = self.source.connection
        self.connection.isolation_level = 3  # psycopg.IsolationLevel.REPEATABLE_READ: one snapshot
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # opens the transaction; each facet's block is then a savepoint
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.connection.rollback()
        finally:
            self._context.__exit__(*exc)

    def _rows(self, sql: str, params, facet: str, schema: str, missing: set[str] | None = None) -> list[tuple]:
        import psycopg

        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            self.warnings.append(f"{facet} of schema {schema!r} could not be read ({exc.diag.message_primary}); "
                                 "left as registered.")
            if missing is None:
                raise
            missing.add(facet)
            return []

    def _facets(self, oid: int, schema: str, missing: set[str]) -> dict[str, list[tuple]]:
        """The rows of each facet of a schema: in one savepoint, else (a facet refused) one savepoint each."""
        import psycopg

        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                rows = {}
                for facet, sql in FACETS:
                    cursor.execute(sql, [oid])
                    rows[facet] = cursor.fetchall()
                return rows
        except psycopg.errors.InsufficientPrivilege:
            return {facet: self._rows(sql, [oid], facet, schema, missing) for facet, sql in FACETS}

    def batches(self, selected) -> Iterator[SchemaBatch]:
        schemas = self._rows(SCHEMAS, None, "schemas", "*")
        for oid, schema in schemas:
            missing: set[str] = set()
            rows = self._rows(OBJECTS, [oid], "objects", schema)
            objects = {}
            unreadable = []
            for rel, name, kind, reltuples, may_select in rows:
                qualified = f"{schema}.{name}"
                if not selected(qualified):
                    continue
                objects[rel] = SourceObject(qualified_name=qualified, kind="view" if kind in "vm" else "table",
                                            row_estimate=reltuples if reltuples is not None and reltuples >= 0
                                            else None)
                if not may_select:
                    unreadable.append(qualified)
            if unreadable:
                self.warnings.append(f"The role may not read {len(unreadable)} object(s) in {schema!r} "
                                     f"(harvested from the catalog; data checks on them will fail): "
                                     f"{', '.join(unreadable[:20])}")
            if not objects:
                yield SchemaBatch(schema=schema, objects=[], missing=missing)
                continue
            facets = self._facets(oid, schema, missing)
            for rel, name, data_type, nullable, position, default in facets["columns"]:
                if rel in objects:
                    objects[rel].columns.append(Column(name, data_type, nullable, position, default))
            for rel, size in facets["sizes"]:
                if rel in objects:
                    objects[rel].size_bytes = size
            columns_by = {rel: {c.position: c for c in obj.columns} for rel, obj in objects.items()}
            for rel, sub, text in facets["comments"]:
                if rel not in objects:
                    continue
                if sub == 0:
                    objects[rel].comment = text or ""
                elif sub in columns_by[rel]:
                    columns_by[rel][sub].comment = text or ""
            for rel, name, kind, columns, target, target_columns in facets["keys"]:
                obj = objects.get(rel)
                if obj is None:
                    continue
                if kind == "p":
                    obj.primary_key = list(columns)
                elif kind == "u":
                    obj.unique_keys.append(list(columns))
                else:
                    obj.foreign_keys.append(ForeignKey(name, list(columns), target, list(target_columns)))
            for rel, definition in facets["view definitions"]:
                if rel in objects:
                    objects[rel].view_definition = definition or ""
            for rel, target in facets["view dependencies"]:
                if rel in objects:
                    objects[rel].depends_on.append(target)
            yield SchemaBatch(schema=schema, objects=list(objects.values()), missing=missing)


def connector_for(engine: str):
    from harvest.connectors.sqlite import SQLiteConnector

    return {"postgresql": PostgreSQLConnector, "sqlite": SQLiteConnector}[engine]
