from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    name = "permissions"
    verbose_name = "Trust layer"

    def ready(self) -> None:
        from permissions import auth_events, lookups, signals
        from permissions.api import schema  # noqa: F401 - registers the OpenAPI auth schemes

        lookups.register()
        signals.connect()
        auth_events.connect()

        from django.db.models.signals import post_migrate

        from permissions import council
        from permissions.council import ensure_council_group

        # After every app (its permissions exist by then), so the group ends up complete.
        post_migrate.connect(ensure_council_group, dispatch_uid="accord_council_group")
        council.connect()  # leads and stewards follow their department memberships
