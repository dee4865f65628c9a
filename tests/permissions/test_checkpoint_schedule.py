"""Beat signs audit checkpoints on its own: the hourly entry exists, and the task it names signs and
publishes the head under a named system actor (never "anonymous")."""

from __future__ import annotations

from django.conf import settings
from django.test import TestCase, override_settings
from django_celery_beat.models import PeriodicTask

from config.celery import app
from governance.services import schedules
from permissions.context import Actor, system_actor
from permissions.models import AuditCheckpoint, AuditRecord
from tests import factories
from tests.permissions.test_audit_checkpoints import key_file


class CheckpointScheduleTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        app.loader.import_default_modules()  # what a worker does when it starts: find every app's tasks

    def test_beat_runs_the_checkpoint_task_every_hour(self):
        PeriodicTask.objects.filter(name="Accord: audit checkpoint").delete()
        schedules.ensure_housekeeping_tasks(actor=Actor(system="migrate"))
        entry = PeriodicTask.objects.get(name="Accord: audit checkpoint")
        self.assertEqual((entry.task, entry.interval.every, entry.interval.period),
                         ("permissions.tasks.audit_checkpoint", 3600, "seconds"))
        self.assertIn(entry.task, app.tasks)

    def test_the_task_signs_under_a_named_system_actor(self):
        import pathlib
        import tempfile

        with tempfile.TemporaryDirectory() as folder, \
                override_settings(ACCORD_AUDIT_SIGNING_KEY_FILE=key_file(pathlib.Path(folder)),
                                  ACCORD_AUDIT_CHECKPOINT_FILE=str(pathlib.Path(folder) / "cp.jsonl")):
            with system_actor("tests", reason="setup"):
                factories.tag()
            before = AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first()
            result = app.tasks["permissions.tasks.audit_checkpoint"].apply().get()
            self.assertTrue(AuditCheckpoint.objects.filter(kind="signed").exists(), result)
            names = set(AuditRecord.objects.filter(seq__gt=before).values_list("actor_name", flat=True))
            self.assertLessEqual(names, {"system:audit-checkpoint"}, result)  # never "anonymous"
            self.assertIn("signed checkpoint", result)
            self.assertEqual(len(open(settings.ACCORD_AUDIT_CHECKPOINT_FILE).read().splitlines()), 1)
