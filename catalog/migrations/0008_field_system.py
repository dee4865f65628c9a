"""A field's dataset's system, kept on the field on PostgreSQL, so the search's system facet
reads it with the field instead of looking up each candidate's dataset (removed again by 0010).

Filling it rewrites every field row once (44 s at a million fields on the benchmark machine, the
posting table's update trigger included, and the table's size in dead row versions until vacuum):
on a large catalog, run it in a maintenance window. SQLite searches without it: nothing to do there.

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

CREATE_FIELD_SYSTEM = [
    'ALTER TABLE catalog_field ADD COLUMN "search_system_id" bigint',
    ('UPDATE catalog_field f SET "search_system_id" = d.system_id FROM catalog_dataset d WHERE d.id = '
     "f.dataset_id"),
    ("CREATE OR REPLACE FUNCTION accord_field_system() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     'NEW."search_system_id" := (SELECT d.system_id FROM catalog_dataset d WHERE d.id = NEW.dataset_id); '
     "RETURN NEW; END $$"),
    ("CREATE TRIGGER accord_field_system_insert BEFORE INSERT ON catalog_field FOR EACH ROW EXECUTE FUNCTION "
     "accord_field_system()"),
    ("CREATE TRIGGER accord_field_system_update BEFORE UPDATE OF dataset_id ON catalog_field FOR EACH ROW "
     "WHEN (OLD.dataset_id IS DISTINCT FROM NEW.dataset_id) EXECUTE FUNCTION accord_field_system()"),
    ("CREATE OR REPLACE FUNCTION accord_dataset_system() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE "
     'catalog_field SET "search_system_id" = NEW.system_id WHERE dataset_id = NEW.id; RETURN NULL; END $$'),
    ("CREATE TRIGGER accord_dataset_system AFTER UPDATE OF system_id ON catalog_dataset FOR EACH ROW WHEN "
     "(OLD.system_id IS DISTINCT FROM NEW.system_id) EXECUTE FUNCTION accord_dataset_system()"),
]

DROP_FIELD_SYSTEM = [
    "DROP TRIGGER IF EXISTS accord_dataset_system ON catalog_dataset",
    "DROP TRIGGER IF EXISTS accord_field_system_update ON catalog_field",
    "DROP TRIGGER IF EXISTS accord_field_system_insert ON catalog_field",
    "DROP FUNCTION IF EXISTS accord_dataset_system()",
    "DROP FUNCTION IF EXISTS accord_field_system()",
    'ALTER TABLE catalog_field DROP COLUMN IF EXISTS "search_system_id"',
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE_FIELD_SYSTEM:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_FIELD_SYSTEM:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_search_postings_changed_documents")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
