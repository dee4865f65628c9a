"""Scheduled harvests: a periodic task per System kept in step with its harvest settings (audited,
whoever writes them and however), and one harvest per schedule tick however often beat delivers it."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import tempfile

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from rest_framework.test import APIClient

from catalog.models import Dataset, System
from config.beat import AccordScheduler
from config.celery import app as celery_app
from harvest import schedules, tasks
from harvest.models import HarvestRun, HarvestSettings, HarvestStatus
from permissions.context import system_actor
from permissions.models import AuditRecord
from tests.mixins import make_user

pytestmark = pytest.mark.django_db
#: Beat's scheduler closes "old" connections after sending, which on PostgreSQL drops a test's
#: transaction: tests that go through it commit instead.
THROUGH_BEAT = pytest.mark.django_db(transaction=True)


@pytest.fixture
def system(monkeypatch):
    path = os.path.join(tempfile.mkdtemp(), "src.sqlite3")
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE customers (id integer PRIMARY KEY, email varchar(255) NOT NULL);")
    db.close()
    monkeypatch.setenv("HARVEST_SCHEDULE_DSN", f"sqlite:///{path}")
    with system_actor("tests", reason="test system"):
        return System.objects.create(name="Shop", slug="shop", connection_engine="sqlite",
                                     connection_env="HARVEST_SCHEDULE_DSN")


@pytest.fixture
def council():
    user = make_user("schedule-council", is_staff=True)
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client = APIClient()
    client.force_authenticate(user)
    return user, client


def periodic(system) -> PeriodicTask | None:
    return PeriodicTask.objects.filter(task=schedules.HARVEST_TASK, args=json.dumps([system.pk])).first()


def schedule_records(user):
    return AuditRecord.objects.filter(object_type__startswith="django_celery_beat.", actor_id=user.pk)


def test_settings_written_through_the_api_keep_one_audited_periodic_task(system, council):
    user, client = council
    response = client.post("/api/v1/harvest-settings/", {"system": system.pk, "schedule": "0 3 * * *"},
                           format="json")
    assert response.status_code == 201, response.json()
    task = periodic(system)
    assert (task.name, task.enabled, task.crontab.minute, task.crontab.hour) == ("Accord: harvest shop", True,
                                                                              "0", "3")
    assert schedule_records(user).filter(object_type="django_celery_beat.periodictask", action="create").exists()
    url = f"/api/v1/harvest-settings/{response.json()['id']}/"

    before = schedule_records(user).count()
    assert client.patch(url, {"include": ["main.*"]}, format="json").status_code == 200
    assert schedule_records(user).count() == before, "the schedule did not change: its task is not rewritten"

    assert client.patch(url, {"schedule": "30 4 * * 1"}, format="json").status_code == 200
    task = periodic(system)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week, task.enabled) == ("30", "4", "1", True)
    assert schedule_records(user).filter(object_type="django_celery_beat.periodictask", action="update").exists()

    assert client.patch(url, {"schedule": ""}, format="json").status_code == 200
    assert periodic(system).enabled is False

    assert client.patch(url, {"schedule": "*/15 * * * *"}, format="json").status_code == 200
    assert periodic(system).enabled is True
    assert client.delete(url).status_code == 204
    assert periodic(system) is None
    assert schedule_records(user).filter(object_type="django_celery_beat.periodictask", action="delete").exists()


def test_an_invalid_schedule_is_a_400_naming_the_field_and_schedules_nothing(system, council):
    _, client = council
    for expression in ("every night", "61 * * * *", "* * * *"):
        response = client.post("/api/v1/harvest-settings/", {"system": system.pk, "schedule": expression},
                               format="json")
        assert response.status_code == 400, expression
        assert "schedule" in response.json()["errors"], response.json()
    assert not PeriodicTask.objects.filter(task=schedules.HARVEST_TASK).exists()
    assert not HarvestSettings.objects.exists()


def test_deleting_the_system_deletes_its_schedule(system):
    with system_actor("tests", reason="schedule"):
        HarvestSettings.objects.create(system=system, schedule="0 * * * *")
        assert periodic(system) is not None
        system.delete()
    assert not PeriodicTask.objects.filter(task=schedules.HARVEST_TASK).exists()


def test_a_rolled_back_settings_write_leaves_no_periodic_task(system):
    from django.db import transaction

    with system_actor("tests", reason="schedule"), pytest.raises(RuntimeError):
        with transaction.atomic():
            HarvestSettings.objects.create(system=system, schedule="0 * * * *")
            raise RuntimeError("the request failed after the save")
    assert not PeriodicTask.objects.filter(task=schedules.HARVEST_TASK).exists()


def test_the_tick_is_the_last_time_the_schedule_fired(system):
    with system_actor("tests", reason="schedule"):
        HarvestSettings.objects.create(system=system, schedule="0 6 * * *")
    zone = datetime.UTC if settings.CELERY_TIMEZONE == "UTC" else None
    morning = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=zone or datetime.UTC)
    if zone is None:
        pytest.skip("the test expects CELERY_TIMEZONE = UTC")
    assert schedules.tick_for(system, morning + datetime.timedelta(hours=5, seconds=7)) == morning
    assert schedules.tick_for(system, morning) == morning
    assert schedules.tick_for(system, morning - datetime.timedelta(minutes=1)) == \
        morning - datetime.timedelta(days=1)


def beat_sends(system):
    """What beat does when the System's periodic harvest is due (eager in the test settings)."""
    with system_actor("beat", reason="Celery beat scheduler"):
        scheduler = AccordScheduler(app=celery_app, lazy=True)
        return scheduler.apply_async(ModelEntry(periodic(system), app=celery_app), advance=False)


@THROUGH_BEAT
def test_a_tick_delivered_twice_is_one_harvest_and_the_next_tick_another(system, monkeypatch):
    with system_actor("tests", reason="schedule"):
        HarvestSettings.objects.create(system=system, schedule="0 * * * *")
    first = datetime.datetime(2026, 12, 7, 9, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(tasks, "now", lambda: first + datetime.timedelta(minutes=3, seconds=9))
    assert beat_sends(system).get() == HarvestStatus.SUCCEEDED
    assert beat_sends(system).get() == HarvestStatus.SUCCEEDED  # redelivered (acks_late, a second beat)
    [run] = HarvestRun.objects.filter(system=system)
    assert (run.trigger, run.scheduled_for, run.status) == ("scheduled", first, HarvestStatus.SUCCEEDED)
    assert Dataset.objects.filter(system=system, qualified_name="customers").exists()

    monkeypatch.setattr(tasks, "now", lambda: first + datetime.timedelta(hours=1, minutes=1))
    assert beat_sends(system).get() == HarvestStatus.SUCCEEDED
    assert sorted(HarvestRun.objects.filter(system=system).values_list("scheduled_for", flat=True)) == [
        first, first + datetime.timedelta(hours=1)]


def test_a_scheduled_harvest_of_a_system_without_its_secret_fails_on_its_run(system, monkeypatch):
    monkeypatch.delenv("HARVEST_SCHEDULE_DSN")
    with system_actor("tests", reason="schedule"):
        HarvestSettings.objects.create(system=system, schedule="0 * * * *")
    assert tasks.run_scheduled_harvest.apply(args=[system.pk]).get() == HarvestStatus.FAILED
    [run] = HarvestRun.objects.filter(system=system)
    assert run.errors and "HARVEST_SCHEDULE_DSN" in " ".join(run.errors)
    assert tasks.run_scheduled_harvest.apply(args=[10**9]).get() == "no such system"
