"""The precedence of deny rules and exceptions, case by case (docs/permissions.md).

Each case builds rules and exceptions, then checks one user against one object
three ways that must agree: the SQL filter (``visible_to``), the API detail
status, and ``explain``.
"""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Group
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from permissions.access import explain, forget_subjects
from permissions.models import AccessRule, AccessRuleException
from tests import factories
from tests.mixins import make_user

PAST = timezone.now() - datetime.timedelta(days=1)
FUTURE = timezone.now() + datetime.timedelta(days=1)


class TestPrecedence(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.company = factories.department(name="Company", slug="company")
        cls.sales = factories.department(name="Sales", slug="sales", parent=cls.company)
        cls.revops = factories.department(name="RevOps", slug="revops", parent=cls.sales)
        cls.hr = factories.department(name="HR", slug="hr", parent=cls.company)
        cls.analysts = Group.objects.create(name="Analysts")
        cls.alice = make_user("alice")  # RevOps member, Analyst
        factories.membership(cls.alice, department=cls.revops)
        cls.alice.groups.add(cls.analysts)
        cls.hank = make_user("hank")  # HR member
        factories.membership(cls.hank, department=cls.hr)
        cls.root = make_user("root", is_superuser=True)
        cls.gdpr = factories.tag(name="gdpr", slug="gdpr")
        cls.crm = factories.system(name="CRM", slug="crm")
        cls.leads = factories.dataset(system=cls.crm, qualified_name="leads", classification="pii",
                                      tags=[cls.gdpr])
        cls.email = factories.field(dataset=cls.leads, name="email", classification="pii")
        cls.score = factories.field(dataset=cls.leads, name="score", classification="internal")
        cls.payroll = factories.dataset(qualified_name="payroll", classification="restricted")

    def rule(self, target, subject=("everyone", None), expires_at=None, **kw) -> AccessRule:
        kind, who = subject
        fields = {"subject_kind": kind, "reason": "test", "expires_at": expires_at}
        if kind != "everyone":
            fields[f"subject_{kind}"] = who
        if isinstance(target, str) and target.startswith("level:"):
            fields.update(target_kind="classification", classification=target.split(":")[1])
        elif isinstance(target, str) and target.startswith("tag:"):
            fields.update(target_kind="tag", target_tag=self.gdpr)
        else:
            from django.contrib.contenttypes.models import ContentType

            fields.update(target_kind="object", target_type=ContentType.objects.get_for_model(target),
                          target_id=target.pk)
        return AccessRule.objects.create(**fields, **kw)

    def except_(self, rule, subject, expires_at=None):
        kind, who = subject
        return AccessRuleException.objects.create(rule=rule, subject_kind=kind, reason="exempt",
                                                  expires_at=expires_at, **{f"subject_{kind}": who})

    def assertVisible(self, user, obj, expected: bool, case: str):  # noqa: N802
        forget_subjects(user)
        sql = type(obj).objects.visible_to(user).filter(pk=obj.pk).exists()
        self.assertEqual(sql, expected, f"{case}: SQL filter")
        self.assertEqual(explain(user, obj)["visible"], expected, f"{case}: explain")
        client = APIClient()
        client.force_authenticate(user)
        url = f"/api/v1/{type(obj)._meta.model_name}s/{obj.pk}/"
        self.assertEqual(client.get(url).status_code, 200 if expected else 404, f"{case}: API")

    def test_default_is_visible(self):
        self.assertVisible(self.alice, self.leads, True, "no rules")

    def test_cases(self):
        cases = [
            # (description, setup(self) -> None, user, object, visible)
            ("rule on the dataset hides it from everyone",
             lambda: self.rule(self.leads), "alice", "leads", False),
            ("rule on the dataset hides its fields",
             lambda: self.rule(self.leads), "alice", "email", False),
            ("rule on the system hides its datasets and their fields",
             lambda: self.rule(self.crm), "alice", "email", False),
            ("rule on one field leaves the dataset visible",
             lambda: self.rule(self.email), "alice", "leads", True),
            ("rule on one field hides that field",
             lambda: self.rule(self.email), "alice", "email", False),
            ("rule on one field leaves its sibling",
             lambda: self.rule(self.email), "alice", "score", True),
            ("department rule reaches members of sub-departments",
             lambda: self.rule(self.leads, ("department", self.sales)), "alice", "leads", False),
            ("department rule does not reach other departments",
             lambda: self.rule(self.leads, ("department", self.sales)), "hank", "leads", True),
            ("rule on a parent's parent reaches too",
             lambda: self.rule(self.leads, ("department", self.company)), "hank", "leads", False),
            ("rule on a sub-department does not reach its parent's members",
             lambda: self.rule(self.payroll, ("department", self.revops)), "hank", "payroll", True),
            ("group rule",
             lambda: self.rule(self.leads, ("group", self.analysts)), "alice", "leads", False),
            ("user rule reaches only that user",
             lambda: self.rule(self.leads, ("user", self.hank)), "alice", "leads", True),
            ("level rule hides that level",
             lambda: self.rule("level:pii"), "alice", "leads", False),
            ("level rule hides levels above",
             lambda: self.rule("level:pii"), "alice", "payroll", False),
            ("a field below the level inside a dataset at the level is hidden with its dataset",
             lambda: self.rule("level:pii"), "alice", "score", False),
            ("level rule on restricted leaves pii",
             lambda: self.rule("level:restricted"), "alice", "leads", True),
            ("tag rule hides tagged datasets and their fields",
             lambda: self.rule("tag:gdpr"), "alice", "score", False),
            ("expired rule hides nothing",
             lambda: self.rule(self.leads, expires_at=PAST), "alice", "leads", True),
            ("rule expiring later still hides",
             lambda: self.rule(self.leads, expires_at=FUTURE), "alice", "leads", False),
            ("exception re-admits its subject",
             lambda: self.except_(self.rule(self.payroll), ("department", self.hr)), "hank", "payroll", True),
            ("exception re-admits only its subject",
             lambda: self.except_(self.rule(self.payroll), ("department", self.hr)), "alice", "payroll", False),
            ("exception for a parent department covers sub-departments",
             lambda: self.except_(self.rule(self.leads), ("department", self.sales)), "alice", "leads", True),
            ("expired exception no longer re-admits",
             lambda: self.except_(self.rule(self.leads), ("user", self.alice), expires_at=PAST),
             "alice", "leads", False),
            ("deny wins: an exception lifts only its own rule",
             lambda: (self.except_(self.rule(self.leads), ("user", self.alice)), self.rule("level:pii")),
             "alice", "leads", False),
            ("superusers see everything",
             lambda: self.rule(self.leads, ("user", self.root)), "root", "leads", True),
        ]
        users = {"alice": self.alice, "hank": self.hank, "root": self.root}
        objects = {"leads": self.leads, "email": self.email, "score": self.score, "payroll": self.payroll}
        for description, setup, user, obj, visible in cases:
            with self.subTest(description):
                AccessRule.objects.all().delete()
                setup()
                self.assertVisible(users[user], objects[obj], visible, description)

    def test_explain_names_the_deciding_rules(self):
        deny = self.rule(self.leads, ("department", self.sales))
        lifted = self.rule("level:pii")
        exception = self.except_(lifted, ("user", self.alice))
        other = self.rule(self.leads, ("user", self.hank))
        result = explain(self.alice, self.email)
        self.assertFalse(result["visible"])
        self.assertEqual([e["rule"] for e in result["denied_by"]], [deny.pk])
        self.assertEqual([(e["rule"], e["exception"]) for e in result["lifted_by_exception"]],
                         [(lifted.pk, exception.pk)] * 2)  # the field and its dataset are both pii
        self.assertEqual([e["rule"] for e in result["not_applicable"]], [other.pk])

    def test_explain_endpoint_about_self_and_others(self):
        self.rule(self.leads, ("user", self.alice))
        client = APIClient()
        client.force_authenticate(self.hank)
        mine = client.get("/api/v1/access/explain/", {"object": f"catalog.dataset:{self.leads.pk}"})
        self.assertEqual(mine.status_code, 200)
        self.assertTrue(mine.json()["visible"])
        other = client.get("/api/v1/access/explain/",
                           {"object": f"catalog.dataset:{self.leads.pk}", "user": "alice"})
        self.assertEqual(other.status_code, 403)
        council = make_user("councillor")
        council.groups.add(Group.objects.get(name="DataOps council"))
        client.force_authenticate(council)
        about_alice = client.get("/api/v1/access/explain/",
                                 {"object": f"catalog.dataset:{self.leads.pk}", "user": "alice"})
        self.assertEqual(about_alice.status_code, 200)
        self.assertFalse(about_alice.json()["visible"])
        bad = client.get("/api/v1/access/explain/", {"object": "nonsense"})
        self.assertEqual(bad.status_code, 400)
