"""Django's own commands that write users (createsuperuser, changepassword) run through manage.py
as a named system actor: their changes are audited, never refused nor recorded as "anonymous"."""

from __future__ import annotations

import sys
from unittest import mock

from django.contrib.auth import get_user_model
from django.test import TestCase

import manage
from permissions.models import AuditRecord


class ManagePyActorTests(TestCase):
    def run_manage(self, *args: str) -> None:
        # A command run from argv closes every connection when it ends, which would end the
        # test's transaction on PostgreSQL; the test keeps its connection open instead.
        with mock.patch.object(sys, "argv", ["manage.py", *args]), \
                mock.patch("django.core.management.base.connections.close_all"):
            manage.main()

    def test_createsuperuser_and_changepassword_are_audited_under_a_named_actor(self):
        with mock.patch.dict("os.environ", {"DJANGO_SUPERUSER_PASSWORD": "A-long-password-4-tests"}):
            self.run_manage("createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com")
        user = get_user_model().objects.get(username="boss")
        with mock.patch("getpass.getpass", return_value="Another-long-password-5"):
            self.run_manage("changepassword", "boss")
        records = list(AuditRecord.objects.filter(object_type="auth.user", object_id=str(user.pk))
                       .order_by("seq").values_list("action", "actor_name"))
        self.assertEqual(records, [("create", "system:manage.py createsuperuser"),
                                   ("update", "system:manage.py changepassword")])
        change = AuditRecord.objects.filter(object_type="auth.user", action="update").latest("seq").changes
        self.assertEqual(change["password"], {"before": "(hidden)", "after": "(hidden)"})
