from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete


class HarvestConfig(AppConfig):
    name = "harvest"
    verbose_name = "Harvesting"

    def ready(self) -> None:
        from harvest.models import HarvestSettings

        # Every path that writes harvest settings (admin, API, shell, a cascade from the System)
        # keeps the periodic task in step, in the same transaction.
        post_save.connect(_sync_schedule, sender=HarvestSettings, dispatch_uid="accord_harvest_schedule_save")
        post_delete.connect(_drop_schedule, sender=HarvestSettings, dispatch_uid="accord_harvest_schedule_delete")
        # A field's schema changes lose it as their container when it goes (SET_NULL): if a deny rule hid
        # it from somebody, they become the council's only (SchemaChangeQuerySet), however it is deleted.
        pre_delete.connect(_field_going, sender="catalog.Field", dispatch_uid="accord_schema_changes_of_hidden_field")


def _sync_schedule(sender, instance, raw=False, **kwargs) -> None:
    if raw:  # loaddata: fixtures bring their own periodic tasks
        return
    from harvest.schedules import sync_harvest_schedule

    sync_harvest_schedule(instance)


def _drop_schedule(sender, instance, **kwargs) -> None:
    from harvest.schedules import sync_harvest_schedule

    sync_harvest_schedule(instance, deleted=True)


def _field_going(sender, instance, **kwargs) -> None:
    from harvest.models import SchemaChange
    from permissions.access import restricted_flag

    flag = restricted_flag(sender)
    if flag is not None and sender._base_manager.filter(pk=instance.pk).filter(flag).exists():
        SchemaChange.objects.filter(field_id=instance.pk).update(field_restricted=True)
