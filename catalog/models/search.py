"""Full-text search documents: which columns of each model are searched, with weights.

On PostgreSQL every searchable table carries its weighted document as a stored
generated ``tsvector`` column, ``search_document``, with a GIN index; and a GIN
index over its name document (the weight-A columns only), which lets a broad
search take the name matches first (``catalog.search``). Both are created by
migration ``catalog/migrations/0004_search_document.py``; they are not model fields
(SQLite has no ``tsvector``), so only raw SQL in ``catalog.search`` refers to them.

Also on PostgreSQL, a posting table (``POSTING_TABLE``) holds one row per (type, lexeme,
object) of those documents, with whether the lexeme is in the object's names, under a
B-tree: a one-word search walks the word's objects in id order and stops after N, so
its cost does not grow with how many objects contain the word (a GIN index only yields
all of them, unordered). Statement-level triggers on each searchable table keep it equal
to the documents, in the writing transaction (migration
``catalog/migrations/0006_search_postings.py``).
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector

SEARCH_CONFIG = "english"
DOCUMENT_COLUMN = "search_document"

# model label → ((column, weight), …).
SEARCH_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "catalog.Dataset": (("name", "A"), ("qualified_name", "A"), ("description", "B")),
    "catalog.Field": (("name", "A"), ("description", "B")),
    "catalog.System": (("name", "A"), ("vendor", "B"), ("description", "B")),
    "catalog.Department": (("name", "A"), ("description", "B")),
}


def search_vector(label: str) -> SearchVector:
    """The weighted document as an ORM expression (what migration 0002 indexed)."""
    vectors = [SearchVector(column, weight=weight, config=SEARCH_CONFIG) for column, weight in SEARCH_COLUMNS[label]]
    combined = vectors[0]
    for vector in vectors[1:]:
        combined = combined + vector
    return combined


def _column(table: str, column: str) -> str:
    return f'"{table}"."{column}"' if table else f'"{column}"'


def _tsvector(column: str) -> str:
    return f"to_tsvector('{SEARCH_CONFIG}'::regconfig, COALESCE({column}, ''))"


def document_sql(label: str, table: str = "") -> str:
    """The weighted document in SQL: the generated column's expression."""
    return " || ".join(f"setweight({_tsvector(_column(table, column))}, '{weight}')"
                       for column, weight in SEARCH_COLUMNS[label])


def name_document_sql(label: str, table: str = "") -> str:
    """The document of the weight-A (name) columns, unweighted: the name index's expression.

    ``table`` qualifies the columns; PostgreSQL matches the expression to the index
    either way, so a query written with it can use the index.
    """
    return " || ".join(_tsvector(_column(table, column)) for column, weight in SEARCH_COLUMNS[label] if weight == "A")


# --- The posting table (PostgreSQL) -----------------------------------------------------------------

POSTING_TABLE = "catalog_search_posting"
# model label → the type's code in the posting table.
POSTING_KINDS: dict[str, int] = {"catalog.Dataset": 1, "catalog.Field": 2, "catalog.System": 3,
                                 "catalog.Department": 4}


def postings_of_sql(rows: str, kind: int | str, document: str = DOCUMENT_COLUMN) -> str:
    """The postings of the rows of ``rows`` (a table, transition table or CTE with ``id`` and the
    ``document`` column): (kind, lexeme, object_id, in_name). A lexeme is in the names when one of its
    positions has weight A, which only the name columns carry (``SEARCH_COLUMNS``). ``kind``: the type's
    code, or SQL giving it (a trigger's argument)."""
    return (f"SELECT {kind}::smallint AS kind, t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS in_name "
            f'FROM {rows} r, unnest(r."{document}") t')


_KIND_ARGUMENT = "TG_ARGV[0]"  # each table's triggers pass its type's code
_GONE = "p.kind = gone.kind AND p.lexeme = gone.lexeme AND p.object_id = gone.object_id"
_POSTING_FUNCTIONS = {
    # Inserted rows: their postings. ON CONFLICT so that postings left over from writes made with the
    # triggers disabled are corrected rather than refused.
    "insert": f"""
        INSERT INTO {POSTING_TABLE} (kind, lexeme, object_id, in_name)
        {postings_of_sql("new_rows", _KIND_ARGUMENT)}
        ON CONFLICT (kind, lexeme, object_id) DO UPDATE SET in_name = EXCLUDED.in_name;""",
    # Updated rows: only those whose document changed (most updates leave it alone: a bulk
    # reclassification costs a join, not a comparison of millions of postings), and of those
    # only the postings that changed. The removed and the added postings never share a key,
    # so one statement does both.
    "update": f"""
        WITH changed AS MATERIALIZED (
            SELECT n.id, o."{DOCUMENT_COLUMN}" AS old_document, n."{DOCUMENT_COLUMN}" AS new_document
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o."{DOCUMENT_COLUMN}" IS DISTINCT FROM n."{DOCUMENT_COLUMN}"
        ), before AS ({postings_of_sql("changed", _KIND_ARGUMENT, "old_document")}
        ), after AS ({postings_of_sql("changed", _KIND_ARGUMENT, "new_document")}
        ), removed AS (
            DELETE FROM {POSTING_TABLE} p USING (SELECT kind, lexeme, object_id FROM before
                                                 EXCEPT SELECT kind, lexeme, object_id FROM after) gone
            WHERE {_GONE}
        )
        INSERT INTO {POSTING_TABLE} (kind, lexeme, object_id, in_name)
        SELECT * FROM (SELECT * FROM after EXCEPT SELECT * FROM before) added
        ON CONFLICT (kind, lexeme, object_id) DO UPDATE SET in_name = EXCLUDED.in_name;""",
    "delete": f"""
        DELETE FROM {POSTING_TABLE} p USING ({postings_of_sql("old_rows", _KIND_ARGUMENT)}) gone WHERE {_GONE};""",
    "truncate": f"DELETE FROM {POSTING_TABLE} WHERE kind = {_KIND_ARGUMENT}::smallint;",
}
_TRANSITION = {"insert": "REFERENCING NEW TABLE AS new_rows", "update": "REFERENCING OLD TABLE AS old_rows "
               "NEW TABLE AS new_rows", "delete": "REFERENCING OLD TABLE AS old_rows", "truncate": ""}


