"""PostgreSQL for tests: Django's backend, except that flushing the database between
transactional tests also empties the append-only audit table and the chain's head row.

The triggers of permissions/migrations/0002 refuse TRUNCATE on the audit log; the
test database's owner may switch them off around its own flush (``sql_flush``, the
backend operations' statement list for a flush). Production uses Django's backend unchanged.
"""

from django.db.backends.postgresql import base
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLOperations

from config.testdb import AUDIT_TABLE, head_reset


class DatabaseOperations(PostgreSQLOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if AUDIT_TABLE not in tables:
            return statements
        return [
            f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER USER;",
            *statements,
            f"ALTER TABLE {AUDIT_TABLE} ENABLE TRIGGER USER;",
            *head_reset(tables),
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
