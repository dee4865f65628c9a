"""Every role can do its work (issue 15): the role groups exist after migrate with their
permissions; being made a lead or steward gives admin access to what the role may do, and ending
the membership takes it back; what a lead, a steward and a reader can do in the admin."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse

from catalog.models import Field
from permissions.council import LEADS_GROUP, READERS_GROUP, STEWARDS_GROUP, ensure_council_group
from permissions.models import AccessRule, AccessRuleException, ApiToken, AuditAction, AuditRecord
from tests import factories

User = get_user_model()


def group_names(user) -> set[str]:
    return set(User.objects.get(pk=user.pk).groups.values_list("name", flat=True))


def staff(user) -> bool:
    return User.objects.get(pk=user.pk).is_staff


class TestRoleGroups(TestCase):
    def test_groups_exist_after_migrate_with_view_permissions_and_no_change_permission(self):
        for name in (settings.ACCORD_COUNCIL_GROUP, LEADS_GROUP, STEWARDS_GROUP, READERS_GROUP):
            self.assertTrue(Group.objects.filter(name=name).exists(), name)
        for name in (LEADS_GROUP, STEWARDS_GROUP, READERS_GROUP):
            codenames = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
            self.assertIn("view_dataset", codenames)
            self.assertIn("view_statedefinitionversion", codenames)
            # What they change is decided per object (permissions.edit), never by a model permission.
            self.assertFalse({c for c in codenames if c.startswith(("add_", "change_", "delete_", "approve_"))},
                             name)
        self.assertIn("sign_contractversion",
                      Group.objects.get(name=LEADS_GROUP).permissions.values_list("codename", flat=True))

    def test_ensuring_the_groups_again_changes_nothing(self):
        before = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
        ensure_council_group()
        after = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
        self.assertEqual(before, after)


class TestMembershipGivesAccess(TestCase):
    def setUp(self):
        self.department = factories.department()
        self.person = User.objects.create_user("pat", password="pw-pat-123456")

    def test_a_lead_is_staff_in_the_leads_group_until_the_membership_ends(self):
        membership = factories.membership(self.person, department=self.department, role="lead")
        self.assertEqual(group_names(self.person), {LEADS_GROUP})
        self.assertTrue(staff(self.person))
        membership.delete()
        self.assertEqual(group_names(self.person), set())
        self.assertFalse(staff(self.person))

    def test_changing_the_role_moves_the_group(self):
        membership = factories.membership(self.person, department=self.department, role="steward")
        self.assertEqual(group_names(self.person), {STEWARDS_GROUP})
        membership.role = "member"
        membership.save()
        self.assertEqual(group_names(self.person), set())
        self.assertFalse(staff(self.person))
        membership.role = "lead"
        membership.save()
        self.assertEqual(group_names(self.person), {LEADS_GROUP})

    def test_a_role_in_another_department_keeps_the_group(self):
        first = factories.membership(self.person, department=self.department, role="steward")
        factories.membership(self.person, department=factories.department(), role="steward")
        first.delete()
        self.assertEqual(group_names(self.person), {STEWARDS_GROUP})
        self.assertTrue(staff(self.person))

    def test_staff_set_up_by_hand_is_left_alone(self):
        self.person.is_staff = True
        self.person.save()
        self.person.groups.add(Group.objects.create(name="Auditors"))
        factories.membership(self.person, department=self.department, role="lead").delete()
        self.assertTrue(staff(self.person))
        self.assertEqual(group_names(self.person), {"Auditors"})

    def test_added_to_readers_or_council_by_hand_makes_staff_and_removing_takes_it(self):
        readers = Group.objects.get(name=READERS_GROUP)
        self.person.groups.add(readers)
        self.assertTrue(staff(self.person))
        readers.user_set.remove(self.person)
        self.assertFalse(staff(self.person))

    def test_the_changes_are_audited_on_the_user(self):
        factories.membership(self.person, department=self.department, role="lead")
        records = AuditRecord.objects.filter(object_type="auth.user", object_id=str(self.person.pk),
                                             action=AuditAction.UPDATE)
        changed = [set(record.changes) for record in records]
        self.assertIn({"groups"}, changed)
        self.assertIn({"is_staff"}, changed)

    def test_deleting_the_person_deletes_their_memberships_quietly(self):
        factories.membership(self.person, department=self.department, role="lead")
        self.person.delete()
        self.assertFalse(User.objects.filter(username="pat").exists())


class AdminRoleTests(TestCase):
    def setUp(self):
        self.department = factories.department(name="Marketing", slug="marketing")
        self.other = factories.department(name="Finance", slug="finance")
        self.steward = User.objects.create_user("stew", password="pw-stew-123456")
        self.lead = User.objects.create_user("lea", password="pw-lea-123456")
        factories.membership(self.steward, department=self.department, role="steward")
        factories.membership(self.lead, department=self.department, role="lead")
        self.system = factories.system(owner_department=self.department)
        self.owned = factories.dataset(system=self.system, owner_department=self.other, steward=self.steward)
        self.foreign = factories.dataset(system=self.system, owner_department=self.other)
        self.led = factories.dataset(system=self.system, owner_department=self.department)
        self.owned_field = factories.field(dataset=self.owned, name="email")
        self.foreign_field = factories.field(dataset=self.foreign, name="phone")

    def change_url(self, obj) -> str:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])

    def field_post(self, field, **changes) -> dict:
        data = {"dataset": field.dataset_id, "position": field.position, "name": field.name,
                "data_type": field.data_type, "nullable": "on", "classification": field.classification,
                "description": field.description, "owner": field.owner_id or "",
                "owner_department": field.owner_department_id or ""}
        data.update(changes)
        return {k: v for k, v in data.items() if v is not None}


class TestStewardInTheAdmin(AdminRoleTests):
    def test_steward_changes_the_owner_of_a_field_of_their_dataset(self):
        self.client.force_login(self.steward)
        new_owner = User.objects.create_user("olga")
        page = self.client.get(self.change_url(self.owned_field))
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, 'name="_save"')
        response = self.client.post(self.change_url(self.owned_field), self.field_post(self.owned_field,
                                                                                        owner=new_owner.pk))
        self.assertEqual(response.status_code, 302, getattr(response, "context_data", {}).get("errors"))
        self.assertEqual(Field.objects.get(pk=self.owned_field.pk).owner, new_owner)

    def test_steward_sees_but_cannot_change_a_field_of_another_dataset(self):
        self.client.force_login(self.steward)
        page = self.client.get(self.change_url(self.foreign_field))
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'name="_save"')
        response = self.client.post(self.change_url(self.foreign_field),
                                    self.field_post(self.foreign_field, description="mine now"))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(Field.objects.get(pk=self.foreign_field.pk).description, "")

    def test_steward_cannot_move_a_field_into_a_dataset_they_do_not_own(self):
        self.client.force_login(self.steward)
        response = self.client.post(self.change_url(self.owned_field),
                                    self.field_post(self.owned_field, dataset=self.foreign.pk))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(Field.objects.get(pk=self.owned_field.pk).dataset, self.owned)

    def test_steward_may_choose_people_in_the_owner_autocomplete(self):
        self.client.force_login(self.steward)
        response = self.client.get(reverse("admin:autocomplete"), {
            "app_label": "catalog", "model_name": "field", "field_name": "owner", "term": "le"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("lea", {row["text"] for row in response.json()["results"]})

    def test_after_the_membership_ends_the_admin_is_closed(self):
        self.steward.department_memberships.all().delete()
        self.client.force_login(self.steward)
        response = self.client.get(self.change_url(self.owned_field))
        self.assertEqual(response.status_code, 302)  # to the admin's login: no longer staff


class TestLeadInTheAdmin(AdminRoleTests):
    def test_lead_changes_their_departments_dataset_not_anothers(self):
        self.client.force_login(self.lead)
        self.assertContains(self.client.get(self.change_url(self.led)), 'name="_save"')
        self.assertNotContains(self.client.get(self.change_url(self.foreign)), 'name="_save"')

    def test_lead_approves_their_departments_state_definition_in_the_admin(self):
        from governance.choices import VersionStatus
        from governance.models import StateDefinitionVersion
        from governance.services import states as state_services

        workflow = factories.workflow(owner_department=self.department)
        state = factories.state(workflow=workflow, owner_department=self.department)
        version = state_services.create_draft(definition=state, definition_text="A qualified lead.",
                                              criteria={"field": "email", "op": "is_not_null"}, actor=self.lead)
        version = state_services.propose(version, actor=self.lead)
        self.client.force_login(self.lead)
        changelist = reverse("admin:governance_statedefinitionversion_changelist")
        self.assertContains(self.client.get(changelist), "approve_selected")
        response = self.client.post(changelist, {"action": "approve_selected", "_selected_action": [version.pk],
                                                 "confirmed": "yes"})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(StateDefinitionVersion.objects.get(pk=version.pk).status, VersionStatus.APPROVED)


class TestReaderExplains(TestCase):
    def setUp(self):
        self.hr = factories.department(name="HR", slug="hr")
        self.reader = User.objects.create_user("rita", password="pw-rita-123456")
        self.reader.groups.add(Group.objects.get(name=READERS_GROUP))
        self.restricted = factories.tag(name="hr-restricted", slug="hr-restricted")
        self.hidden = factories.dataset(qualified_name="hr.dim_employee", tags=[self.restricted])
        self.visible = factories.dataset(qualified_name="sales.accounts")
        self.rule = AccessRule.objects.create(subject_kind="everyone", target_kind="tag",
                                              target_tag=self.restricted, reason="Employee data is HR's only")
        AccessRuleException.objects.create(rule=self.rule, subject_kind="department", subject_department=self.hr,
                                           reason="HR keeps the employee records")
        self.client.force_login(self.reader)

    def test_reader_browses_the_catalog_without_the_hidden_dataset(self):
        response = self.client.get(reverse("admin:catalog_dataset_changelist"))
        self.assertContains(response, "sales.accounts")
        self.assertNotContains(response, "hr.dim_employee")

    def test_reader_explains_what_hides_the_employee_data_from_them(self):
        url = reverse("admin:permissions_explain")
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Deny everyone → tag hr-restricted")
        self.assertContains(response, "Employee data is HR&#x27;s only")
        self.assertContains(response, "except: department HR")
        self.assertNotContains(response, "hr.dim_employee")

    def test_reader_explains_only_themselves_and_a_hidden_object_is_missing(self):
        url = reverse("admin:permissions_explain")
        dataset_type = "catalog.dataset"
        mine = self.client.get(url, {"user": self.reader.pk, "object_type": dataset_type,
                                     "object_id": self.visible.pk})
        self.assertContains(mine, "Visible")
        self.assertNotContains(mine, "Rules about other people")
        other = User.objects.create_user("otto")
        theirs = self.client.get(url, {"user": other.pk, "object_type": dataset_type, "object_id": self.visible.pk})
        self.assertNotContains(theirs, 'id="decision"')
        hidden = self.client.get(url, {"user": self.reader.pk, "object_type": dataset_type,
                                       "object_id": self.hidden.pk})
        missing = self.client.get(url, {"user": self.reader.pk, "object_type": dataset_type, "object_id": 999999})
        self.assertContains(hidden, "No such object.")
        self.assertContains(missing, "No such object.")
        self.assertEqual(re.sub(r"\d{4,}", "", hidden.content.decode()).count("No such object."),
                         re.sub(r"\d{4,}", "", missing.content.decode()).count("No such object."))

    def test_hr_sees_the_rule_lifted(self):
        hr_person = User.objects.create_user("hanna")
        factories.membership(hr_person, department=self.hr, role="lead")
        self.client.force_login(hr_person)
        response = self.client.get(reverse("admin:permissions_explain"))
        self.assertContains(response, "Nothing: no deny rule applies.")



class TestDemoAccounts(TestCase):
    """``manage.py load_demo``: one account per role, passwords printed once, HR's data hidden
    from everyone outside HR."""

    @classmethod
    def setUpTestData(cls):
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("load_demo", stdout=out)
        cls.output = out.getvalue()
        cls.passwords = dict(re.findall(r"^  (\S+) / (\S+) ", cls.output, flags=re.MULTILINE))

    def test_six_accounts_one_per_role_with_printed_passwords_that_sign_in(self):
        from django.contrib.auth import authenticate
        from django.test import RequestFactory

        from governance.demo import DEMO_LOGINS

        self.assertEqual(set(self.passwords), {username for username, _ in DEMO_LOGINS})
        for username, password in self.passwords.items():
            request = RequestFactory().post("/accounts/login/")
            self.assertIsNotNone(authenticate(request, username=username, password=password), username)
        groups = {username: group_names(User.objects.get(username=username)) for username in self.passwords}
        self.assertIn(settings.ACCORD_COUNCIL_GROUP, groups["dana.data"])
        self.assertEqual(groups["maria.marketing"], {LEADS_GROUP})
        self.assertEqual(groups["sofia.sales"], {LEADS_GROUP})
        self.assertEqual(groups["hannah.hr"], {LEADS_GROUP})
        self.assertEqual(groups["sam.marketing"], {STEWARDS_GROUP})
        self.assertEqual(groups["lena.marketing"], {READERS_GROUP})
        self.assertTrue(all(User.objects.get(username=u).is_staff for u in self.passwords))
        # Everyone else in the demo still cannot sign in.
        others = User.objects.exclude(username__in=self.passwords).filter(department_memberships__isnull=False)
        self.assertFalse(any(person.has_usable_password() for person in others))

    def test_a_second_run_keeps_the_passwords_and_prints_none(self):
        from io import StringIO

        from django.core.management import call_command

        hashes = dict(User.objects.filter(username__in=self.passwords).values_list("username", "password"))
        before = AuditRecord.objects.count()
        out = StringIO()
        call_command("load_demo", stdout=out)
        self.assertIn("nothing changed", out.getvalue())
        self.assertIn("Demo logins with their passwords unchanged: dana.data", out.getvalue())
        for password in self.passwords.values():
            self.assertNotIn(password, out.getvalue())
        self.assertEqual(dict(User.objects.filter(username__in=self.passwords).values_list("username", "password")),
                         hashes)
        self.assertEqual(AuditRecord.objects.count(), before)

    def test_hr_restricted_data_is_hidden_from_everyone_outside_hr(self):
        from catalog.models import Dataset

        employees = Dataset.objects.get(qualified_name="hr.dim_employee")
        for username in ("dana.data", "maria.marketing", "sofia.sales", "sam.marketing", "lena.marketing"):
            user = User.objects.get(username=username)
            self.assertFalse(Dataset.objects.visible_to(user).filter(pk=employees.pk).exists(), username)
            self.assertFalse(Field.objects.visible_to(user).filter(name="base_salary").exists(), username)
        for username in ("hannah.hr", "henrik.hr"):
            user = User.objects.get(username=username)
            self.assertTrue(Dataset.objects.visible_to(user).filter(pk=employees.pk).exists(), username)

    def test_the_reader_sees_why_in_explain(self):
        self.client.force_login(User.objects.get(username="lena.marketing"))
        response = self.client.get(reverse("admin:permissions_explain"))
        self.assertContains(response, "Deny everyone → tag hr-restricted")
        self.assertContains(response, "except: department HR")


class TestSelfService(TestCase):
    """Every active user, staff or not: sign in, tokens, what waits for them."""

    def setUp(self):
        self.person = User.objects.create_user("nora", password="pw-nora-123456")  # not staff

    def sign_in(self):
        response = self.client.post(reverse("accord-login"), {"username": "nora", "password": "pw-nora-123456"})
        self.assertRedirects(response, reverse("accord-self"), fetch_redirect_response=False)

    def test_signed_out_is_sent_to_sign_in(self):
        response = self.client.get(reverse("accord-self"))
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith(reverse("accord-login")))

    def test_a_non_staff_user_signs_in_and_creates_a_token_shown_once(self):
        self.sign_in()
        self.assertContains(self.client.get(reverse("accord-self")), "No tokens yet.")
        response = self.client.post(reverse("accord-self-token-create"),
                                    {"name": "dbt nightly", "expires_at": ""})
        self.assertEqual(response.status_code, 200)
        raw = re.search(r'<code id="token-secret">([^<]+)</code>', response.content.decode()).group(1)
        self.assertIn("no-cache", response["Cache-Control"])
        token = ApiToken.objects.get(user=self.person, name="dbt nightly")
        self.assertTrue(raw.startswith(token.prefix))
        # Nowhere else: not in cookies, not on the next page, not in a message.
        for cookie in self.client.cookies.values():
            self.assertNotIn(raw, cookie.value)
        self.assertNotContains(self.client.get(reverse("accord-self")), raw)
        # It works against the API, as its owner.
        api = self.client_class()
        answer = api.get("/api/v1/tokens/", HTTP_AUTHORIZATION=f"Bearer {raw}")
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(AuditRecord.objects.filter(action=AuditAction.TOKEN_CREATED,
                                                    object_id=str(token.pk)).count(), 1)

    def test_expiry_beyond_the_maximum_is_refused_with_the_reason(self):
        import datetime

        self.sign_in()
        far = (datetime.datetime.now() + datetime.timedelta(days=settings.ACCORD_TOKEN_MAX_LIFETIME_DAYS + 30))
        response = self.client.post(reverse("accord-self-token-create"),
                                    {"name": "too long", "expires_at": far.strftime("%Y-%m-%dT%H:%M")})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(ApiToken.objects.filter(name="too long").exists())
        self.assertContains(response, "errorlist", status_code=400)

    def test_a_chosen_expiry_and_a_duplicate_name(self):
        import datetime

        self.sign_in()
        soon = datetime.datetime.now() + datetime.timedelta(days=7)
        self.client.post(reverse("accord-self-token-create"),
                         {"name": "ci", "expires_at": soon.strftime("%Y-%m-%dT%H:%M")})
        token = ApiToken.objects.get(user=self.person, name="ci")
        self.assertLess(token.expires_at - token.created_at, datetime.timedelta(days=8))
        again = self.client.post(reverse("accord-self-token-create"), {"name": "ci", "expires_at": ""})
        self.assertContains(again, "already have a token with this name", status_code=400)

    def test_revoke_own_token_and_someone_elses_is_missing(self):
        from permissions.services import create_token

        self.sign_in()
        mine, _ = create_token(user=self.person, name="mine", actor=self.person)
        other = User.objects.create_user("olaf")
        theirs, _ = create_token(user=other, name="theirs", actor=other)
        self.assertEqual(self.client.post(reverse("accord-self-token-revoke", args=[theirs.pk])).status_code, 404)
        self.assertIsNone(ApiToken.objects.get(pk=theirs.pk).revoked_at)
        response = self.client.post(reverse("accord-self-token-revoke", args=[mine.pk]))
        self.assertRedirects(response, reverse("accord-self"), fetch_redirect_response=False)
        self.assertIsNotNone(ApiToken.objects.get(pk=mine.pk).revoked_at)
        self.assertNotContains(self.client.get(reverse("accord-self")), "theirs")

    def test_an_inactive_account_cannot_sign_in(self):
        self.person.is_active = False
        self.person.save()
        response = self.client.post(reverse("accord-login"), {"username": "nora", "password": "pw-nora-123456"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.client.get(reverse("accord-self")).status_code, 302)

    def test_pending_approvals_and_signatures_of_a_lead(self):
        from governance.services import contracts as contract_services
        from governance.services import states as state_services

        marketing, sales = factories.department(name="Marketing"), factories.department(name="Sales")
        factories.membership(self.person, department=marketing, role="lead")
        sales_lead = User.objects.create_user("sven")
        factories.membership(sales_lead, department=sales, role="lead")
        workflow = factories.workflow(owner_department=sales)
        state = factories.state(workflow=workflow, owner_department=sales, scope="enterprise",
                                stakeholders=[marketing, sales])
        version = state_services.create_draft(definition=state, definition_text="Sales-qualified.",
                                              criteria={"field": "email", "op": "is_not_null"}, actor=sales_lead)
        state_services.propose(version, actor=sales_lead)
        contract = factories.contract(producer=sales, consumers=[marketing], datasets=[workflow.dataset])
        contract_version = contract_services.create_version(contract=contract, version="1.0.0", terms={},
                                                            actor=sales_lead)
        contract_services.propose(contract_version, actor=sales_lead)
        self.sign_in()
        page = self.client.get(reverse("accord-self"))
        body = page.content.decode()
        approvals = body[body.index('id="pending-approvals"'):body.index('id="pending-signatures"')]
        self.assertIn(state.name, approvals)
        self.assertIn("Marketing", approvals)
        self.assertIn(reverse("admin:governance_statedefinitionversion_change", args=[version.pk]), approvals)
        signatures = body[body.index('id="pending-signatures"'):body.index('id="tokens"')]
        self.assertIn(contract.name, signatures)
        self.assertIn(reverse("admin:governance_contractversion_sign", args=[contract_version.pk]), signatures)
        # Once Marketing approved, the approval is no longer waiting for them.
        state_services.approve(version, department=marketing, actor=User.objects.get(pk=self.person.pk))
        self.assertContains(self.client.get(reverse("accord-self")), "Nothing to approve.")
