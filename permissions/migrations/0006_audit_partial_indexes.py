"""Two audit indexes become partial: ``audit_parent_idx`` only over records with a parent
(a field's, under its dataset) and ``audit_request_idx`` only over records made in a
request. Records of top-level objects and of work outside requests (tasks, commands)
then update two indexes fewer; searches for a parent or a request id still use them
(their predicate implies the index's). Dropping and creating an index keeps SQLite's
table, so the append-only triggers of 0002 stay.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('permissions', '0005_audit_fewer_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='auditrecord',
            name='audit_parent_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditrecord',
            name='audit_request_idx',
        ),
        migrations.AddIndex(
            model_name='auditrecord',
            index=models.Index(condition=models.Q(('parent_type', ''), _negated=True), fields=['parent_type', 'parent_id'], name='audit_parent_idx'),
        ),
        migrations.AddIndex(
            model_name='auditrecord',
            index=models.Index(condition=models.Q(('request_id', ''), _negated=True), fields=['request_id'], name='audit_request_idx'),
        ),
    ]
