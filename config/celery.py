"""The Celery application. Tasks are discovered in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_actor(**kwargs):
    """Beat's own bookkeeping (last run times) happens outside any task: give it a named actor."""
    from permissions import context

    # Entered for the life of the beat process, never left.
    context.system_actor("beat", reason="Celery beat scheduler").__enter__()


beat_init.connect(_beat_actor, weak=False)
