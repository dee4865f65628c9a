"""The access generation token and its triggers on the rule tables and group memberships
(``permissions.generation``). The department tables are watched by the catalog's migration."""

from django.conf import settings
from django.db import migrations

from permissions import generation


def _watched(apps) -> list[str]:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    return [
        apps.get_model("permissions", "AccessRule")._meta.db_table,
        apps.get_model("permissions", "AccessRuleException")._meta.db_table,
        user_model._meta.get_field("groups").remote_field.through._meta.db_table,
    ]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    generation.run(schema_editor, generation.create_table_sql(vendor))
    for table in _watched(apps):
        generation.run(schema_editor, generation.watch_sql(vendor, table))


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in _watched(apps):
        generation.run(schema_editor, generation.unwatch_sql(vendor, table))
    generation.run(schema_editor, generation.drop_table_sql(vendor))


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0002_audit_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
