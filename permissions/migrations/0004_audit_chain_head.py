"""The audit chain's head row: the tip of the chain, kept so an append is one statement.

It starts as the last existing record says (or the genesis when there is none);
``permissions.audit`` moves it forward with every append.
"""

from django.db import migrations, models

GENESIS_HASH = "0" * 64


def initialise_head(apps, schema_editor):
    AuditRecord = apps.get_model("permissions", "AuditRecord")
    AuditChainHead = apps.get_model("permissions", "AuditChainHead")
    alias = schema_editor.connection.alias
    last = AuditRecord.objects.using(alias).order_by("-seq").values("seq", "record_hash", "prev_hash").first()
    if last is None:
        last = {"seq": 0, "record_hash": GENESIS_HASH, "prev_hash": GENESIS_HASH}
    AuditChainHead.objects.using(alias).create(id=1, **last)


class Migration(migrations.Migration):

    dependencies = [
        ('permissions', '0003_access_generation'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.SmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('seq', models.BigIntegerField()),
                ('record_hash', models.CharField(max_length=64)),
                ('prev_hash', models.CharField(max_length=64)),
            ],
            options={
                'default_permissions': (),
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='audit_chain_head_one_row')],
            },
        ),
        migrations.RunPython(initialise_head, migrations.RunPython.noop),
    ]
