"""Deny rules and their exceptions through the shared CRUD, permission and admin mixins."""

from __future__ import annotations

from django.contrib.auth.models import Group

from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import AdminTests, CRUDAPITests, make_user


def rule(**kw) -> AccessRule:
    kw.setdefault("subject_kind", "everyone")
    if "target_kind" not in kw:
        kw.update(target_kind="classification", classification="restricted")
    kw.setdefault("reason", f"Rule {factories.n()}")
    return AccessRule.objects.create(**kw)


class TestAccessRuleAPI(CRUDAPITests):
    model = AccessRule
    basename = "accessrule"
    read_permission_required = True
    update_payload = {"reason": "Legal hold until the audit completes"}

    @classmethod
    def setUpTestData(cls):
        cls.hr = factories.department(name="HR", slug="hr")
        cls.payroll = factories.dataset(qualified_name="hr.payroll")
        cls.gdpr = factories.tag(name="gdpr", slug="gdpr")
        cls.auditors = Group.objects.create(name="Auditors")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"subject_kind": "everyone", "target_kind": "classification", "classification": "pii"}, "reason"),
            ({"subject_kind": "everyone", "target_kind": "classification", "classification": "secret",
              "reason": "x"}, "classification"),
            ({"subject_kind": "department", "target_kind": "tag", "target_tag": "gdpr", "reason": "x"},
             "non_field_errors"),
            ({"subject_kind": "everyone", "target_kind": "object", "target_type": "auth.user", "target_id": 1,
              "reason": "x"}, "target_type"),
            ({"subject_kind": "everyone", "target_kind": "object", "target_type": "catalog.dataset",
              "target_id": 999999, "reason": "x"}, "target_id"),
            ({"subject_kind": "everyone", "target_kind": "object", "target_type": "catalog.dataset",
              "reason": "x"}, "non_field_errors"),
        ]
        cls.filter_cases = [({"target_kind": "tag"}, lambda t: list(
            AccessRule.objects.filter(target_kind="tag").values_list("pk", flat=True)))]

    @classmethod
    def make_objects(cls, count):
        return [rule() for _ in range(count)]

    def create_payloads(self):
        return [
            {"subject_kind": "department", "subject_department": "hr", "target_kind": "object",
             "target_type": "catalog.dataset", "target_id": self.payroll.pk, "reason": "Salaries are HR-only"},
            {"subject_kind": "group", "subject_group": "Auditors", "target_kind": "tag", "target_tag": "gdpr",
             "reason": "Auditors see no personal data", "expires_at": "2099-01-01T00:00:00Z"},
            {"subject_kind": "everyone", "target_kind": "classification", "classification": "restricted",
             "reason": "Restricted data is need-to-know"},
        ]

    def test_creator_is_recorded(self):
        response = self.client_for(self.editor).post(self.list_url(), self.create_payloads()[2], format="json")
        self.assertEqual(response.json()["created_by"]["username"], self.editor.username)
        self.assertEqual(response.json()["target"], "classification restricted and above")


class TestAccessRuleExceptionAPI(CRUDAPITests):
    model = AccessRuleException
    basename = "accessruleexception"
    read_permission_required = True
    update_payload = {"reason": "HR business partners need payroll"}

    @classmethod
    def setUpTestData(cls):
        cls.hr = factories.department(name="HR", slug="hr")
        cls.rule = rule()
        cls.person = make_user("exempt-person")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"rule": cls.rule.pk, "subject_kind": "everyone", "reason": "x"}, "non_field_errors"),
            ({"rule": cls.rule.pk, "subject_kind": "user", "subject_user": cls.person.pk}, "reason"),
            ({"rule": 999999, "subject_kind": "user", "subject_user": cls.person.pk, "reason": "x"}, "rule"),
        ]

    @classmethod
    def make_objects(cls, count):
        return [AccessRuleException.objects.create(rule=cls.rule, subject_kind="department",
                                                   subject_department=factories.department(), reason="because")
                for _ in range(count)]

    def create_payloads(self):
        return [
            {"rule": self.rule.pk, "subject_kind": "department", "subject_department": "hr",
             "reason": "HR handles restricted data"},
            {"rule": self.rule.pk, "subject_kind": "user", "subject_user": self.person.username,
             "reason": "DPO", "expires_at": "2099-06-01T00:00:00Z"},
        ]


class TestAccessRuleAdmin(AdminTests):
    model = AccessRule
    search_term = "Rule"

    @classmethod
    def make_objects(cls, count):
        return [rule() for _ in range(count)]

    def test_explain_page(self):
        dataset = factories.dataset(classification="restricted")
        person = make_user("explained")
        response = self.client.get("/admin/permissions/accessrule/explain/", {
            "user": person.pk, "object_type": "catalog.dataset", "object_id": dataset.pk})
        self.assertContains(response, "Hidden")
        self.assertContains(response, f"Rule #{self.objects_[0].pk}")


class TestAccessRuleExceptionAdmin(AdminTests):
    model = AccessRuleException
    search_term = "because"

    @classmethod
    def make_objects(cls, count):
        target = rule()
        return [AccessRuleException.objects.create(rule=target, subject_kind="user",
                                                   subject_user=make_user(f"x-{factories.n()}"), reason="because")
                for _ in range(count)]
