"""The access generation: a token that changes whenever who-sees-what may change.

Compiled rule sets are kept across requests (``permissions.access``). They stay
right only while the rows they were compiled from stay the same: the deny rules,
their exceptions, group memberships and the department tree with its members.
Triggers on those tables replace one token (a random value, so a rolled-back
change can never bring back a token that was already used) in the same
transaction as the change; readers compare the token once per request and
recompile when it differs. Triggers catch every writer — services, the admin,
bulk updates, raw SQL, other processes — which signals could not.

The token lives in a one-row table outside Django's models, so test flushes
leave it alone (a flush of the watched tables fires the triggers and changes it).
"""

from __future__ import annotations

from django.db import connection

TABLE = "accord_access_generation"

_POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION accord_bump_access_generation() RETURNS trigger AS $$
BEGIN
    INSERT INTO {TABLE} (id, token) VALUES (1, md5(random()::text || clock_timestamp()::text))
        ON CONFLICT (id) DO UPDATE SET token = excluded.token;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def create_table_sql(vendor: str) -> list[str]:
    """The token table with its first token, and (PostgreSQL) the trigger function."""
    statements = [f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY, token varchar(64) NOT NULL)"]
    if vendor == "postgresql":
        statements += [_POSTGRES_FUNCTION,
                       f"INSERT INTO {TABLE} (id, token) VALUES (1, md5(random()::text)) ON CONFLICT (id) DO NOTHING"]
    else:
        statements.append(f"INSERT OR IGNORE INTO {TABLE} (id, token) VALUES (1, hex(randomblob(16)))")
    return statements


def drop_table_sql(vendor: str) -> list[str]:
    statements = [f"DROP TABLE IF EXISTS {TABLE}"]
    if vendor == "postgresql":
        statements.append("DROP FUNCTION IF EXISTS accord_bump_access_generation() CASCADE")
    return statements


def watch_sql(vendor: str, table: str) -> list[str]:
    """Triggers that change the token whenever ``table`` changes."""
    if vendor == "postgresql":
        return [
            f"CREATE TRIGGER accord_generation_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()",
            f"CREATE TRIGGER accord_generation_truncate_{table} AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION accord_bump_access_generation()",
        ]
    # Plain UPDATE and INSERT … WHERE NOT EXISTS: inside a SQLite trigger, the outer
    # statement's conflict clause (Django's INSERT OR IGNORE for memberships) would
    # replace an upsert's own and silently keep the old token.
    bump = (f"UPDATE {TABLE} SET token = hex(randomblob(16)) WHERE id = 1; "
            f"INSERT INTO {TABLE} (id, token) SELECT 1, hex(randomblob(16)) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE id = 1)")
    return [
        f"CREATE TRIGGER accord_generation_{operation.lower()}_{table} AFTER {operation} ON {table} "
        f"BEGIN {bump}; END"
        for operation in ("INSERT", "UPDATE", "DELETE")
    ]


def unwatch_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS accord_generation_{table} ON {table}",
                f"DROP TRIGGER IF EXISTS accord_generation_truncate_{table} ON {table}"]
    return [f"DROP TRIGGER IF EXISTS accord_generation_{operation}_{table}"
            for operation in ("insert", "update", "delete")]


def run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def current_token() -> str | None:
    """The current token (``None`` if the table has no row: then nothing may be cached)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None
