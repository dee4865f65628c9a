"""The caller's ``X-Request-ID`` gets a column of its own, ``client_request_id``; ``request_id``
is the server's id of the request from now on.

PostgreSQL: ``accord_audit_append`` (migration 0007) is replaced by one that takes the new
column, in ``permissions.audit._CONTENT_FIELDS`` order. SQLite rebuilds the table to add a
column with a default, which drops the append-only triggers of migration 0002 with the old
table: they are created again on the new one (the statements are written out here, so this
migration does the same whatever later code says).
"""

from django.db import migrations, models

TABLE = "permissions_auditrecord"

OLD_APPEND_DROP = """
DROP FUNCTION IF EXISTS accord_audit_append(text, text, text, timestamptz, text, bigint, text, text, text, text,
    text, text, jsonb, jsonb, text, inet, text, text);
"""
NEW_APPEND_DROP = """
DROP FUNCTION IF EXISTS accord_audit_append(text, text, text, timestamptz, text, bigint, text, text, text, text,
    text, text, jsonb, jsonb, text, text, inet, text, text);
"""


def _append_function(with_client_request_id: bool) -> str:
    extra_param = " p_client_request_id text," if with_client_request_id else ""
    extra_column = " client_request_id," if with_client_request_id else ""
    extra_value = " p_client_request_id," if with_client_request_id else ""
    return f"""
CREATE OR REPLACE FUNCTION accord_audit_append(
    before_prev text, before_seq text, after_seq text,
    p_timestamp timestamptz, p_action text, p_actor_id bigint, p_actor_name text,
    p_object_type text, p_object_id text, p_object_repr text, p_parent_type text, p_parent_id text,
    p_changes jsonb, p_details jsonb, p_request_id text,{extra_param} p_client_ip inet, p_user_agent text,
    p_reason text)
RETURNS TABLE (id bigint, seq bigint, prev_hash varchar, record_hash varchar)
LANGUAGE plpgsql AS $append$
BEGIN
    FOR attempt IN 1..2 LOOP
        -- The SET expressions see the old head row: record_hash there is the predecessor's
        -- hash. The row lock the UPDATE takes is held until commit, serialising appenders.
        RETURN QUERY
        WITH step AS (
            UPDATE permissions_auditchainhead AS head
            SET prev_hash = head.record_hash, seq = head.seq + 1,
                record_hash = encode(sha256(convert_to(
                    before_prev || head.record_hash || before_seq || (head.seq + 1)::text || after_seq,
                    'UTF8')), 'hex')
            WHERE head.id = 1
            RETURNING head.seq, head.prev_hash, head.record_hash
        )
        INSERT INTO permissions_auditrecord AS record (
            seq, prev_hash, record_hash, timestamp, action, actor_id, actor_name, object_type, object_id,
            object_repr, parent_type, parent_id, changes, details, request_id,{extra_column} client_ip, user_agent,
            reason)
        SELECT step.seq, step.prev_hash, step.record_hash, p_timestamp, p_action, p_actor_id, p_actor_name,
            p_object_type, p_object_id, p_object_repr, p_parent_type, p_parent_id, p_changes, p_details,
            p_request_id,{extra_value} p_client_ip, p_user_agent, p_reason
        FROM step
        RETURNING record.id, record.seq, record.prev_hash, record.record_hash;
        IF FOUND THEN
            RETURN;
        END IF;
        -- No head row (a new table, or a test database flushed): start it from the last
        -- record, or the genesis, and append again. A concurrent starter's row wins.
        INSERT INTO permissions_auditchainhead (id, seq, record_hash, prev_hash)
        SELECT 1, coalesce(last.seq, 0), coalesce(last.record_hash, repeat('0', 64)),
            coalesce(last.prev_hash, repeat('0', 64))
        FROM (SELECT 1) AS genesis
        LEFT JOIN (SELECT r.seq, r.record_hash, r.prev_hash FROM permissions_auditrecord AS r
                   ORDER BY r.seq DESC LIMIT 1) AS last ON true
        ON CONFLICT ON CONSTRAINT permissions_auditchainhead_pkey DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'audit: the chain''s head row could not be started';
END
$append$;
"""


SQLITE_TRIGGERS_DOWN = ["DROP TRIGGER IF EXISTS accord_audit_no_update", "DROP TRIGGER IF EXISTS accord_audit_no_delete"]
SQLITE_TRIGGERS_UP = [
    f"""CREATE TRIGGER accord_audit_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on {TABLE} refused'); END""",
    f"""CREATE TRIGGER accord_audit_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE on {TABLE} refused'); END""",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(OLD_APPEND_DROP, params=None)
        schema_editor.execute(_append_function(True), params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS_DOWN + SQLITE_TRIGGERS_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(NEW_APPEND_DROP, params=None)
        schema_editor.execute(_append_function(False), params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS_DOWN + SQLITE_TRIGGERS_UP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('permissions', '0007_audit_append_function'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditrecord',
            name='client_request_id',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.RunPython(forwards, backwards),
    ]
