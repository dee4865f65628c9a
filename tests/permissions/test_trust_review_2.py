"""A second fresh-eyes review of what issue 13 says is fixed (the trust layer).

* What is kept across requests (compiled rules per access generation) is never computed from
  a transaction's uncommitted changes under the token the rest of the process still uses.
* A repeated client ``X-Request-ID`` scopes nothing on any read path (API list and detail,
  search, the admin's change list and change page, explain), nor does work outside requests.
"""

from __future__ import annotations

import contextlib
import datetime
from unittest import mock

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import RequestFactory, TestCase
from django.utils import timezone

from permissions import access, context
from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import make_user


def deny(obj, **subject) -> AccessRule:
    subject.setdefault("subject_kind", "everyone")
    return AccessRule.objects.create(target_kind="object", target_type=ContentType.objects.get_for_model(obj),
                                     target_id=obj.pk, reason="review 2", **subject)


def sees(user, obj) -> bool:
    return type(obj)._default_manager.visible_to(user).filter(pk=obj.pk).exists()


@contextlib.contextmanager
def web_request(user):
    """The audit context a web request runs under (a request cache of its own)."""
    request = RequestFactory().get("/")
    request.user = user
    with context.request_context(request, context.new_request_id()):
        yield


class RolledBackChangesTests(TestCase):
    """A request reads the access generation once; a write later in that request changes who sees
    what inside its transaction. Rules compiled after that write are the transaction's, not the
    generation's: kept under the token every other request still uses, they outlive a rollback."""

    @classmethod
    def setUpTestData(cls):
        cls.asker = make_user("review2-asker")
        cls.reader = make_user("review2-reader")
        cls.group = Group.objects.create(name="review2-hidden")
        cls.dataset = factories.dataset()

    def setUp(self):
        access.forget_compiled_rules()

    def tearDown(self):
        access.forget_compiled_rules()

    def rolled_back(self, change, *, then) -> None:
        with web_request(self.asker):
            self.assertTrue(sees(self.asker, self.dataset))  # the request has read the generation
            with contextlib.suppress(RuntimeError), transaction.atomic():
                change()
                then()
                raise RuntimeError("the write answers 4xx: everything rolls back")

    def test_a_rule_deleted_and_rolled_back_still_hides(self):
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        pk = rule.pk
        self.rolled_back(rule.delete, then=lambda: sees(self.reader, self.dataset))
        self.assertTrue(AccessRule.objects.filter(pk=pk).exists())
        self.assertFalse(sees(self.reader, self.dataset))
        with web_request(self.reader):
            self.assertFalse(sees(self.reader, self.dataset))

    def test_a_membership_removed_and_rolled_back_still_hides(self):
        deny(self.dataset, subject_kind="group", subject_group=self.group)
        self.reader.groups.add(self.group)
        self.rolled_back(lambda: self.reader.groups.remove(self.group),
                         then=lambda: sees(self.reader, self.dataset))
        self.assertFalse(sees(self.reader, self.dataset))

    def test_an_exception_added_and_rolled_back_lifts_nothing(self):
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        self.rolled_back(lambda: AccessRuleException.objects.create(
            rule=rule, subject_kind="user", subject_user=self.reader, reason="never committed"),
            then=lambda: sees(self.reader, self.dataset))
        self.assertFalse(sees(self.reader, self.dataset))

    def test_rules_recompiled_after_an_expiry_inside_a_rolled_back_write(self):
        # The request's rules were compiled before another rule expired; the first read after
        # the expiry recompiles them for everybody, here inside a write that rolls back.
        soon = timezone.now() + datetime.timedelta(minutes=5)
        deny(factories.dataset(), expires_at=soon)
        rule = deny(self.dataset, subject_kind="user", subject_user=self.reader)
        later = soon + datetime.timedelta(minutes=1)

        def expire_and_read():
            with mock.patch.object(access.timezone, "now", return_value=later):
                sees(self.asker, self.dataset)
                sees(self.reader, self.dataset)

        self.rolled_back(rule.delete, then=expire_and_read)
        with mock.patch.object(access.timezone, "now", return_value=later):
            self.assertFalse(sees(self.reader, self.dataset))
