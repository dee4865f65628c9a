"""The grants that keep the application's own database role from rewriting the audit log.

Production on PostgreSQL runs with two roles (docs/operations.md, "The audit log's owner"):
an owner role that runs the migrations and owns every table, function and trigger, and
the application's role, which owns nothing. This command prints (or, run as the owner,
applies) the grants the application's role needs: every table's rows, except the audit
log's records and signed checkpoints, which it may only read and append. A role that owns
neither a table nor its triggers can neither UPDATE, DELETE nor TRUNCATE what it was not
granted, nor disable or drop the triggers.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from permissions.models import AuditCheckpoint, AuditRecord

#: Appended to and read, never changed: the chain's records and the signed checkpoints.
APPEND_ONLY = (AuditRecord._meta.db_table, AuditCheckpoint._meta.db_table)


def grant_statements(app_role: str, schema: str = "public") -> list[str]:
    """The statements, in order, that give ``app_role`` what the application needs and no more."""
    role = connection.ops.quote_name(app_role)
    space = connection.ops.quote_name(schema)
    tables = ", ".join(f"{space}.{connection.ops.quote_name(t)}" for t in APPEND_ONLY)
    return [
        f"GRANT USAGE ON SCHEMA {space} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {space} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {space} TO {role}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {space} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {tables} FROM {role}",
        f"GRANT SELECT, INSERT ON {tables} TO {role}",
    ]


class Command(BaseCommand):
    help = ("Print the PostgreSQL grants for the application's role (it owns nothing; the audit log's records "
            "and checkpoints are SELECT and INSERT only). Run them as the owner role after every migrate, "
            "or pass --apply to run them on DATABASE_URL's connection (which must be the owner's).")

    def add_arguments(self, parser):
        parser.add_argument("app_role", help="The role the application connects as.")
        parser.add_argument("--schema", default="public", help="The schema the tables are in (default: public).")
        parser.add_argument("--apply", action="store_true", help="Run the statements instead of printing them.")

    def handle(self, *args, app_role: str, schema: str, apply: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("audit_grants is for PostgreSQL; SQLite has no roles (its triggers still refuse "
                               "UPDATE and DELETE of audit records).")
        statements = grant_statements(app_role, schema)
        if not apply:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = %s", [app_role])
            if cursor.fetchone() is None:
                raise CommandError(f"There is no role {app_role!r}; create it first (CREATE ROLE … LOGIN).")
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S') LIMIT 1", [app_role])
            owned = cursor.fetchone()
            if owned is not None:
                raise CommandError(f"{app_role!r} owns {owned[0]}: the application's role must own nothing. "
                                   "Run the migrations as the owner role and ALTER … OWNER TO it.")
            with transaction.atomic():
                for statement in statements:
                    cursor.execute(statement)
        self.stdout.write(f"Granted {app_role}: every table's rows, and only SELECT and INSERT on "
                          f"{', '.join(APPEND_ONLY)}.")
