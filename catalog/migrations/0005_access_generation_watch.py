"""Departments and their members decide whom a department rule reaches: changes to them
change the access generation (``permissions.generation``), like rule changes do. Each table
gets the triggers that replace the token (the function and the SQLite statements are those of
``permissions/migrations/0003_access_generation.py``).

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

POSTGRESQL_WATCH = [
    ("CREATE TRIGGER accord_generation_catalog_department AFTER INSERT OR UPDATE OR DELETE ON "
     "catalog_department FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()"),
    ("CREATE TRIGGER accord_generation_truncate_catalog_department AFTER TRUNCATE ON catalog_department FOR "
     "EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()"),
    ("CREATE TRIGGER accord_generation_catalog_departmentmembership AFTER INSERT OR UPDATE OR DELETE ON "
     "catalog_departmentmembership FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()"),
    ("CREATE TRIGGER accord_generation_truncate_catalog_departmentmembership AFTER TRUNCATE ON "
     "catalog_departmentmembership FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()"),
]

POSTGRESQL_UNWATCH = [
    "DROP TRIGGER IF EXISTS accord_generation_catalog_department ON catalog_department",
    "DROP TRIGGER IF EXISTS accord_generation_truncate_catalog_department ON catalog_department",
    "DROP TRIGGER IF EXISTS accord_generation_catalog_departmentmembership ON catalog_departmentmembership",
    ("DROP TRIGGER IF EXISTS accord_generation_truncate_catalog_departmentmembership ON "
     "catalog_departmentmembership"),
]

# Plain UPDATE and INSERT … WHERE NOT EXISTS: inside a SQLite trigger, the outer statement's
# conflict clause (Django's INSERT OR IGNORE for memberships) would replace an upsert's own.
SQLITE_WATCH = [
    ("CREATE TRIGGER accord_generation_insert_catalog_department AFTER INSERT ON catalog_department BEGIN "
     "UPDATE accord_access_generation SET token = hex(randomblob(16)) WHERE id = 1; INSERT INTO "
     "accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT EXISTS (SELECT 1 FROM "
     "accord_access_generation WHERE id = 1); END"),
    ("CREATE TRIGGER accord_generation_update_catalog_department AFTER UPDATE ON catalog_department BEGIN "
     "UPDATE accord_access_generation SET token = hex(randomblob(16)) WHERE id = 1; INSERT INTO "
     "accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT EXISTS (SELECT 1 FROM "
     "accord_access_generation WHERE id = 1); END"),
    ("CREATE TRIGGER accord_generation_delete_catalog_department AFTER DELETE ON catalog_department BEGIN "
     "UPDATE accord_access_generation SET token = hex(randomblob(16)) WHERE id = 1; INSERT INTO "
     "accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT EXISTS (SELECT 1 FROM "
     "accord_access_generation WHERE id = 1); END"),
    ("CREATE TRIGGER accord_generation_insert_catalog_departmentmembership AFTER INSERT ON "
     "catalog_departmentmembership BEGIN UPDATE accord_access_generation SET token = hex(randomblob(16)) "
     "WHERE id = 1; INSERT INTO accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT "
     "EXISTS (SELECT 1 FROM accord_access_generation WHERE id = 1); END"),
    ("CREATE TRIGGER accord_generation_update_catalog_departmentmembership AFTER UPDATE ON "
     "catalog_departmentmembership BEGIN UPDATE accord_access_generation SET token = hex(randomblob(16)) "
     "WHERE id = 1; INSERT INTO accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT "
     "EXISTS (SELECT 1 FROM accord_access_generation WHERE id = 1); END"),
    ("CREATE TRIGGER accord_generation_delete_catalog_departmentmembership AFTER DELETE ON "
     "catalog_departmentmembership BEGIN UPDATE accord_access_generation SET token = hex(randomblob(16)) "
     "WHERE id = 1; INSERT INTO accord_access_generation (id, token) SELECT 1, hex(randomblob(16)) WHERE NOT "
     "EXISTS (SELECT 1 FROM accord_access_generation WHERE id = 1); END"),
]

SQLITE_UNWATCH = [
    "DROP TRIGGER IF EXISTS accord_generation_insert_catalog_department",
    "DROP TRIGGER IF EXISTS accord_generation_update_catalog_department",
    "DROP TRIGGER IF EXISTS accord_generation_delete_catalog_department",
    "DROP TRIGGER IF EXISTS accord_generation_insert_catalog_departmentmembership",
    "DROP TRIGGER IF EXISTS accord_generation_update_catalog_departmentmembership",
    "DROP TRIGGER IF EXISTS accord_generation_delete_catalog_departmentmembership",
]


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    _run(schema_editor, POSTGRESQL_WATCH if postgresql else SQLITE_WATCH)


def backwards(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    _run(schema_editor, POSTGRESQL_UNWATCH if postgresql else SQLITE_UNWATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_search_document"),
        ("permissions", "0003_access_generation"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
