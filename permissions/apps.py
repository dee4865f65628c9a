from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    name = "permissions"
    verbose_name = "Trust layer"

    def ready(self) -> None:
        from permissions import auth_events, signals
        from permissions.api import schema  # noqa: F401 - registers the OpenAPI auth schemes

        signals.connect()
        auth_events.connect()
