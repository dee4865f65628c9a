from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class HarvestConfig(AppConfig):
    name = "harvest"
    verbose_name = "Harvesting"

    def ready(self) -> None:
        from harvest.models import HarvestSettings

        # Every path that writes harvest settings (admin, API, shell, a cascade from the System)
        # keeps the periodic task in step, in the same transaction.
        post_save.connect(_sync_schedule, sender=HarvestSettings, dispatch_uid="accord_harvest_schedule_save")
        post_delete.connect(_drop_schedule, sender=HarvestSettings, dispatch_uid="accord_harvest_schedule_delete")


def _sync_schedule(sender, instance, raw=False, **kwargs) -> None:
    if raw:  # loaddata: fixtures bring their own periodic tasks
        return
    from harvest.schedules import sync_harvest_schedule

    sync_harvest_schedule(instance)


def _drop_schedule(sender, instance, **kwargs) -> None:
    from harvest.schedules import sync_harvest_schedule

    sync_harvest_schedule(instance, deleted=True)
