"""The council works with harvests in the admin without hand-made permissions; readers browse them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.test import TestCase

from tests.mixins import make_user

PAGES = ("/admin/harvest/harvestsettings/", "/admin/harvest/harvestrun/", "/admin/harvest/schemachange/",
         "/admin/harvest/fieldrelationship/")


class HarvestAdminRolesTests(TestCase):
    def test_the_council_opens_every_harvest_page_and_may_add_settings(self):
        council = make_user("harvest-council", is_staff=True)
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        self.client.force_login(council)
        for page in PAGES:
            with self.subTest(page=page):
                self.assertEqual(self.client.get(page).status_code, 200)
        self.assertEqual(self.client.get("/admin/harvest/harvestsettings/add/").status_code, 200)

    def test_a_reader_browses_but_adds_nothing(self):
        reader = make_user("harvest-reader", is_staff=True)
        reader.groups.add(Group.objects.get(name="Readers"))
        self.client.force_login(reader)
        self.assertEqual(self.client.get("/admin/harvest/harvestrun/").status_code, 200)
        self.assertEqual(self.client.get("/admin/harvest/harvestsettings/add/").status_code, 403)
