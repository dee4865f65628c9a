"""Signing in the admin: one person signs one version for one party at a time.

A lead signs for the party they lead; a superuser or council member, who may sign for every party, chooses the
party explicitly on the signing form, and the signature's audit record says it was signed on the
party's behalf. The form offers exactly the parties the service lets the signer sign for.
"""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.test import TestCase
from django.urls import reverse

from governance.models import ContractSignature
from governance.services import contracts as contract_services
from permissions.context import Actor
from permissions.models import AuditAction, AuditRecord
from tests import factories
from tests.mixins import make_user

SETUP = Actor(system="tests")
TERMS = {
    "schema": [{"name": "leads", "fields": [
        {"name": "lead_id", "type": "varchar(24)", "required": True, "unique": True},
        {"name": "status", "type": "varchar(32)", "required": True},
    ]}],
}
VIEW_VERSIONS = ("governance.view_contractversion", "governance.view_datacontract")


class AdminSigningCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.maria = make_user("maria", is_staff=True, perms=VIEW_VERSIONS)  # leads Marketing
        factories.membership(cls.maria, department=cls.marketing, role="lead")
        cls.reader = make_user("reader", is_staff=True, perms=VIEW_VERSIONS)
        cls.root = make_user("root", is_staff=True, is_superuser=True)
        cls.contract = factories.contract(name="Qualified leads", slug="qualified-leads", producer=cls.marketing,
                                          consumers=[cls.sales])
        version = contract_services.create_version(contract=cls.contract, version="1.0.0", terms=TERMS,
                                                   actor=cls.root)
        cls.version = contract_services.propose(version, actor=cls.root)
        cls.sign_url = reverse("admin:governance_contractversion_sign", args=[cls.version.pk])
        cls.change_url = reverse("admin:governance_contractversion_change", args=[cls.version.pk])

    def admin(self, user):
        self.client.force_login(user)
        return self.client

    def choices(self, response) -> dict[str, str]:
        field = response.context["form"]["department"]
        return {str(choice.data["value"]): choice.data["label"] for choice in field.subwidgets if choice.data["value"]}

    def signatures(self) -> set[str]:
        return set(ContractSignature.objects.filter(version=self.version).values_list("department__slug", flat=True))

    def sign_records(self) -> list[dict]:
        return list(AuditRecord.objects.filter(action=AuditAction.SIGN, object_id=str(self.version.pk))
                    .order_by("seq").values_list("details", flat=True))


class TestSuperuserChoosesTheParty(AdminSigningCase):
    def test_the_form_offers_every_unsigned_party_and_preselects_none(self):
        page = self.admin(self.root).get(self.sign_url)
        self.assertEqual(page.status_code, 200)
        self.assertEqual(self.choices(page), {
            str(self.marketing.pk): "Marketing — on its behalf (you do not lead it)",
            str(self.sales.pk): "Sales — on its behalf (you do not lead it)"})
        self.assertIsNone(page.context["form"]["department"].value())

    def test_signing_covers_the_chosen_party_only_and_the_record_says_on_behalf(self):
        response = self.admin(self.root).post(self.sign_url, {"department": self.sales.pk, "comment": "for Sofia"})
        self.assertRedirects(response, self.change_url, fetch_redirect_response=False)
        self.assertEqual(self.signatures(), {"sales"})
        self.assertEqual([(r["department"], r["on_behalf"]) for r in self.sign_records()], [("sales", True)])
        self.version.refresh_from_db()
        self.assertEqual(self.version.status, "proposed")  # Marketing has not signed
        self.assertIn("on its behalf", [str(m) for m in get_messages(response.wsgi_request)][0])
        again = self.client.get(self.sign_url)
        self.assertEqual(list(self.choices(again)), [str(self.marketing.pk)])  # Sales has signed

    def test_choosing_nothing_signs_nothing(self):
        response = self.admin(self.root).post(self.sign_url, {"department": ""})
        self.assertEqual(response.status_code, 200)
        self.assertIn("department", response.context["form"].errors)
        self.assertEqual(self.signatures(), set())


