"""The tag tables are looked up by tag and row (migration catalog 0009), on both databases."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.models import Dataset, Field, Tag
from permissions.context import system_actor
from tests import factories

pytestmark = pytest.mark.django_db


def indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: spec["columns"] for name, spec in constraints.items() if spec["index"]}


@pytest.mark.parametrize(("model", "column"), [(Dataset, "dataset_id"), (Field, "field_id")])
def test_the_tag_table_is_indexed_by_tag_then_row_and_not_by_tag_alone(model, column):
    table = model.tags.through._meta.db_table
    columns = list(indexes(table).values())
    assert ["tag_id", column] in columns
    assert ["tag_id"] not in columns


def test_a_tag_rule_finds_the_rows_from_the_index_alone():
    if connection.vendor != "postgresql":
        pytest.skip("index-only scans are PostgreSQL's")
    with system_actor("tests", reason="setup"):
        tag = factories.tag()
        factories.dataset(tags=[tag])
        # Other rows, so that the (dataset, tag) index is no cheaper to walk than (tag, dataset):
        # with a single row the planner may take either.
        other = factories.dataset()
        tags = Tag.objects.bulk_create([Tag(name=f"other-{i}", slug=f"other-{i}") for i in range(300)])
        Dataset.tags.through.objects.bulk_create([Dataset.tags.through(dataset=other, tag=t) for t in tags])
    table = Dataset.tags.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN SELECT dataset_id FROM {table} WHERE tag_id = ANY(%s::bigint[])", [[tag.pk]])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Only Scan using {table}_tag_lookup" in plan, plan
