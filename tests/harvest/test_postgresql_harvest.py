"""Harvesting a real PostgreSQL source (the throwaway cluster of scripts/pg.sh): a database of its
own holding a schema with tables, a partitioned table and its partitions, views (one sqlglot
parses, one it does not), a materialized view, keys, comments and defaults, read by a role that
may read only some of it, through the System's named connection secret."""

from __future__ import annotations

import urllib.parse
import uuid

import pytest
from django.conf import settings
from django.db import connection as registry

from catalog.models import Dataset, Field, LineageEdge, System
from catalog.models.lineage import LineageOrigin
from harvest import services
from harvest.connectors.postgresql import PostgreSQLConnector
from harvest.models import FieldRelationship, HarvestStatus
from permissions.context import system_actor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="runs on PostgreSQL (DATABASE_URL, scripts/pg.sh)"),
]

SOURCE = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id bigint PRIMARY KEY,
    email varchar(255) NOT NULL,
    name text,
    signed_up_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_key UNIQUE (email));
COMMENT ON TABLE shop.customers IS 'People who buy';
COMMENT ON COLUMN shop.customers.email IS 'Login e-mail';
CREATE TABLE shop.orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount numeric(10,2) DEFAULT 0,
    region char(2),
    notes xml,
    CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES shop.customers (id),
    CONSTRAINT orders_region_id_key UNIQUE (region, id));