class TestCouncilSignsOnBehalf(AdminSigningCase):
    def test_a_council_member_chooses_the_party_and_signs_on_its_behalf(self):
        from django.conf import settings
        from django.contrib.auth.models import Group

        council = make_user("cora-council", is_staff=True, perms=VIEW_VERSIONS)
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        page = self.admin(council).get(self.sign_url)
        self.assertEqual(set(self.choices(page)), {str(self.marketing.pk), str(self.sales.pk)})
        self.assertIsNone(page.context["form"]["department"].value())
        self.client.post(self.sign_url, {"department": self.sales.pk})
        self.assertEqual(self.signatures(), {"sales"})
        self.assertEqual([(r["department"], r["on_behalf"]) for r in self.sign_records()], [("sales", True)])


class TestLeadSignsForTheirParty(AdminSigningCase):
    def test_the_form_offers_the_led_party_only(self):
        page = self.admin(self.maria).get(self.sign_url)
        self.assertEqual(self.choices(page), {str(self.marketing.pk): "Marketing"})
        self.assertEqual(page.context["form"]["department"].value(), self.marketing.pk)

    def test_signing_records_a_lead_signature(self):
        self.admin(self.maria).post(self.sign_url, {"department": self.marketing.pk})
        self.assertEqual(self.signatures(), {"marketing"})
        self.assertEqual([(r["department"], r["on_behalf"]) for r in self.sign_records()], [("marketing", False)])

    def test_a_party_they_do_not_lead_is_refused_and_nothing_is_signed(self):
        response = self.admin(self.maria).post(self.sign_url, {"department": self.sales.pk})
        self.assertEqual(response.status_code, 200)
        self.assertIn("department", response.context["form"].errors)
        self.assertEqual(self.signatures(), set())

    def test_the_change_page_links_to_the_form_for_who_may_sign(self):
        self.assertContains(self.admin(self.maria).get(self.change_url), 'id="sign-link"')
        self.assertNotContains(self.admin(self.reader).get(self.change_url), 'id="sign-link"')


class TestTheAction(AdminSigningCase):
    changelist = reverse("admin:governance_contractversion_changelist")

    def act(self, user, *versions):
        return self.admin(user).post(self.changelist, {"action": "sign_one",
                                                       "_selected_action": [v.pk for v in versions]})

    def test_the_action_opens_the_form_of_one_version(self):
        response = self.act(self.root, self.version)
        self.assertRedirects(response, self.sign_url, fetch_redirect_response=False)
        self.assertEqual(self.signatures(), set())  # opening the form signs nothing

    def test_two_versions_at_once_are_refused(self):
        other = factories.contract(producer=self.marketing, consumers=[self.sales])
        second = contract_services.propose(contract_services.create_version(
            contract=other, version="1.0.0", terms=TERMS, actor=self.root), actor=self.root)
        response = self.act(self.root, self.version, second)
        self.assertEqual(response.status_code, 302)
        self.assertIn("one version", str(list(get_messages(response.wsgi_request))[0]))
        self.assertFalse(ContractSignature.objects.exists())

    def test_who_may_sign_for_no_party_is_told_and_cannot_sign(self):
        page = self.admin(self.reader).get(self.sign_url)
        self.assertContains(page, "nothing here you may sign")
        self.assertNotContains(page, 'id="sign-form"')
        self.client.post(self.sign_url, {"department": self.sales.pk})
        self.assertEqual(self.signatures(), set())


class TestTheFormMatchesTheService(AdminSigningCase):
    """For each signer, the offered parties are exactly those the API's sign accepts."""

    def test_offered_parties_are_those_the_api_accepts(self):
        from django.db import transaction
        from rest_framework.test import APIClient

        for user in (self.root, self.maria, self.reader):
            offered = set(self.choices(self.admin(user).get(self.sign_url)))
            accepted = set()
            for party in (self.marketing, self.sales):
                api = APIClient()
                api.force_authenticate(user)
                with transaction.atomic():
                    answer = api.post(f"/api/v1/contract-versions/{self.version.pk}/sign/",
                                      {"department": party.slug}, format="json")
                    transaction.set_rollback(True)
                if answer.status_code == 200:
                    accepted.add(str(party.pk))
            with self.subTest(user=user.username):
                self.assertEqual(offered, accepted)
