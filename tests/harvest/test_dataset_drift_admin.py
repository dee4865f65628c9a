"""The dataset's admin page shows its drift history (the schema changes harvests found), as its
viewer may see it: a change to a field hidden from them is not listed; the harvested facts are
read-only there."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from catalog.models import Field
from harvest.models import ChangeKind, HarvestRun, SchemaChange
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user


class DatasetDriftHistoryTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.dataset = factories.dataset(qualified_name="crm.leads")
        cls.email = factories.field(dataset=cls.dataset, name="email", data_type="varchar(100)")
        cls.secret = factories.field(dataset=cls.dataset, name="salary_band", data_type="text")
        at = timezone.now() - datetime.timedelta(hours=1)
        cls.harvest_run = HarvestRun.objects.create(system=cls.dataset.system, trigger="scheduled", scheduled_for=at,
                                            status="succeeded", finished_at=at)
        SchemaChange.objects.create(run=cls.harvest_run, dataset=cls.dataset, field=cls.email, field_name="email",
                                    kind=ChangeKind.TYPE_NARROWED, before="varchar(255)", after="varchar(100)",
                                    compatibility="breaking", contracts=[1])
        SchemaChange.objects.create(run=cls.harvest_run, dataset=cls.dataset, field=cls.secret,
                                    field_name="salary_band", kind=ChangeKind.FIELD_ADDED,
                                    after={"data_type": "text", "nullable": True})
        cls.reader = make_user("drift-reader", is_staff=True)
        cls.reader.groups.add(Group.objects.get(name="Readers"))
        AccessRule.objects.create(subject_kind="user", subject_user=cls.reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(cls.secret),
                                  target_id=cls.secret.pk, reason="tests: pay bands are HR's")
        cls.admin = make_user("drift-admin", is_staff=True, is_superuser=True)

    def page(self, user) -> str:
        self.client.force_login(user)
        response = self.client.get(reverse("admin:catalog_dataset_change", args=[self.dataset.pk]))
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_the_page_lists_the_changes_with_their_classification_and_run(self):
        html = self.page(self.admin)
        self.assertIn("Drift history", html)
        self.assertIn("Type narrowed", html)
        self.assertIn("varchar(255)", html)
        self.assertIn("breaking", html)
        self.assertIn("salary_band", html)
        self.assertIn(reverse("admin:harvest_harvestrun_change", args=[self.harvest_run.pk]), html)

    def test_a_change_to_a_hidden_field_is_not_listed(self):
        html = self.page(self.reader)
        self.assertIn("Type narrowed", html)
        self.assertNotIn("salary_band", html)

    def test_the_harvested_facts_are_read_only(self):
        self.client.force_login(self.admin)
        response = self.client.get(reverse("admin:catalog_dataset_change", args=[self.dataset.pk]))
        form = response.context["adminform"].form
        for name in ("source_description", "unique_keys", "removed_from_source_at"):
            self.assertNotIn(name, form.fields)

    def test_many_changes_link_to_the_whole_list(self):
        SchemaChange.objects.bulk_create([
            SchemaChange(run=self.harvest_run, dataset=self.dataset, field_name=f"c{i}", kind=ChangeKind.FIELD_REMOVED)
            for i in range(25)])
        html = self.page(self.admin)
        link = f'{reverse("admin:harvest_schemachange_changelist")}?dataset={self.dataset.pk}'
        self.assertIn(link, html)
        response = self.client.get(link)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.context["cl"].result_count, 27)

    def test_the_add_page_has_no_drift_section(self):
        self.client.force_login(self.admin)
        response = self.client.get(reverse("admin:catalog_dataset_add"))
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Drift history", response.content.decode())


class DriftIncidentPageTests(DatasetDriftHistoryTests):
    """The incident a breaking drift opened lists its breaking changes on its admin page, as the
    reader may see them; schema change pages name their dataset and leave out contract ids."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        from governance.models import ComplianceRun, ContractVersion, Incident

        contract = factories.contract(datasets=[cls.dataset])
        version = ContractVersion.objects.create(contract=contract, version="1.0.0", terms={}, status="active",
                                                 producer=contract.producer)
        run = ComplianceRun.objects.create(contract_version=version, scheduled_for=timezone.now(),
                                           trigger="schema_drift", status="completed", finished_at=timezone.now())
        cls.incident = Incident.objects.create(
            contract=contract, opened_by_run=run, title="Breaking schema drift", summary={
                "dataset": cls.dataset.pk, "harvest_run": cls.harvest_run.pk, "breaking_changes": [
                    {"kind": "type_narrowed", "field": "email", "before": "varchar(255)", "after": "varchar(100)"},
                    {"kind": "field_removed", "field": "salary_band", "before": {"data_type": "text"},
                     "after": None}]})

    def incident_page(self, user) -> str:
        self.client.force_login(user)
        response = self.client.get(reverse("admin:governance_incident_change", args=[self.incident.pk]))
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_the_incident_page_lists_the_breaking_changes(self):
        html = self.incident_page(self.admin)
        self.assertIn("Breaking schema changes", html)
        self.assertIn("Type narrowed email: varchar(255) → varchar(100)", html)
        self.assertIn("Field removed salary_band", html)
        self.assertIn(reverse("admin:harvest_harvestrun_change", args=[self.harvest_run.pk]), html)

    def test_a_reader_does_not_see_the_hidden_fields_change(self):
        html = self.incident_page(self.reader)
        self.assertIn("Type narrowed email", html)
        self.assertNotIn("salary_band", html)
        self.assertIn("1 change you cannot see", html)

    def test_the_schema_change_page_names_its_dataset_and_no_contract_ids(self):
        change = SchemaChange.objects.get(field_name="email")
        self.client.force_login(self.admin)
        response = self.client.get(reverse("admin:harvest_schemachange_change", args=[change.pk]))
        html = response.content.decode()
        self.assertIn("Type narrowed: crm.leads.email", html)
        self.assertNotIn("Contracts", html)