CREATE TABLE shop.events (id bigint, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE shop.events_2027 PARTITION OF shop.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE VIEW shop.big_orders AS
    SELECT o.id, o.amount, c.email FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id
    WHERE o.amount > 100;
CREATE MATERIALIZED VIEW shop.order_totals AS
    SELECT customer_id, sum(amount) AS total FROM shop.orders GROUP BY customer_id;
-- XMLTABLE: a definition sqlglot does not parse; its lineage comes from pg_depend.
CREATE VIEW shop.order_notes AS
    SELECT o.id, xt.v FROM shop.orders o, XMLTABLE('/r' PASSING o.notes COLUMNS v text PATH 'v') xt;
CREATE TABLE shop.payment_tokens (id int PRIMARY KEY, token text);
CREATE ROLE {role} LOGIN;
GRANT USAGE ON SCHEMA shop TO {role};
GRANT SELECT ON shop.customers, shop.orders, shop.events, shop.big_orders, shop.order_totals, shop.order_notes
    TO {role};
"""


def _server_dsn(dbname: str, user: str | None = None) -> str:
    db = settings.DATABASES["default"]
    user = urllib.parse.quote(user or db.get("USER") or "", safe="")
    password = db.get("PASSWORD") or ""
    credentials = f"{user}:{urllib.parse.quote(password, safe='')}@" if password and user == db.get("USER") else \
        f"{user}@"
    return f"postgresql://{credentials}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{dbname}"


@pytest.fixture(scope="module")
def source_db(django_db_blocker):
    """A database of its own (the harvest reads every schema it may see), made and dropped here."""
    import psycopg

    name = f"harvest_src_{uuid.uuid4().hex[:8]}"
    role = f"harvester_{uuid.uuid4().hex[:8]}"
    admin_dsn = _server_dsn(settings.DATABASES["default"]["NAME"])
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_server_dsn(name), autocommit=True) as owner:
        owner.execute(SOURCE.format(role=role))
    yield {"name": name, "role": role, "owner_dsn": _server_dsn(name), "dsn": _server_dsn(name, role)}
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def system(source_db, monkeypatch):
    monkeypatch.setenv("HARVEST_PG_DSN", source_db["dsn"])
    with system_actor("tests", reason="test system"):
        return System.objects.create(name="Shop DB", slug="shop-db", connection_engine="postgresql",
                                     connection_env="HARVEST_PG_DSN")


def _owner(source_db, sql: str) -> None:
    import psycopg

    with psycopg.connect(source_db["owner_dsn"], autocommit=True) as owner:
        owner.execute(sql)


def field(dataset: str, name: str) -> Field:
    return Field.objects.get(dataset__qualified_name=dataset, name=name)


def test_every_statement_runs_read_only_with_a_statement_timeout(source_db):
    with PostgreSQLConnector(source_db["dsn"], statement_timeout_ms=1234) as connector, \
            connector.connection.cursor() as cursor:
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1234ms"
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone()[0] == "repeatable read"


def test_first_harvest_registers_what_the_catalog_holds(system, source_db):
    run = services.harvest(system)
    assert run.status == HarvestStatus.PARTIAL, run.errors  # the role may not read payment_tokens
    assert any("payment_tokens" in warning for warning in run.warnings), run.warnings
    kinds = dict(Dataset.objects.filter(system=system).values_list("qualified_name", "kind"))
    assert kinds == {"shop.customers": "table", "shop.orders": "table", "shop.events": "table",
                     "shop.big_orders": "view", "shop.order_totals": "view", "shop.order_notes": "view",
                     "shop.payment_tokens": "table"}  # the partitions events_2026/2027 are not datasets
    types = {(f.dataset.qualified_name, f.name): f.data_type
             for f in Field.objects.filter(dataset__system=system).select_related("dataset")}
    assert types[("shop.customers", "email")] == "character varying(255)"
    assert types[("shop.customers", "signed_up_at")] == "timestamp with time zone"
    assert types[("shop.orders", "amount")] == "numeric(10,2)"
    assert types[("shop.orders", "region")] == "character(2)"
    assert types[("shop.events", "payload")] == "jsonb"
    assert types[("shop.order_totals", "total")] == "numeric"
    email, name, signed_up = (field("shop.customers", n) for n in ("email", "name", "signed_up_at"))
    assert (email.nullable, name.nullable, email.position, signed_up.position) == (False, True, 2, 4)
    assert email.source_description == "Login e-mail"
    assert signed_up.source_default == "now()"
    assert field("shop.orders", "amount").source_default == "0"
    customers = Dataset.objects.get(qualified_name="shop.customers")
    assert customers.source_description == "People who buy"
    assert customers.description == ""  # curated metadata is people's, never the source's comment
    assert customers.key_fields == ["id"] and field("shop.customers", "id").is_key
    assert customers.unique_keys == [["email"]]
    assert Dataset.objects.get(qualified_name="shop.orders").unique_keys == [["region", "id"]]  # order kept
    relationship = FieldRelationship.objects.get(system=system)
    assert (relationship.constraint_name, relationship.from_field, relationship.to_field) == (
        "orders_customer_fk", field("shop.orders", "customer_id"), field("shop.customers", "id"))
    assert not LineageEdge.objects.filter(source__qualified_name="shop.customers",
                                          target__qualified_name="shop.orders").exists()  # a key is not lineage


def test_view_lineage_parsed_with_field_mapping_and_from_dependencies_when_it_does_not_parse(system):
    services.harvest(system)

    def edges(target):
        return {(e.source.qualified_name, e.source_field and e.source_field.name,
                 e.target_field and e.target_field.name, e.origin)
                for e in LineageEdge.objects.filter(target__qualified_name=target)}

    parsed = LineageOrigin.VIEW_DEFINITION
    assert edges("shop.big_orders") == {
        ("shop.orders", None, None, parsed), ("shop.customers", None, None, parsed),
        ("shop.orders", "id", "id", parsed), ("shop.orders", "amount", "amount", parsed),
        ("shop.customers", "email", "email", parsed)}
    assert edges("shop.order_totals") == {("shop.orders", None, None, parsed),
                                          ("shop.orders", "customer_id", "customer_id", parsed)}
    assert edges("shop.order_notes") == {("shop.orders", None, None, LineageOrigin.VIEW_DEPENDENCY)}
    fallback = LineageEdge.objects.get(target__qualified_name="shop.order_notes")
    assert "did not parse" in fallback.transformation


def test_edges_people_drew_are_never_touched(system):
    services.harvest(system)
    customers, totals, big = (Dataset.objects.get(qualified_name=f"shop.{n}")
                              for n in ("customers", "order_totals", "big_orders"))
    with system_actor("tests", reason="a steward draws lineage"):
        drawn = LineageEdge.objects.create(source=customers, target=totals, transformation="Joined in dbt")
        LineageEdge.objects.filter(target=big, origin=LineageOrigin.VIEW_DEFINITION,
                                   source__qualified_name="shop.customers", source_field=None).delete()
        same_as_harvested = LineageEdge.objects.create(source=customers, target=big, transformation="By hand")
    services.harvest(system)
    drawn.refresh_from_db()
    same_as_harvested.refresh_from_db()
    assert (drawn.origin, drawn.transformation) == ("", "Joined in dbt")
    assert (same_as_harvested.origin, same_as_harvested.transformation) == ("", "By hand")
    assert not LineageEdge.objects.filter(source=customers, target=big, source_field=None).exclude(
        pk=same_as_harvested.pk).exists()  # the harvest did not add its own beside the person's


def test_a_catalog_the_role_may_not_read_is_a_warning_and_is_left_as_registered(system, source_db):
    services.harvest(system)
    _owner(source_db, "REVOKE SELECT ON pg_catalog.pg_description FROM PUBLIC")
    try:
        run = services.harvest(system)
    finally:
        _owner(source_db, "GRANT SELECT ON pg_catalog.pg_description TO PUBLIC")
    assert run.status == HarvestStatus.PARTIAL, run.errors
    assert any(w.startswith("comments of schema 'shop' could not be read") for w in run.warnings), run.warnings
    assert Dataset.objects.get(qualified_name="shop.customers").source_description == "People who buy"
    assert field("shop.customers", "email").source_description == "Login e-mail"
    assert registry.vendor == "postgresql"


def test_reharvest_writes_nothing_and_drift_is_recorded(system, source_db, django_capture_on_commit_callbacks):
    from django.test.utils import CaptureQueriesContext

    from harvest.models import ChangeKind, SchemaChange
    from permissions.models import AuditRecord
    from tests.harvest.test_drift import _writes

    services.harvest(system)
    records = AuditRecord.objects.count()
    with CaptureQueriesContext(registry) as queries:
        run = services.harvest(system)
    assert {table for _, table in _writes(queries)} == {"harvest_harvestrun"}, _writes(queries)
    assert AuditRecord.objects.count() == records
    assert run.counts["datasets"]["unchanged"] == 7 and run.counts["lineage"]["added"] == 0
    _owner(source_db, "ALTER TABLE shop.customers ADD COLUMN phone varchar(20); "
                      "ALTER TABLE shop.customers DROP COLUMN name; "
                      "ALTER TABLE shop.customers ALTER COLUMN signed_up_at TYPE timestamp; "
                      "ALTER TABLE shop.orders ALTER COLUMN region TYPE char(3)")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.harvest(system)
    finally:
        _owner(source_db, "ALTER TABLE shop.customers DROP COLUMN phone; ALTER TABLE shop.customers ADD COLUMN name "
                          "text; ALTER TABLE shop.customers ALTER COLUMN signed_up_at TYPE timestamptz; "
                          "ALTER TABLE shop.orders ALTER COLUMN region TYPE char(2)")
    found = {(c.dataset.qualified_name, c.kind, c.field_name) for c in SchemaChange.objects.filter(run=run)}
    assert found == {("shop.customers", ChangeKind.FIELD_ADDED, "phone"),
                     ("shop.customers", ChangeKind.FIELD_REMOVED, "name"),
                     ("shop.customers", ChangeKind.TYPE_CHANGED, "signed_up_at"),
                     ("shop.orders", ChangeKind.TYPE_WIDENED, "region")}
    assert field("shop.orders", "region").data_type == "character(3)"
