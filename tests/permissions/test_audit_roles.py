"""The production setup of docs/operations.md: the application's role owns nothing, and may only
read and append the audit log. Shown on the throwaway PostgreSQL cluster ``make test`` starts."""

from __future__ import annotations

import io
import os
import unittest

from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import TestCase

from catalog.models import Tag
from permissions import audit
from permissions.context import actor_context
from permissions.models import AuditCheckpoint, AuditRecord
from tests.mixins import make_user

RECORDS = AuditRecord._meta.db_table
CHECKPOINTS = AuditCheckpoint._meta.db_table


@unittest.skipUnless(connection.vendor == "postgresql", "roles and grants are PostgreSQL's")
class ApplicationRoleTests(TestCase):
    role = f"accord_app_test_{os.getpid()}"

    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("role-writer")
        with actor_context(cls.user, reason="setup"):
            Tag.objects.create(name="before-role", slug="before-role")

    def setUp(self):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {self.role} NOLOGIN")  # inside the test's transaction: rolled back
        call_command("audit_grants", self.role, apply=True, stdout=io.StringIO())

    def as_app(self):
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {self.role}")

    def refused(self, sql: str) -> str:
        """Run ``sql`` as the application's role; the error PostgreSQL gives (the test fails if none)."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
        except DatabaseError as exc:
            return str(exc)
        self.fail(f"the application's role was allowed: {sql}")

    def test_the_application_writes_and_its_changes_are_audited(self):
        self.as_app()
        with actor_context(self.user, reason="as the application"):
            tag = Tag.objects.create(name="as-app", slug="as-app")
            tag.name = "as-app renamed"
            tag.save()
        actions = list(AuditRecord.objects.filter(object_type="catalog.tag", object_id=str(tag.pk))
                       .order_by("seq").values_list("action", flat=True))
        self.assertEqual(actions, ["create", "update"])
        self.assertTrue(audit.verify_chain().ok)

    def test_it_cannot_change_remove_or_empty_audit_records(self):
        self.as_app()
        for sql in (f"UPDATE {RECORDS} SET reason = 'rewritten'",
                    f"DELETE FROM {RECORDS}",
                    f"TRUNCATE {RECORDS}",
                    f"UPDATE {CHECKPOINTS} SET record_hash = ''",
                    f"DELETE FROM {CHECKPOINTS}",
                    f"TRUNCATE {CHECKPOINTS}"):
            with self.subTest(sql=sql):
                self.assertIn("permission denied", self.refused(sql))

    def test_it_cannot_disable_drop_or_add_triggers_nor_take_the_table(self):
        self.as_app()
        for sql in (f"ALTER TABLE {RECORDS} DISABLE TRIGGER ALL",
                    f"ALTER TABLE {RECORDS} DISABLE TRIGGER accord_audit_no_update_delete",
                    f"DROP TRIGGER accord_audit_no_update_delete ON {RECORDS}",
                    f"DROP TRIGGER accord_audit_no_truncate ON {RECORDS}",
                    f"CREATE TRIGGER sneaky BEFORE INSERT ON {RECORDS} "
                    "FOR EACH ROW EXECUTE FUNCTION accord_audit_refuse_change()",
                    f"ALTER TABLE {RECORDS} OWNER TO {self.role}",
                    f"DROP TABLE {RECORDS}",
                    "SET session_replication_role = replica"):
            with self.subTest(sql=sql):
                message = self.refused(sql)
                self.assertTrue("must be owner" in message or "permission denied" in message, message)
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                           [RECORDS])
            self.assertEqual({row[0] for row in cursor.fetchall()}, {"O"})  # every trigger still fires

    def test_the_printed_statements_are_the_applied_ones(self):
        out = io.StringIO()
        call_command("audit_grants", self.role, stdout=out)
        text = out.getvalue()
        self.assertIn(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON \"public\".\"{RECORDS}\"", text)
        self.assertIn(f"GRANT SELECT, INSERT ON \"public\".\"{RECORDS}\"", text)

    def test_a_role_that_owns_a_table_is_refused(self):
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE accord_role_owned (id int)")
            cursor.execute(f"ALTER TABLE accord_role_owned OWNER TO {self.role}")
        with self.assertRaisesMessage(CommandError, "must own nothing"):
            call_command("audit_grants", self.role, apply=True, stdout=io.StringIO())

    def test_an_unknown_role_is_named(self):
        with self.assertRaisesMessage(CommandError, "There is no role 'nobody_here'"):
            call_command("audit_grants", "nobody_here", apply=True, stdout=io.StringIO())