class RemovedHiddenFieldTests(TestCase):
    """A field some rule hides, once gone from the source (or deleted by hand), keeps its schema
    changes hidden: they become the council's only."""

    def test_a_removed_hidden_fields_changes_are_the_councils_only(self):
        import os
        import sqlite3
        import tempfile
        from unittest import mock

        from django.conf import settings
        from rest_framework.test import APIClient

        from catalog.models import Dataset, System
        from harvest import services
        from permissions.context import system_actor

        path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE staff (id integer PRIMARY KEY, name text, salary_band text)")
        db.close()
        with mock.patch.dict("os.environ", {"HIDDEN_FIELD_DSN": f"sqlite:///{path}"}):
            with system_actor("tests", reason="source"):
                system = System.objects.create(name="HR", slug="hr", connection_engine="sqlite",
                                               connection_env="HIDDEN_FIELD_DSN")
            services.harvest(system)
            salary = Field.objects.get(dataset__qualified_name="staff", name="salary_band")
            name = Field.objects.get(dataset__qualified_name="staff", name="name")
            reader = make_user("hr-reader", is_staff=True)
            reader.groups.add(Group.objects.get(name="Readers"))
            AccessRule.objects.create(subject_kind="user", subject_user=reader, target_kind="object",
                                      target_type=ContentType.objects.get_for_model(salary), target_id=salary.pk,
                                      reason="tests: pay bands are HR's")
            db = sqlite3.connect(path)
            db.executescript("ALTER TABLE staff DROP COLUMN salary_band; ALTER TABLE staff DROP COLUMN name;")
            db.close()
            run = services.harvest(system)
        self.assertEqual(run.status, "succeeded", run.errors)
        staff = Dataset.objects.get(qualified_name="staff")
        removed = SchemaChange.objects.filter(dataset=staff, kind=ChangeKind.FIELD_REMOVED)
        self.assertEqual(set(removed.values_list("field_name", "field_restricted")),
                         {("salary_band", True), ("name", False)})
        self.assertEqual(list(SchemaChange.objects.visible_to(reader).filter(pk__in=removed)
                              .values_list("field_name", flat=True)), ["name"])
        client = APIClient()
        client.force_authenticate(reader)
        listed = client.get("/api/v1/schema-changes/", {"dataset": staff.pk}).json()["results"]
        self.assertEqual(sorted(c["field_name"] for c in listed), ["", "name"])  # the dataset's addition, and name
        council = make_user("hr-council", is_staff=True)
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        self.assertEqual(SchemaChange.objects.visible_to(council).filter(pk__in=removed).count(), 2)
        self.assertEqual(name.name, "name")

    def test_deleting_a_hidden_field_by_hand_hides_its_earlier_changes(self):
        dataset = factories.dataset(qualified_name="crm.leads")
        secret = factories.field(dataset=dataset, name="salary_band", data_type="text")
        run = HarvestRun.objects.create(system=dataset.system, trigger="scheduled", scheduled_for=timezone.now(),
                                        status="succeeded", finished_at=timezone.now())
        SchemaChange.objects.create(run=run, dataset=dataset, field=secret, field_name="salary_band",
                                    kind=ChangeKind.FIELD_ADDED, after={"data_type": "text"})
        reader = make_user("hand-reader", is_staff=True)
        AccessRule.objects.create(subject_kind="user", subject_user=reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(secret), target_id=secret.pk,
                                  reason="tests")
        secret.delete()
        self.assertFalse(SchemaChange.objects.visible_to(reader).filter(dataset=dataset).exists())

    def test_restricted_changes_leave_payloads_and_incident_summaries_but_for_the_council(self):
        from django.conf import settings

        from governance import redaction
        from governance.services.notifications import _visible_details

        dataset = factories.dataset(qualified_name="hr.staff")
        reader = make_user("payload-reader")
        council = make_user("payload-council")
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        changes = [{"kind": "field_removed", "field": "salary_band", "restricted": True},
                   {"kind": "field_removed", "field": "name"}]
        other = factories.dataset(qualified_name="hr.payroll")  # some rule is active, as when the field was hidden
        AccessRule.objects.create(subject_kind="user", subject_user=reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(other), target_id=other.pk,
                                  reason="tests")
        details = {"dataset": dataset.pk, "removed": ["name"], "changes": changes}
        self.assertEqual(_visible_details(details, reader)["changes"], [changes[1]])
        self.assertEqual(_visible_details(details, council)["changes"], changes)
        summary = {"dataset": dataset.pk, "breaking_changes": changes}
        shown = redaction.Redactor(reader).incident_summary(summary, run_id=None)
        self.assertEqual(shown["breaking_changes"][0], changes[1])
        self.assertTrue(redaction.is_placeholder(shown["breaking_changes"][1]))
        self.assertEqual(redaction.Redactor(council).incident_summary(summary, run_id=None)["breaking_changes"],
                         changes)
