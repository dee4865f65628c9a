"""SQLite for tests: flushing between transactional tests also empties the
append-only audit table (dropping and re-creating its triggers around the flush)
and the chain's head row. Production uses Django's backend unchanged."""

from django.db.backends.sqlite3 import base

from config.testdb import AUDIT_TABLE, head_reset


class DatabaseOperations(base.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if AUDIT_TABLE not in tables:
            return statements
        from importlib import import_module

        triggers = import_module("permissions.migrations.0002_audit_append_only")
        return [*triggers.SQLITE_DOWN, *statements, *triggers.SQLITE_UP, *head_reset(tables)]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
