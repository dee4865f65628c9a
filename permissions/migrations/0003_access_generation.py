"""The access generation token and its triggers on the rule tables and group memberships
(``permissions.generation``). The department tables are watched by the catalog's migration.

The SQL is written out here, so this migration does what it did when it was written,
whatever later code says."""

from django.conf import settings
from django.db import migrations

TABLE = "accord_access_generation"

POSTGRES_CREATE = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY, token varchar(64) NOT NULL)",
    f"""
CREATE OR REPLACE FUNCTION accord_bump_access_generation() RETURNS trigger AS $$
BEGIN
    INSERT INTO {TABLE} (id, token) VALUES (1, md5(random()::text || clock_timestamp()::text))
        ON CONFLICT (id) DO UPDATE SET token = excluded.token;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""",
    f"INSERT INTO {TABLE} (id, token) VALUES (1, md5(random()::text)) ON CONFLICT (id) DO NOTHING",
]
POSTGRES_DROP = [f"DROP TABLE IF EXISTS {TABLE}", "DROP FUNCTION IF EXISTS accord_bump_access_generation() CASCADE"]
SQLITE_CREATE = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY, token varchar(64) NOT NULL)",
    f"INSERT OR IGNORE INTO {TABLE} (id, token) VALUES (1, hex(randomblob(16)))",
]
SQLITE_DROP = [f"DROP TABLE IF EXISTS {TABLE}"]
# Plain UPDATE and INSERT … WHERE NOT EXISTS: inside a SQLite trigger, the outer statement's
# conflict clause (Django's INSERT OR IGNORE for memberships) would replace an upsert's own.
SQLITE_BUMP = (f"UPDATE {TABLE} SET token = hex(randomblob(16)) WHERE id = 1; "
               f"INSERT INTO {TABLE} (id, token) SELECT 1, hex(randomblob(16)) "
               f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE id = 1)")


def watch_statements(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"CREATE TRIGGER accord_generation_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()",
            f"CREATE TRIGGER accord_generation_truncate_{table} AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()",
        ]
    return [f"CREATE TRIGGER accord_generation_{operation.lower()}_{table} AFTER {operation} ON {table} "
            f"BEGIN {SQLITE_BUMP}; END" for operation in ("INSERT", "UPDATE", "DELETE")]


def unwatch_statements(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS accord_generation_{table} ON {table}",
                f"DROP TRIGGER IF EXISTS accord_generation_truncate_{table} ON {table}"]
    return [f"DROP TRIGGER IF EXISTS accord_generation_{operation}_{table}"
            for operation in ("insert", "update", "delete")]


def _watched(apps) -> list[str]:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    return [
        apps.get_model("permissions", "AccessRule")._meta.db_table,
        apps.get_model("permissions", "AccessRuleException")._meta.db_table,
        user_model._meta.get_field("groups").remote_field.through._meta.db_table,
    ]


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRES_CREATE if vendor == "postgresql" else SQLITE_CREATE)
    for table in _watched(apps):
        _run(schema_editor, watch_statements(vendor, table))


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in _watched(apps):
        _run(schema_editor, unwatch_statements(vendor, table))
    _run(schema_editor, POSTGRES_DROP if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0002_audit_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
