"""Full-text search documents: which columns of each model are searched, with weights.

On PostgreSQL every searchable table carries its weighted document as a stored
generated ``tsvector`` column, ``search_document``, with a GIN index; and a GIN
index over its name document (the weight-A columns only), which lets a broad
search take the name matches first (``catalog.search``). Both are created by
migration ``catalog/migrations/0004_search_document.py``, which writes out the
documents of ``SEARCH_COLUMNS``; they are not model fields (SQLite has no
``tsvector``), so only raw SQL in ``catalog.search`` refers to them.
"""

from __future__ import annotations

SEARCH_CONFIG = "english"
DOCUMENT_COLUMN = "search_document"

# model label → ((column, weight), …): what migration 0004 put in each table's document.
SEARCH_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "catalog.Dataset": (("name", "A"), ("qualified_name", "A"), ("description", "B")),
    "catalog.Field": (("name", "A"), ("description", "B")),
    "catalog.System": (("name", "A"), ("vendor", "B"), ("description", "B")),
    "catalog.Department": (("name", "A"), ("description", "B")),
}


def _column(table: str, column: str) -> str:
    return f'"{table}"."{column}"' if table else f'"{column}"'


def _tsvector(column: str) -> str:
    return f"to_tsvector('{SEARCH_CONFIG}'::regconfig, COALESCE({column}, ''))"


def name_document_sql(label: str, table: str = "") -> str:
    """The document of the weight-A (name) columns, unweighted: the name index's expression.

    ``table`` qualifies the columns; PostgreSQL matches the expression to the index
    either way, so a query written with it can use the index.
    """
    return " || ".join(_tsvector(_column(table, column)) for column, weight in SEARCH_COLUMNS[label] if weight == "A")