def posting_function_sql(event: str) -> str:
    """The trigger function that follows ``event`` (insert, update, delete, truncate) on a searchable table."""
    return (f"CREATE OR REPLACE FUNCTION accord_search_postings_{event}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {_POSTING_FUNCTIONS[event]} RETURN NULL; END $$")


def create_postings_sql(tables: dict[str, str]) -> list[str]:
    """The posting table, its indexes, the trigger functions and each table's triggers, and the postings
    of the rows already there. ``tables``: model label → table."""
    statements = [
        f"CREATE TABLE {POSTING_TABLE} (kind smallint NOT NULL, lexeme text COLLATE \"C\" NOT NULL, "
        "object_id bigint NOT NULL, in_name boolean NOT NULL, PRIMARY KEY (kind, lexeme, object_id))",
        # The name matches of a word, in id order, without reading its other postings.
        f"CREATE INDEX {POSTING_TABLE}_names ON {POSTING_TABLE} (kind, lexeme, object_id) WHERE in_name",
    ]
    statements += [posting_function_sql(event) for event in _POSTING_FUNCTIONS]
    for label, table in tables.items():
        kind = POSTING_KINDS[label]
        statements.append(f"INSERT INTO {POSTING_TABLE} (kind, lexeme, object_id, in_name) "
                          f"{postings_of_sql(table, kind)}")
        for event, transition in _TRANSITION.items():
            statements.append(f"CREATE TRIGGER accord_search_postings_{event} AFTER {event.upper()} ON {table} "
                              f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_{event}"
                              f"('{kind}')")
    statements.append(f"ANALYZE {POSTING_TABLE}")
    return statements


def drop_postings_sql(tables: dict[str, str]) -> list[str]:
    statements = [f"DROP TRIGGER IF EXISTS accord_search_postings_{event} ON {table}"
                  for table in tables.values() for event in _POSTING_FUNCTIONS]
    statements += [f"DROP FUNCTION IF EXISTS accord_search_postings_{event}()" for event in _POSTING_FUNCTIONS]
    statements.append(f"DROP TABLE IF EXISTS {POSTING_TABLE}")
    return statements


# --- A field's system, kept on the field (PostgreSQL) -----------------------------------------------

# The search's system facet counts a field under its dataset's system. Looking that up for every
# candidate field costs an index probe each; so on PostgreSQL each field row also carries its
# dataset's system in this column, kept by triggers (not a model field, like the documents): a row
# trigger sets it when a field is inserted or moves to another dataset, and one on the dataset table
# rewrites it on the dataset's fields when a dataset moves to another system.
FIELD_SYSTEM_COLUMN = "search_system_id"


def create_field_system_sql(field_table: str, dataset_table: str) -> list[str]:
    """The column, filled from the rows already there, and the triggers that keep it."""
    return [
        f'ALTER TABLE {field_table} ADD COLUMN "{FIELD_SYSTEM_COLUMN}" bigint',
        f'UPDATE {field_table} f SET "{FIELD_SYSTEM_COLUMN}" = d.system_id FROM {dataset_table} d '
        "WHERE d.id = f.dataset_id",
        "CREATE OR REPLACE FUNCTION accord_field_system() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f'NEW."{FIELD_SYSTEM_COLUMN}" := (SELECT d.system_id FROM {dataset_table} d WHERE d.id = NEW.dataset_id); '
        "RETURN NEW; END $$",
        f"CREATE TRIGGER accord_field_system_insert BEFORE INSERT ON {field_table} "
        "FOR EACH ROW EXECUTE FUNCTION accord_field_system()",
        f"CREATE TRIGGER accord_field_system_update BEFORE UPDATE OF dataset_id ON {field_table} "
        "FOR EACH ROW WHEN (OLD.dataset_id IS DISTINCT FROM NEW.dataset_id) EXECUTE FUNCTION accord_field_system()",
        "CREATE OR REPLACE FUNCTION accord_dataset_system() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f'UPDATE {field_table} SET "{FIELD_SYSTEM_COLUMN}" = NEW.system_id WHERE dataset_id = NEW.id; '
        "RETURN NULL; END $$",
        f"CREATE TRIGGER accord_dataset_system AFTER UPDATE OF system_id ON {dataset_table} "
        "FOR EACH ROW WHEN (OLD.system_id IS DISTINCT FROM NEW.system_id) EXECUTE FUNCTION accord_dataset_system()",
    ]


def drop_field_system_sql(field_table: str, dataset_table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS accord_dataset_system ON {dataset_table}",
        f"DROP TRIGGER IF EXISTS accord_field_system_update ON {field_table}",
        f"DROP TRIGGER IF EXISTS accord_field_system_insert ON {field_table}",
        "DROP FUNCTION IF EXISTS accord_dataset_system()",
        "DROP FUNCTION IF EXISTS accord_field_system()",
        f'ALTER TABLE {field_table} DROP COLUMN IF EXISTS "{FIELD_SYSTEM_COLUMN}"',
    ]
