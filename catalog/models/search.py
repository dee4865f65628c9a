"""Full-text search documents: which columns of each model are searched, with weights.

On PostgreSQL every searchable table carries its weighted document as a stored
generated ``tsvector`` column, ``search_document``, with a GIN index; and a GIN
index over its name document (the weight-A columns only), which lets a broad
search take the name matches first (``catalog.search``). Both are created by
migration ``catalog/migrations/0004_search_document.py``; they are not model fields
(SQLite has no ``tsvector``), so only raw SQL in ``catalog.search`` refers to them.
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
