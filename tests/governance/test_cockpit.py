"""The admin's home says what needs the signed-in person, through the same visibility rules as every
read: approvals and signatures waiting for a department they lead, incidents assigned to them,
breaking drift and failing contracts of their departments, recent changes to what they own; and a
search box over the whole catalog."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance import cockpit
from governance.models import ComplianceRun, ContractVersion, Incident, StateDefinitionVersion
from harvest.models import ChangeKind, HarvestRun, SchemaChange
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user


class CockpitTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.lead = make_user("cockpit-lead", is_staff=True)
        factories.membership(cls.lead, department=cls.sales, role="lead")
        cls.reader = make_user("cockpit-reader", is_staff=True)
        cls.reader.groups.add(Group.objects.get(name="Readers"))
        factories.membership(cls.reader, department=cls.sales, role="member")

        contract = factories.contract(name="Lead hand-off", producer=cls.marketing, consumers=[cls.sales])
        cls.proposed = ContractVersion.objects.create(contract=contract, version="2.0.0", terms={}, status="proposed",
                                                      producer=cls.marketing)
        cls.proposed.consumers.set([cls.sales])
        state = factories.state(name="MQL", owner_department=cls.sales)
        cls.state_version = StateDefinitionVersion.objects.create(definition=state, number=1, status="proposed",
                                                                  definition_text="Engaged enough",
                                                                  proposed_at=timezone.now())
        failing = factories.contract(name="Pipeline numbers", producer=cls.sales, compliance_status="failing")
        version = ContractVersion.objects.create(contract=failing, version="1.0.0", terms={}, status="active",
                                                 producer=cls.sales)
        run = ComplianceRun.objects.create(contract_version=version, scheduled_for=timezone.now(), trigger="manual",
                                           status="completed", outcome="fail", finished_at=timezone.now())
        cls.incident = Incident.objects.create(contract=failing, opened_by_run=run, title="Pipeline numbers fail",
                                               assignee=cls.lead,
                                               ack_due_at=timezone.now() + datetime.timedelta(hours=3))
        cls.dataset = factories.dataset(qualified_name="crm.opportunities", name="Opportunities",
                                        owner_department=cls.sales, steward=cls.lead)
        cls.secret = factories.dataset(qualified_name="crm.commissions", name="Commissions",
                                       owner_department=cls.sales)
        harvest = HarvestRun.objects.create(system=cls.dataset.system, trigger="scheduled",
                                            scheduled_for=timezone.now(), status="succeeded")
        for dataset in (cls.dataset, cls.secret):
            SchemaChange.objects.create(run=harvest, dataset=dataset, field_name="amount",
                                        kind=ChangeKind.FIELD_REMOVED, compatibility="breaking")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(cls.secret),
                                  target_id=cls.secret.pk, reason="tests: commissions are private")

    def sections(self, user) -> dict[str, list[str]]:
        return {section.key: [entry.text for entry in section.entries] for section in cockpit.needs(user)}

    def test_the_lead_sees_what_waits_for_them(self):
        found = self.sections(self.lead)
        self.assertEqual(found["signatures"], ["Sign Lead hand-off 2.0.0"])
        self.assertEqual(found["approvals"], ["Approve MQL v1"])
        self.assertEqual(found["incidents"], ["Pipeline numbers fail"])
        self.assertEqual(found["failing"], ["Pipeline numbers"])
        self.assertEqual(sorted(found["drift"]), ["Field removed: crm.commissions.amount",
                                                  "Field removed: crm.opportunities.amount"])
        self.assertIn("crm.opportunities", found["changes"])
        [incident] = next(s for s in cockpit.needs(self.lead) if s.key == "incidents").entries
        self.assertIn("left to acknowledge", incident.detail)
        self.assertTrue(incident.urgent)

    def test_a_reader_sees_no_signature_and_nothing_hidden(self):
        found = self.sections(self.reader)
        self.assertEqual((found["signatures"], found["approvals"], found["incidents"]), ([], [], []))
        self.assertEqual(found["drift"], ["Field removed: crm.opportunities.amount"])
        self.assertEqual(found["failing"], ["Pipeline numbers"])

    def test_the_signed_signature_is_no_longer_waiting(self):
        from governance.models import ContractSignature

        ContractSignature.objects.create(version=self.proposed, department=self.sales, signed_by=self.lead,
                                         content_hash="x" * 64)
        self.assertEqual(self.sections(self.lead)["signatures"], [])

    def test_a_fixed_number_of_queries(self):
        cockpit.needs(self.lead)  # warm: the rules compiled for the person are cached between reads
        with CaptureQueriesContext(connection) as few:
            cockpit.needs(self.lead)
        for i in range(5):
            extra = factories.dataset(qualified_name=f"crm.extra_{i}", owner_department=self.sales, steward=self.lead)
            Incident.objects.filter(pk=self.incident.pk).update(title=f"t{i}")
            SchemaChange.objects.create(run=HarvestRun.objects.first(), dataset=extra, field_name="x",
                                        kind=ChangeKind.TYPE_CHANGED, compatibility="breaking")
        cockpit.needs(self.lead)
        with CaptureQueriesContext(connection) as more:
            cockpit.needs(self.lead)
        self.assertEqual(len(more), len(few), "\n".join(q["sql"][:200] for q in more.captured_queries))

    def test_the_admin_home_shows_the_panel_and_links_to_where_to_act(self):
        self.client.force_login(self.lead)
        response = self.client.get(reverse("admin:index"))
        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertIn("What needs you", html)
        self.assertIn(reverse("admin:governance_contractversion_change", args=[self.proposed.pk]), html)
        self.assertIn(reverse("admin:governance_incident_change", args=[self.incident.pk]), html)
        self.assertIn(reverse("admin:catalog_search"), html)

    def test_the_search_page_answers_as_the_api_and_hides_what_is_hidden(self):
        self.client.force_login(self.reader)
        response = self.client.get(reverse("admin:catalog_search"), {"q": "opportunities"})
        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertIn("crm.opportunities", html)
        self.assertIn(reverse("admin:catalog_dataset_change", args=[self.dataset.pk]), html)
        html = self.client.get(reverse("admin:catalog_search"), {"q": "commissions"}).content.decode()
        self.assertNotIn("crm.commissions", html)
        self.assertIn("0 results", html)
        self.client.force_login(self.lead)  # who may see it finds it
        html = self.client.get(reverse("admin:catalog_search"), {"q": "commissions"}).content.decode()
        self.assertIn("crm.commissions", html)
        self.client.force_login(self.reader)
        response = self.client.get(reverse("admin:catalog_search"), {"q": "opportunities", "system": "nope"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("errorlist", response.content.decode())
