"""The posting table's update trigger (``catalog.models.search``) looks only at rows whose
search document changed: a bulk update that leaves the text alone (a reclassification, a
new steward) no longer compares every posting of every updated row. Same postings as the
function of 0006, which stays correct if this is reversed."""

from django.db import migrations

from catalog.models.search import posting_function_sql


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(posting_function_sql("update"))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_search_postings")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
