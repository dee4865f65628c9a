"""Stored search documents on PostgreSQL: a generated ``tsvector`` column per searchable table.

``search_document`` is ``GENERATED ALWAYS AS (<weighted document>) STORED``, so
ranking reads the stored vector instead of re-parsing every match's text (the
cost that dominated broad searches), and its GIN index replaces the expression
index of 0002. A second GIN index covers the name (weight-A) columns alone: a
broad search takes its bounded candidate set from the name matches first
(``catalog.search``).

Adding a stored generated column rewrites the table (an ACCESS EXCLUSIVE lock
while it runs): on a large catalog, run this migration in a maintenance window.
SQLite has no ``tsvector``: nothing to do there (search falls back to substring
matching). The column is not a model field, so ``makemigrations`` does not see it.
"""

from django.db import migrations

from catalog.models.search import DOCUMENT_COLUMN, SEARCH_COLUMNS, document_sql, name_document_sql


def _table(label: str) -> str:
    return f"catalog_{label.split('.')[1].lower()}"


def _model_name(label: str) -> str:
    return label.split(".")[1].lower()


def add_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for label in SEARCH_COLUMNS:
        table, name = _table(label), _model_name(label)
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}_search_gin"')
        schema_editor.execute(f'ALTER TABLE "{table}" ADD COLUMN "{DOCUMENT_COLUMN}" tsvector '
                              f"GENERATED ALWAYS AS ({document_sql(label)}) STORED")
        schema_editor.execute(f'CREATE INDEX "{name}_document_gin" ON "{table}" USING gin ("{DOCUMENT_COLUMN}")')
        schema_editor.execute(f'CREATE INDEX "{name}_name_gin" ON "{table}" USING gin (({name_document_sql(label)}))')


def drop_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for label in SEARCH_COLUMNS:
        table, name = _table(label), _model_name(label)
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}_name_gin"')
        schema_editor.execute(f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS "{DOCUMENT_COLUMN}"')
        schema_editor.execute(f'CREATE INDEX "{name}_search_gin" ON "{table}" USING gin (({document_sql(label)}))')


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_datasetgroupobjectpermission_and_more")]
    operations = [migrations.RunPython(add_documents, drop_documents, elidable=False)]
