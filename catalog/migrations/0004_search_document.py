"""Stored search documents on PostgreSQL: a generated ``tsvector`` column per searchable table.

``search_document`` is ``GENERATED ALWAYS AS (<weighted document>) STORED``, so
ranking reads the stored vector instead of re-parsing every match's text (the
cost that dominated broad searches), and its GIN index replaces the expression
index of 0002. A second GIN index covers the name (weight-A) columns alone: a
broad search takes its bounded candidate set from the name matches first
(``catalog.search``).

Adding a stored generated column rewrites the table (an ACCESS EXCLUSIVE lock
while it runs): on a large catalog, run this migration in a maintenance window.
SQLite has no ``tsvector``: nothing to do there (search falls back to substring
matching). The column is not a model field, so ``makemigrations`` does not see it.

The statements are written out here (they are what the code of the time generated), so this
migration does what it did when it was written, whatever later code says.
"""

from django.db import migrations

ADD_DOCUMENTS = [
    'DROP INDEX IF EXISTS "dataset_search_gin"',
    ('ALTER TABLE "catalog_dataset" ADD COLUMN "search_document" tsvector GENERATED ALWAYS AS '
     """(setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("qualified_name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')) STORED"""),
    'CREATE INDEX "dataset_document_gin" ON "catalog_dataset" USING gin ("search_document")',
    ("""CREATE INDEX "dataset_name_gin" ON "catalog_dataset" USING gin ((to_tsvector('english'::regconfig, """
     """COALESCE("name", '')) || to_tsvector('english'::regconfig, COALESCE("qualified_name", ''))))"""),
    'DROP INDEX IF EXISTS "field_search_gin"',
    ('ALTER TABLE "catalog_field" ADD COLUMN "search_document" tsvector GENERATED ALWAYS AS '
     """(setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')) STORED"""),
    'CREATE INDEX "field_document_gin" ON "catalog_field" USING gin ("search_document")',
    ("""CREATE INDEX "field_name_gin" ON "catalog_field" USING gin ((to_tsvector('english'::regconfig, """
     """COALESCE("name", ''))))"""),
    'DROP INDEX IF EXISTS "system_search_gin"',
    ('ALTER TABLE "catalog_system" ADD COLUMN "search_document" tsvector GENERATED ALWAYS AS '
     """(setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("vendor", '')), 'B') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')) STORED"""),
    'CREATE INDEX "system_document_gin" ON "catalog_system" USING gin ("search_document")',
    ("""CREATE INDEX "system_name_gin" ON "catalog_system" USING gin ((to_tsvector('english'::regconfig, """
     """COALESCE("name", ''))))"""),
    'DROP INDEX IF EXISTS "department_search_gin"',
    ('ALTER TABLE "catalog_department" ADD COLUMN "search_document" tsvector GENERATED ALWAYS AS '
     """(setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')) STORED"""),
    'CREATE INDEX "department_document_gin" ON "catalog_department" USING gin ("search_document")',
    ('CREATE INDEX "department_name_gin" ON "catalog_department" USING gin '
     """((to_tsvector('english'::regconfig, COALESCE("name", ''))))"""),
]

DROP_DOCUMENTS = [
    'DROP INDEX IF EXISTS "dataset_name_gin"',
    'ALTER TABLE "catalog_dataset" DROP COLUMN IF EXISTS "search_document"',
    ('CREATE INDEX "dataset_search_gin" ON "catalog_dataset" USING gin '
     """((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("qualified_name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')))"""),
    'DROP INDEX IF EXISTS "field_name_gin"',
    'ALTER TABLE "catalog_field" DROP COLUMN IF EXISTS "search_document"',
    ('CREATE INDEX "field_search_gin" ON "catalog_field" USING gin '
     """((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')))"""),
    'DROP INDEX IF EXISTS "system_name_gin"',
    'ALTER TABLE "catalog_system" DROP COLUMN IF EXISTS "search_document"',
    ('CREATE INDEX "system_search_gin" ON "catalog_system" USING gin '
     """((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("vendor", '')), 'B') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')))"""),
    'DROP INDEX IF EXISTS "department_name_gin"',
    'ALTER TABLE "catalog_department" DROP COLUMN IF EXISTS "search_document"',
    ('CREATE INDEX "department_search_gin" ON "catalog_department" USING gin '
     """((setweight(to_tsvector('english'::regconfig, COALESCE("name", '')), 'A') || """
     """setweight(to_tsvector('english'::regconfig, COALESCE("description", '')), 'B')))"""),
]


def add_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in ADD_DOCUMENTS:
        schema_editor.execute(statement)


def drop_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP_DOCUMENTS:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_datasetgroupobjectpermission_and_more")]
    operations = [migrations.RunPython(add_documents, drop_documents, elidable=False)]
