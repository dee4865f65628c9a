"""Make the audit log append-only in the database itself.

PostgreSQL: triggers refuse UPDATE, DELETE and TRUNCATE on the table.
SQLite: triggers refuse UPDATE and DELETE (SQLite has no TRUNCATE).
Nothing in the application can alter or remove a record; only someone able to
drop the triggers (the table's owner) could, and ``verify_audit`` finds it.
"""

from django.db import migrations

TABLE = "permissions_auditrecord"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION accord_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on {TABLE} refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER accord_audit_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION accord_audit_refuse_change();
CREATE TRIGGER accord_audit_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION accord_audit_refuse_change();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS accord_audit_no_truncate ON {TABLE};
DROP TRIGGER IF EXISTS accord_audit_no_update_delete ON {TABLE};
DROP FUNCTION IF EXISTS accord_audit_refuse_change();
"""
SQLITE_UP = [
    f"""CREATE TRIGGER accord_audit_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on {TABLE} refused'); END""",
    f"""CREATE TRIGGER accord_audit_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE on {TABLE} refused'); END""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS accord_audit_no_update", "DROP TRIGGER IF EXISTS accord_audit_no_delete"]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)  # the SQL holds a literal %
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
