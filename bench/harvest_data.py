"""The generated PostgreSQL source of the harvest benchmark (``bench.harvest_bench``).

A database of its own in the throwaway cluster (not the registry), built deterministically by one
DDL script per schema:

* ``SCHEMAS`` schemas ``s00``, ``s01``… of ``TABLES_PER_SCHEMA`` tables ``t0000``… each, every table
  ``COLUMNS_PER_TABLE`` columns: ``id bigint PRIMARY KEY``, ``c01 bigint`` (the foreign key column),
  ``c02 varchar(64) NOT NULL`` and ``c03``… cycling through ten types (some with defaults, some NOT NULL);
* every tenth table a UNIQUE constraint on ``c02``; every fourth a table comment and a comment on ``c02``;
* two tables of every five a foreign key ``c01 -> <the previous table>.id`` (2,000 at full scale);
* one view of every ten tables, ``vt0001``, ``vt0011``…: a join of the table with the previous one, which sqlglot
  parses (500 at full scale).

Full scale: 20 schemas × 250 tables × 50 columns = 250,000 columns. ``BENCH_SCALE=small``: a tenth
(10 schemas × 50 tables). The tables are empty and analysed (``reltuples`` 0).

``change_script`` makes a share of the columns change: a third ``integer`` columns become ``bigint``
(a widened type), a third are dropped, a third are new columns added; only ``c04`` onwards (the
views, keys and foreign keys use the first four columns).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TYPES = ["integer", "text", "varchar(120)", "numeric(12,2)", "timestamptz", "boolean", "date", "bigint",
         "double precision", "jsonb"]


@dataclass(frozen=True)
class Shape:
    schemas: int
    tables_per_schema: int
    columns_per_table: int = 50

    @property
    def tables(self) -> int:
        return self.schemas * self.tables_per_schema

    @property
    def columns(self) -> int:
        return self.tables * self.columns_per_table

    @property
    def views(self) -> int:
        return self.schemas * len(range(1, self.tables_per_schema, 10))

    @property
    def foreign_keys(self) -> int:
        return self.schemas * sum(1 for i in range(1, self.tables_per_schema) if i % 5 in (1, 2))


SHAPES = {"full": Shape(schemas=20, tables_per_schema=250), "small": Shape(schemas=10, tables_per_schema=50)}


def schema_name(s: int) -> str:
    return f"s{s:02d}"


def table_name(t: int) -> str:
    return f"t{t:04d}"


def _column(position: int) -> str:
    kind = TYPES[position % len(TYPES)]
    extra = " DEFAULT 0" if kind == "integer" and position % 3 == 0 else ""
    extra += " NOT NULL" if position % 7 == 0 and not extra else ""
    return f"c{position:02d} {kind}{extra}"


def source_scripts(shape: Shape) -> list[str]:
    """The source as one script per schema (its tables, keys, comments, foreign keys, views): one
    transaction each (a single one for all 5,000 tables needs more locks than the default allows)."""
    scripts = []
    for s in range(shape.schemas):
        out: list[str] = []
        schema = schema_name(s)
        out.append(f"CREATE SCHEMA {schema};")
        for t in range(shape.tables_per_schema):
            table = f"{schema}.{table_name(t)}"
            columns = ["id bigint PRIMARY KEY", "c01 bigint", "c02 varchar(64) NOT NULL"]
            columns += [_column(p) for p in range(3, shape.columns_per_table)]
            if t % 10 == 0:
                columns.append(f"CONSTRAINT {table_name(t)}_c02_key UNIQUE (c02)")
            out.append(f"CREATE TABLE {table} ({', '.join(columns)});")
            if t % 4 == 0:
                out.append(f"COMMENT ON TABLE {table} IS 'Generated table {t} of schema {schema}';")
                out.append(f"COMMENT ON COLUMN {table}.c02 IS 'Business key of {table_name(t)}';")
        for t in range(1, shape.tables_per_schema):
            if t % 5 in (1, 2):
                out.append(f"ALTER TABLE {schema}.{table_name(t)} ADD CONSTRAINT {table_name(t)}_c01_fk "
                           f"FOREIGN KEY (c01) REFERENCES {schema}.{table_name(t - 1)} (id);")
        for t in range(1, shape.tables_per_schema, 10):
            out.append(f"CREATE VIEW {schema}.v{table_name(t)} AS SELECT a.id, a.c02, b.c03 AS parent_c03 "
                       f"FROM {schema}.{table_name(t)} a LEFT JOIN {schema}.{table_name(t - 1)} b ON b.id = a.c01;")
        scripts.append("\n".join(out))
    return scripts


def build_source(cursor, shape: Shape) -> None:
    for script in source_scripts(shape):
        cursor.execute(script)
    cursor.execute("ANALYZE")


CHANGE_CANDIDATES = """
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname ~ '^s[0-9]+$' AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attname ~ '^c[0-9]+$' AND a.attname >= 'c04'
ORDER BY md5(%s || n.nspname || c.relname || a.attname)"""


def change_script(cursor, columns: int, salt: str) -> tuple[str, dict]:
    """The DDL changing ``columns`` columns (a third each: widened to bigint, dropped, added), chosen
    by a hash of ``salt``; and how many of each."""
    cursor.execute(CHANGE_CANDIDATES, [salt])
    candidates = cursor.fetchall()
    widen_n = columns // 3
    drop_n = columns // 3
    add_n = columns - widen_n - drop_n
    widen = [c for c in candidates if c[3] == "integer"][:widen_n]
    chosen = {(s, t, a) for s, t, a, _ in widen}
    drop = [c for c in candidates if c[3] != "integer" and (c[0], c[1], c[2]) not in chosen][:drop_n]
    tables = sorted({(s, t) for s, t, _, _ in candidates},
                    key=lambda st: hashlib.md5(f"{salt}{st}".encode()).hexdigest())
    add = [tables[i % len(tables)] + (f"x_{salt}_{i // len(tables)}",) for i in range(add_n)]
    out = [f"ALTER TABLE {s}.{t} ALTER COLUMN {a} TYPE bigint;" for s, t, a, _ in widen]
    out += [f"ALTER TABLE {s}.{t} DROP COLUMN {a};" for s, t, a, _ in drop]
    out += [f"ALTER TABLE {s}.{t} ADD COLUMN {a} integer;" for s, t, a in add]
    return "\n".join(out), {"widened": len(widen), "dropped": len(drop), "added": len(add)}
