"""The dataset's admin page shows its quality evidence: the latest compliance runs of the contracts
covering it and the latest results of its dbt tests, as its viewer may see them."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, Field
from governance.models import ComplianceRun, ContractVersion
from permissions.models import AccessRule
from tests import factories
from tests.ingest.test_dbt import built, run_ingestion
from tests.mixins import make_user


class DatasetEvidenceTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.warehouse = factories.system(slug="warehouse")
        run_ingestion(built(), cls.warehouse)
        cls.customers = Dataset.objects.get(qualified_name="staging.stg_customers")
        contract = factories.contract(datasets=[cls.customers])
        version = ContractVersion.objects.create(contract=contract, version="1.0.0", terms={}, status="active",
                                                 producer=contract.producer)
        ComplianceRun.objects.create(contract_version=version, scheduled_for=timezone.now(), trigger="manual",
                                     status="completed", outcome="fail", finished_at=timezone.now())
        cls.reader = make_user("evidence-reader", is_staff=True)
        cls.reader.groups.add(Group.objects.get(name="Readers"))
        country = Field.objects.get(dataset=cls.customers, name="country_code")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(country), target_id=country.pk,
                                  reason="tests: countries are restricted")
        cls.admin = make_user("evidence-admin", is_staff=True, is_superuser=True)
        cls.contract = contract

    def page(self, user) -> str:
        self.client.force_login(user)
        response = self.client.get(reverse("admin:catalog_dataset_change", args=[self.customers.pk]))
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_runs_and_test_results_are_listed(self):
        html = self.page(self.admin)
        self.assertIn("Quality evidence", html)
        self.assertIn(self.contract.name, html)
        self.assertIn("accepted_values_stg_customers_country_code__PT__DE", html)
        self.assertIn("not_null_stg_customers_email", html)
        self.assertIn(f'{reverse("admin:ingest_dbttest_changelist")}?dataset={self.customers.pk}', html)

    def test_a_hidden_fields_test_is_not_listed(self):
        html = self.page(self.reader)
        self.assertIn("not_null_stg_customers_email", html)
        self.assertNotIn("country_code", html)
