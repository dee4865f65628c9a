"""Test settings: the normal settings with faster hashing and eager tasks."""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
CELERY_TASK_ALWAYS_EAGER = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
ACCORD_AUDIT_REQUIRE_ACTOR = True

# Test backends that can flush the append-only audit table between transactional tests.
_ENGINES = {
    "django.db.backends.postgresql": "config.testdb.postgresql",
    "django.db.backends.sqlite3": "config.testdb.sqlite3",
}
DATABASES["default"]["ENGINE"] = _ENGINES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])  # noqa: F405
