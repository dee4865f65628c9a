"""Deleting a catalog object never changes what a proposed or signed contract version covers: the
API answers 409 and the admin's confirmation refuses, naming the reason; a draft does not hold it."""

from __future__ import annotations

from django.test import TestCase
from rest_framework.test import APIClient

from catalog.models import Dataset, Department
from governance.models import ContractVersion
from permissions.context import actor_context
from tests import factories
from tests.mixins import make_user


class CatalogDeletesKeepHistoryTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.admin = make_user("history-admin", is_staff=True, is_superuser=True)
        with actor_context(cls.admin, reason="setup"):
            cls.sales = factories.department(name="Sales", slug="sales-h")
            cls.finance = factories.department(name="Finance", slug="finance-h")
            cls.covered = factories.dataset(owner_department=cls.sales)
            cls.drafted = factories.dataset(owner_department=cls.sales)
            contract = factories.contract(producer=cls.sales, consumers=[cls.finance], datasets=[cls.covered])
            active = ContractVersion.objects.create(contract=contract, version="1.0.0", status="active",
                                                    terms={}, producer=cls.sales)
            active.datasets.set([cls.covered])
            active.consumers.set([cls.finance])
            other = factories.contract(producer=cls.sales, datasets=[cls.drafted])
            draft = ContractVersion.objects.create(contract=other, version="1.0.0", status="draft", terms={},
                                                   producer=cls.sales)
            draft.datasets.set([cls.drafted])

    def api(self) -> APIClient:
        client = APIClient()
        client.force_authenticate(self.admin)
        return client

    def test_the_api_refuses_to_delete_a_covered_dataset_or_a_party(self):
        for url, model, pk in ((f"/api/v1/datasets/{self.covered.pk}/", Dataset, self.covered.pk),
                               (f"/api/v1/departments/{self.finance.pk}/", Department, self.finance.pk)):
            with self.subTest(url=url):
                response = self.api().delete(url)
                self.assertEqual(response.status_code, 409, response.content)
                self.assertIn("proposed or signed contract version", response.json()["detail"])
                self.assertTrue(model._base_manager.filter(pk=pk).exists())

    def test_a_dataset_only_a_draft_covers_can_be_deleted(self):
        self.assertEqual(self.api().delete(f"/api/v1/datasets/{self.drafted.pk}/").status_code, 204)

    def test_the_admin_confirmation_refuses_and_deletes_nothing(self):
        self.client.force_login(self.admin)
        url = f"/admin/catalog/dataset/{self.covered.pk}/delete/"
        page = self.client.get(url)
        self.assertContains(page, "proposed or signed contract version")
        self.client.post(url, {"post": "yes"})
        self.assertTrue(Dataset._base_manager.filter(pk=self.covered.pk).exists())
        self.assertEqual(list(ContractVersion.objects.get(status="active").datasets.all()), [self.covered])
