"""Review (R17): scheduled harvests when Systems are renamed, re-slugged or deleted, and settings
written with a bad cron expression."""

from __future__ import annotations

import datetime
import json

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask

from catalog.models import System
from harvest import schedules
from harvest.models import HarvestSettings
from permissions.context import system_actor
from tests.mixins import make_user

pytestmark = pytest.mark.django_db


def periodic(system) -> PeriodicTask | None:
    return PeriodicTask.objects.filter(task=schedules.HARVEST_TASK, args=json.dumps([system.pk])).first()


def test_a_new_system_may_take_the_slug_a_scheduled_one_gave_up():
    with system_actor("tests", reason="review"):
        first = System.objects.create(name="Shop", slug="shop")
        HarvestSettings.objects.create(system=first, schedule="0 3 * * *")
        first.slug = "shop-old"
        first.save()
        second = System.objects.create(name="Shop 2", slug="shop")
        HarvestSettings.objects.create(system=second, schedule="0 4 * * *")
    assert periodic(first) is not None and periodic(second) is not None
    assert periodic(first).pk != periodic(second).pk
    assert periodic(second).crontab.hour == "4"
    at = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    assert schedules.tick_for(first, at).astimezone(datetime.UTC).hour == 3  # the renamed task still ticks as set


def test_deleting_a_scheduled_system_deletes_its_periodic_task():
    with system_actor("tests", reason="review"):
        system = System.objects.create(name="Shop", slug="shop")
        HarvestSettings.objects.create(system=system, schedule="0 3 * * *")
        system_id = system.pk
        system.delete()
    assert not PeriodicTask.objects.filter(task=schedules.HARVEST_TASK, args=json.dumps([system_id])).exists()


def test_the_admin_form_refuses_a_bad_cron_and_schedules_nothing(client):
    with system_actor("tests", reason="review"):
        system = System.objects.create(name="Shop", slug="shop")
    user = make_user("review-council", is_staff=True, is_superuser=True)
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client.force_login(user)
    from django.urls import reverse

    response = client.post(reverse("admin:harvest_harvestsettings_add"),
                           {"system": system.pk, "schedule": "61 * * * *", "include": "[]", "exclude": "[]"})
    assert response.status_code == 200  # the form again, with its error
    assert not HarvestSettings.objects.filter(system=system).exists()
    assert periodic(system) is None


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 * * 7"])
def test_a_cron_day_that_never_comes_is_a_form_error_not_a_crash(client, expression):
    """django-celery-beat's validator lets these through; celery's crontab (what beat runs) refuses them."""
    from django.urls import reverse

    with system_actor("tests", reason="review"):
        system = System.objects.create(name="Shop", slug="shop")
    user = make_user("review-council", is_staff=True, is_superuser=True)
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client.force_login(user)
    response = client.post(reverse("admin:harvest_harvestsettings_add"),
                           {"system": system.pk, "schedule": expression, "include": "[]", "exclude": "[]"})
    assert response.status_code == 200
    assert "schedule" in response.context["adminform"].form.errors
    assert not HarvestSettings.objects.filter(system=system).exists()
    assert periodic(system) is None


def test_the_drift_of_a_dropped_hidden_field_stays_hidden(client):
    from django.contrib.contenttypes.models import ContentType
    from django.urls import reverse
    from django.utils import timezone

    from harvest.models import ChangeKind, HarvestRun, SchemaChange
    from permissions.models import AccessRule
    from tests import factories

    dataset = factories.dataset(qualified_name="crm.leads")
    secret = factories.field(dataset=dataset, name="salary_band", data_type="text")
    run = HarvestRun.objects.create(system=dataset.system, trigger="scheduled", scheduled_for=timezone.now(),
                                    status="succeeded", finished_at=timezone.now())
    SchemaChange.objects.create(run=run, dataset=dataset, field=secret, field_name="salary_band",
                                kind=ChangeKind.FIELD_ADDED, after={"data_type": "text", "nullable": True})
    reader = make_user("review-drift-reader", is_staff=True)
    reader.groups.add(Group.objects.get(name="Readers"))
    AccessRule.objects.create(subject_kind="user", subject_user=reader, target_kind="object",
                              target_type=ContentType.objects.get_for_model(secret), target_id=secret.pk,
                              reason="review: pay bands are HR's")
    with system_actor("tests", reason="review: the column is dropped in the source"):
        secret.delete()
    client.force_login(reader)
    html = client.get(reverse("admin:catalog_dataset_change", args=[dataset.pk])).content.decode()
    assert "salary_band" not in html
