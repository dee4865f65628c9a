"""Failed sign-ins are counted by django-axes per (credential, address) now, not from the audit
log: the index that served that count is dropped (one index fewer to keep on every audit write)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('permissions', '0008_audit_client_request_id'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='auditrecord',
            name='audit_failures_idx',
        ),
    ]
