"""GIN indexes for full-text search, on PostgreSQL only.

Each index is built over exactly the weighted document that ``catalog.search``
queries (``catalog.models.search.search_vector``), so PostgreSQL answers a search
from the index. SQLite has no GIN; search falls back to substring matching there.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from catalog.models.search import SEARCH_COLUMNS, search_vector


def _index(label: str) -> GinIndex:
    model_name = label.split(".")[1].lower()
    return GinIndex(search_vector(label), name=f"{model_name}_search_gin")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for label in SEARCH_COLUMNS:
        schema_editor.add_index(apps.get_model(label), _index(label))


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for label in SEARCH_COLUMNS:
        schema_editor.remove_index(apps.get_model(label), _index(label))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
