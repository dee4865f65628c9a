"""The search posting table on PostgreSQL (``catalog.models.search``, "The posting table").

One row per (type, lexeme, object) of the stored search documents, kept by statement-level
triggers on each searchable table (insert, update, delete, truncate) in the writing
transaction, and filled here from the rows already there. A one-word search walks a word's
objects in id order through its B-tree (``catalog.search``).

Filling it reads every document once and writes about eight rows per field (about 7M rows
and 800 MB at a million fields, about half a minute on the benchmark machine): on a large
catalog, run it in a maintenance window. SQLite has no ``tsvector``: nothing to do there.
"""

from django.db import migrations

from catalog.models.search import SEARCH_COLUMNS, create_postings_sql, drop_postings_sql


def _tables(apps) -> dict[str, str]:
    return {label: apps.get_model(*label.split("."))._meta.db_table for label in SEARCH_COLUMNS}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in create_postings_sql(_tables(apps)):
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in drop_postings_sql(_tables(apps)):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_access_generation_watch")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
