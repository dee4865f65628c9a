"""Five fewer indexes to update per audit record: ``action`` is the leading column of
audit_failures_idx; ``record_hash`` needs no unique index (it covers ``seq``, which has
one); ``request_id`` keeps a plain index without the pattern-ops twin.

SQLite rebuilds the table to alter its columns, which drops the append-only triggers
of migration 0002 with the old table: they are created again on the new one.
"""

import importlib

from django.db import migrations, models


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        append_only = importlib.import_module("permissions.migrations.0002_audit_append_only")
        for statement in append_only.SQLITE_DOWN + append_only.SQLITE_UP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('permissions', '0004_audit_chain_head'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditrecord',
            name='action',
            field=models.CharField(choices=[('create', 'Created'), ('update', 'Updated'), ('delete', 'Deleted'), ('approve', 'Approved'), ('sign', 'Signed'), ('rule_change', 'Access rule changed'), ('token_created', 'API token created'), ('token_revoked', 'API token revoked'), ('token_rejected', 'API token rejected'), ('login', 'Logged in'), ('logout', 'Logged out'), ('login_failed', 'Login failed'), ('access_denied', 'Request denied'), ('read_restricted', 'Restricted object read'), ('permission_granted', 'Object permission granted'), ('permission_revoked', 'Object permission revoked')], max_length=32),
        ),
        migrations.AlterField(
            model_name='auditrecord',
            name='record_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditrecord',
            name='request_id',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name='auditrecord',
            index=models.Index(fields=['request_id'], name='audit_request_idx'),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
    ]
