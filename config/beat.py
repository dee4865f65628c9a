"""Celery beat's scheduler: django-celery-beat's database scheduler, acting as the system.

The scheduler writes to the database from the moment it is made (its default entries, then
last run times), before beat's ``beat_init`` signal is sent, and outside any task. So the
process's audit context is entered when the scheduler is made, as the named system actor
``beat``, for the life of the beat process (beat runs its scheduler in one thread).
"""

from django_celery_beat.schedulers import DatabaseScheduler

from permissions import context


class AccordScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        if context.current() is None:
            context.become_system_actor("beat", reason="Celery beat scheduler")
        super().__init__(*args, **kwargs)
