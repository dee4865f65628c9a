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
The table, the trigger function and the triggers are made by migrations that write
their SQL out (``permissions/migrations/0003_access_generation.py``,
``catalog/migrations/0005_access_generation_watch.py``).
"""

from __future__ import annotations

from django.db import connection

TABLE = "accord_access_generation"


def current_token() -> str | None:
    """The current token (``None`` if the table has no row: then nothing may be cached)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None
