"""A run's warnings and errors name the source's tables as the database reported them, hidden ones
included: only who may change the System reads them; anyone else is told how many there are."""

from __future__ import annotations

from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from harvest.models import HarvestRun
from permissions.context import actor_context
from tests import factories
from tests.mixins import make_user

WARNING = ("The role may not read 1 object(s) in 'hr' (harvested from the catalog; data checks on them will fail): "
           "hr.salaries")


class RunMessagesTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.owner_department = factories.department()
        cls.editor = make_user("run-editor", is_staff=True, perms=("catalog.change_system", "harvest.view_harvestrun"))
        cls.reader = make_user("run-reader", is_staff=True, perms=("harvest.view_harvestrun",))
        with actor_context(cls.editor, reason="setup"):
            cls.system = factories.system()
        cls.harvest_run = HarvestRun.objects.create(system=cls.system, trigger="command", scheduled_for=timezone.now(),
                                            status="completed", warnings=[WARNING], errors=["boom on hr.salaries"])

    def api(self, user) -> dict:
        client = APIClient()
        client.force_authenticate(user)
        return client.get(f"/api/v1/harvest-runs/{self.harvest_run.pk}/").json()

    def test_the_api_shows_messages_to_editors_only(self):
        self.assertEqual(self.api(self.editor)["warnings"], [WARNING])
        shown = self.api(self.reader)
        self.assertEqual(shown["warnings"], ["1 warning, shown to those who may change the system"])
        self.assertEqual(shown["errors"], ["1 error, shown to those who may change the system"])
        self.assertNotIn("salaries", str(shown))

    def test_the_admin_page_does_the_same(self):
        url = f"/admin/harvest/harvestrun/{self.harvest_run.pk}/change/"
        self.client.force_login(self.reader)
        page = self.client.get(url)
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, "salaries")
        self.assertContains(page, "1 warning, shown to those who may change the system")
        self.client.force_login(self.editor)
        self.assertContains(self.client.get(url), "hr.salaries")
