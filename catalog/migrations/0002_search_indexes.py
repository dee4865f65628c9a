"""GIN indexes for full-text search, on PostgreSQL only.

Each index is built over exactly the weighted document that ``catalog.search`` queried
when this was written (``to_tsvector`` of the searched columns, weighted), so PostgreSQL
answered a search from the index; 0004 replaces them with indexes on a stored document.
SQLite has no GIN; search falls back to substring matching there.

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

CREATE_INDEXES = [
    ('CREATE INDEX "dataset_search_gin" ON "catalog_dataset" USING gin '
     """((((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("qualified_name", '')), 'A')) || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B'))))"""),
    ('CREATE INDEX "field_search_gin" ON "catalog_field" USING gin '
     """(((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B'))))"""),
    ('CREATE INDEX "system_search_gin" ON "catalog_system" USING gin '
     """((((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("vendor", '')), 'B')) || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B'))))"""),
    ('CREATE INDEX "department_search_gin" ON "catalog_department" USING gin '
     """(((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B'))))"""),
]

DROP_INDEXES = [
    'DROP INDEX IF EXISTS "dataset_search_gin"',
    'DROP INDEX IF EXISTS "field_search_gin"',
    'DROP INDEX IF EXISTS "system_search_gin"',
    'DROP INDEX IF EXISTS "department_search_gin"',
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in CREATE_INDEXES:
        schema_editor.execute(statement, params=None)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP_INDEXES:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
