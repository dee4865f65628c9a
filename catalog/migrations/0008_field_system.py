"""A field's dataset's system, kept on the field on PostgreSQL (``catalog.models.search``,
"A field's system"), so the search's system facet reads it with the field instead of looking up
each candidate's dataset.

Filling it rewrites every field row once (44 s at a million fields on the benchmark machine, the
posting table's update trigger included, and the table's size in dead row versions until vacuum):
on a large catalog, run it in a maintenance window. SQLite searches without it: nothing to do there.
"""

from django.db import migrations

from catalog.models.search import create_field_system_sql, drop_field_system_sql


def _tables(apps) -> tuple[str, str]:
    return apps.get_model("catalog", "Field")._meta.db_table, apps.get_model("catalog", "Dataset")._meta.db_table


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in create_field_system_sql(*_tables(apps)):
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in drop_field_system_sql(*_tables(apps)):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_search_postings_changed_documents")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
