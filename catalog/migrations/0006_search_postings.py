"""The search posting table on PostgreSQL (removed again by 0010).

One row per (type, lexeme, object) of the stored search documents, kept by statement-level
triggers on each searchable table (insert, update, delete, truncate) in the writing
transaction, and filled here from the rows already there. A one-word search walks a word's
objects in id order through its B-tree (``catalog.search``).

Filling it reads every document once and writes about eight rows per field (about 7M rows
and 800 MB at a million fields, about half a minute on the benchmark machine): on a large
catalog, run it in a maintenance window. SQLite has no ``tsvector``: nothing to do there.

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

CREATE_POSTINGS = [
    ('CREATE TABLE catalog_search_posting (kind smallint NOT NULL, lexeme text COLLATE "C" NOT NULL, '
     "object_id bigint NOT NULL, in_name boolean NOT NULL, PRIMARY KEY (kind, lexeme, object_id))"),
    ("CREATE INDEX catalog_search_posting_names ON catalog_search_posting (kind, lexeme, object_id) WHERE "
     "in_name"),
    ('CREATE OR REPLACE FUNCTION accord_search_postings_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \n'
     '        INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name)\n'
     "        SELECT TG_ARGV[0]::smallint AS kind, t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS "
     'in_name FROM new_rows r, unnest(r."search_document") t\n'
     "        ON CONFLICT (kind, lexeme, object_id) DO UPDATE SET in_name = EXCLUDED.in_name; RETURN NULL; "
     "END $$"),
    ('CREATE OR REPLACE FUNCTION accord_search_postings_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \n'
     '        WITH changed AS MATERIALIZED (\n'
     '            SELECT n.id, o."search_document" AS old_document, n."search_document" AS new_document\n'
     '            FROM old_rows o JOIN new_rows n ON n.id = o.id\n'
     '            WHERE o."search_document" IS DISTINCT FROM n."search_document"\n'
     "        ), before AS (SELECT TG_ARGV[0]::smallint AS kind, t.lexeme, r.id AS object_id, 'A' = "
     'ANY(t.weights) AS in_name FROM changed r, unnest(r."old_document") t\n'
     "        ), after AS (SELECT TG_ARGV[0]::smallint AS kind, t.lexeme, r.id AS object_id, 'A' = "
     'ANY(t.weights) AS in_name FROM changed r, unnest(r."new_document") t\n'
     '        ), removed AS (\n'
     '            DELETE FROM catalog_search_posting p USING (SELECT kind, lexeme, object_id FROM before\n'
     '                                                 EXCEPT SELECT kind, lexeme, object_id FROM after) gone\n'
     '            WHERE p.kind = gone.kind AND p.lexeme = gone.lexeme AND p.object_id = gone.object_id\n'
     '        )\n'
     '        INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name)\n'
     '        SELECT * FROM (SELECT * FROM after EXCEPT SELECT * FROM before) added\n'
     "        ON CONFLICT (kind, lexeme, object_id) DO UPDATE SET in_name = EXCLUDED.in_name; RETURN NULL; "
     "END $$"),
    ('CREATE OR REPLACE FUNCTION accord_search_postings_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \n'
     "        DELETE FROM catalog_search_posting p USING (SELECT TG_ARGV[0]::smallint AS kind, t.lexeme, r.id "
     """AS object_id, 'A' = ANY(t.weights) AS in_name FROM old_rows r, unnest(r."search_document") t) gone """
     "WHERE p.kind = gone.kind AND p.lexeme = gone.lexeme AND p.object_id = gone.object_id; RETURN NULL; END "
     "$$"),
    ("CREATE OR REPLACE FUNCTION accord_search_postings_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ "
     "BEGIN DELETE FROM catalog_search_posting WHERE kind = TG_ARGV[0]::smallint; RETURN NULL; END $$"),
    ("INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name) SELECT 1::smallint AS kind, "
     "t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS in_name FROM catalog_dataset r, "
     'unnest(r."search_document") t'),
    ("CREATE TRIGGER accord_search_postings_insert AFTER INSERT ON catalog_dataset REFERENCING NEW TABLE AS "
     "new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_insert('1')"),
    ("CREATE TRIGGER accord_search_postings_update AFTER UPDATE ON catalog_dataset REFERENCING OLD TABLE AS "
     "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_update('1')"),
    ("CREATE TRIGGER accord_search_postings_delete AFTER DELETE ON catalog_dataset REFERENCING OLD TABLE AS "
     "old_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_delete('1')"),
    ("CREATE TRIGGER accord_search_postings_truncate AFTER TRUNCATE ON catalog_dataset  FOR EACH STATEMENT "
     "EXECUTE FUNCTION accord_search_postings_truncate('1')"),
    ("INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name) SELECT 2::smallint AS kind, "
     "t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS in_name FROM catalog_field r, "
     'unnest(r."search_document") t'),
    ("CREATE TRIGGER accord_search_postings_insert AFTER INSERT ON catalog_field REFERENCING NEW TABLE AS "
     "new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_insert('2')"),
    ("CREATE TRIGGER accord_search_postings_update AFTER UPDATE ON catalog_field REFERENCING OLD TABLE AS "
     "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_update('2')"),
    ("CREATE TRIGGER accord_search_postings_delete AFTER DELETE ON catalog_field REFERENCING OLD TABLE AS "
     "old_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_delete('2')"),
    ("CREATE TRIGGER accord_search_postings_truncate AFTER TRUNCATE ON catalog_field  FOR EACH STATEMENT "
     "EXECUTE FUNCTION accord_search_postings_truncate('2')"),
    ("INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name) SELECT 3::smallint AS kind, "
     "t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS in_name FROM catalog_system r, "
     'unnest(r."search_document") t'),
    ("CREATE TRIGGER accord_search_postings_insert AFTER INSERT ON catalog_system REFERENCING NEW TABLE AS "
     "new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_insert('3')"),
    ("CREATE TRIGGER accord_search_postings_update AFTER UPDATE ON catalog_system REFERENCING OLD TABLE AS "
     "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_update('3')"),
    ("CREATE TRIGGER accord_search_postings_delete AFTER DELETE ON catalog_system REFERENCING OLD TABLE AS "
     "old_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_delete('3')"),
    ("CREATE TRIGGER accord_search_postings_truncate AFTER TRUNCATE ON catalog_system  FOR EACH STATEMENT "
     "EXECUTE FUNCTION accord_search_postings_truncate('3')"),
    ("INSERT INTO catalog_search_posting (kind, lexeme, object_id, in_name) SELECT 4::smallint AS kind, "
     "t.lexeme, r.id AS object_id, 'A' = ANY(t.weights) AS in_name FROM catalog_department r, "
     'unnest(r."search_document") t'),
    ("CREATE TRIGGER accord_search_postings_insert AFTER INSERT ON catalog_department REFERENCING NEW TABLE "
     "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_insert('4')"),
    ("CREATE TRIGGER accord_search_postings_update AFTER UPDATE ON catalog_department REFERENCING OLD TABLE "
     "AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_update('4')"),
    ("CREATE TRIGGER accord_search_postings_delete AFTER DELETE ON catalog_department REFERENCING OLD TABLE "
     "AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION accord_search_postings_delete('4')"),
    ("CREATE TRIGGER accord_search_postings_truncate AFTER TRUNCATE ON catalog_department  FOR EACH STATEMENT "
     "EXECUTE FUNCTION accord_search_postings_truncate('4')"),
    "ANALYZE catalog_search_posting",
]

DROP_POSTINGS = [
    "DROP TRIGGER IF EXISTS accord_search_postings_insert ON catalog_dataset",
    "DROP TRIGGER IF EXISTS accord_search_postings_update ON catalog_dataset",
    "DROP TRIGGER IF EXISTS accord_search_postings_delete ON catalog_dataset",
    "DROP TRIGGER IF EXISTS accord_search_postings_truncate ON catalog_dataset",
    "DROP TRIGGER IF EXISTS accord_search_postings_insert ON catalog_field",
    "DROP TRIGGER IF EXISTS accord_search_postings_update ON catalog_field",
    "DROP TRIGGER IF EXISTS accord_search_postings_delete ON catalog_field",
    "DROP TRIGGER IF EXISTS accord_search_postings_truncate ON catalog_field",
    "DROP TRIGGER IF EXISTS accord_search_postings_insert ON catalog_system",
    "DROP TRIGGER IF EXISTS accord_search_postings_update ON catalog_system",
    "DROP TRIGGER IF EXISTS accord_search_postings_delete ON catalog_system",
    "DROP TRIGGER IF EXISTS accord_search_postings_truncate ON catalog_system",
    "DROP TRIGGER IF EXISTS accord_search_postings_insert ON catalog_department",
    "DROP TRIGGER IF EXISTS accord_search_postings_update ON catalog_department",
    "DROP TRIGGER IF EXISTS accord_search_postings_delete ON catalog_department",
    "DROP TRIGGER IF EXISTS accord_search_postings_truncate ON catalog_department",
    "DROP FUNCTION IF EXISTS accord_search_postings_insert()",
    "DROP FUNCTION IF EXISTS accord_search_postings_update()",
    "DROP FUNCTION IF EXISTS accord_search_postings_delete()",
    "DROP FUNCTION IF EXISTS accord_search_postings_truncate()",
    "DROP TABLE IF EXISTS catalog_search_posting",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in CREATE_POSTINGS:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP_POSTINGS:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_access_generation_watch")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
