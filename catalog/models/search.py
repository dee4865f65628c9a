"""Full-text search documents: which columns of each model are searched, with weights."""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector

SEARCH_CONFIG = "english"

# model label → ((column, weight), …). The GIN indexes (migration
# catalog/migrations/0002_search_indexes.py) are built over exactly these expressions,
# so PostgreSQL can answer a search from the index.
SEARCH_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "catalog.Dataset": (("name", "A"), ("qualified_name", "A"), ("description", "B")),
    "catalog.Field": (("name", "A"), ("description", "B")),
    "catalog.System": (("name", "A"), ("vendor", "B"), ("description", "B")),
    "catalog.Department": (("name", "A"), ("description", "B")),
}


def search_vector(label: str) -> SearchVector:
    vectors = [SearchVector(column, weight=weight, config=SEARCH_CONFIG) for column, weight in SEARCH_COLUMNS[label]]
    combined = vectors[0]
    for vector in vectors[1:]:
        combined = combined + vector
    return combined
