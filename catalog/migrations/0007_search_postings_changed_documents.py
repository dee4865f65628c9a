"""The posting table's update trigger looks only at rows whose search document changed: a
bulk update that leaves the text alone (a reclassification, a new steward) no longer compares
every posting of every updated row. Same postings as the function of 0006, which stays correct
if this is reversed. (0010 removes the posting table.)

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

UPDATE_FUNCTION = [
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
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in UPDATE_FUNCTION:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_search_postings")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
