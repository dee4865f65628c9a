"""The trust layer's read-only and private endpoints through the shared mixins: API tokens
(their user's own) and the audit log (the model's view permission, newest first)."""

from __future__ import annotations

from permissions import audit
from permissions.context import Actor, acting_as
from permissions.models import ApiToken, AuditAction, AuditRecord
from permissions.services import create_token
from tests import factories
from tests.mixins import AdminTests, ReadAPITests


def make_token(user) -> ApiToken:
    token, _ = create_token(user=user, name=f"token {factories.n():05d}", actor=user)
    return token


def make_record() -> AuditRecord:
    with acting_as(Actor(system="tests")):
        return audit.record_event(AuditAction.ACCESS_DENIED, object_type="catalog.dataset",
                                  object_id=str(factories.n()), details={"path": "/tests/"})


class TestApiTokenAPI(ReadAPITests):
    model = ApiToken
    basename = "apitoken"

    @classmethod
    def make_objects(cls, count):
        return [make_token(cls.employee) for _ in range(count)]


class TestAuditRecordAPI(ReadAPITests):
    model = AuditRecord
    basename = "auditrecord"
    read_permission_required = True
    id_key = lookup_attribute = "seq"
    ordering_field = "seq"

    @classmethod
    def make_objects(cls, count):
        return [make_record() for _ in range(count)]

    def test_ordering_both_ways(self):
        self.skipTest("The audit log is listed newest first, in chain order, whatever the ordering asked "
                      "(permissions.api.pagination.AuditCursorPagination)")


class TestApiTokenAdmin(AdminTests):
    model = ApiToken
    search_term = "token"

    @classmethod
    def make_objects(cls, count):
        return [make_token(cls.reader) for _ in range(count)]


class TestAuditRecordAdmin(AdminTests):
    model = AuditRecord
    can_add = False
    search_term = "tests"

    @classmethod
    def make_objects(cls, count):
        return [make_record() for _ in range(count)]

    def listed_text(self, obj):
        return f"/admin/permissions/auditrecord/{obj.pk}/change/"
