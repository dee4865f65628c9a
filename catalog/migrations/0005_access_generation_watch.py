"""Departments and their members decide whom a department rule reaches: changes to them
change the access generation (``permissions.generation``), like rule changes do."""

from django.db import migrations

from permissions import generation

MODELS = ("Department", "DepartmentMembership")


def forwards(apps, schema_editor):
    for name in MODELS:
        table = apps.get_model("catalog", name)._meta.db_table
        generation.run(schema_editor, generation.watch_sql(schema_editor.connection.vendor, table))


def backwards(apps, schema_editor):
    for name in MODELS:
        table = apps.get_model("catalog", name)._meta.db_table
        generation.run(schema_editor, generation.unwatch_sql(schema_editor.connection.vendor, table))


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_search_document"),
        ("permissions", "0003_access_generation"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
