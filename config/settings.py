"""Accord settings. Everything comes from the environment, with safe defaults.

The *embedded default* (no DATABASE_URL) needs no server: a SQLite file and a
filesystem Celery broker under ``var/``, and a secret key generated once and kept
there. Anything else (PostgreSQL, Redis, RabbitMQ) is configured by URL, and then
``SECRET_KEY`` is required.
"""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ACCORD_VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED = not DATABASE_URL


def _embedded_secret_key() -> str:
    """Generate the embedded default's secret key once and keep it under var/."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DATABASE_URL is set (only the embedded "
            "SQLite default generates one under var/)."
        )
    SECRET_KEY = _embedded_secret_key()

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "guardian",
    "axes",
    "permissions.apps.PermissionsConfig",
    "catalog.apps.CatalogConfig",
    "governance.apps.GovernanceConfig",
    "harvest.apps.HarvestConfig",
    "ingest.apps.IngestConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "permissions.middleware.RequestContextMiddleware",
    "config.limits.RequestSizeLimitMiddleware",  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in JSON under /api/
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a sign-in that reached the failure limit into the lockout answer (permissions.throttling).
    "axes.middleware.AxesMiddleware",
]

# The largest request body accepted (an ODCS document of 10,000 properties is about 2 MB; governance.odcs refuses
# documents over 8 MiB whatever this says).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ACCORD_MAX_REQUEST_BYTES", 10 * 1024 * 1024)
# dbt artifacts are larger: a project of 5,000 models writes a manifest of 100 MB and more. The ingestion endpoint
# takes requests up to this size (and each uploaded artifact up to it); config.limits applies it to that path.
ACCORD_DBT_MAX_ARTIFACT_BYTES = env_int("ACCORD_DBT_MAX_ARTIFACT_BYTES", 200 * 1024 * 1024)
ACCORD_REQUEST_LIMITS = {"/api/v1/ingest/dbt/": ("ACCORD_DBT_MAX_ARTIFACT_BYTES", ACCORD_DBT_MAX_ARTIFACT_BYTES)}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # project-wide overrides of third-party templates
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if EMBEDDED:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The demo warehouse (a SQLite file written by load_demo) is the live source the
    # demo contract is checked against; its System names this variable, so every
    # process of the embedded default (web, worker, beat, commands) can reach it.
    os.environ.setdefault("ACCORD_DEMO_WAREHOUSE_DSN", f"sqlite:///{VAR_DIR / 'demo_warehouse.sqlite3'}")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "accord.sqlite3",
            # WAL lets the web server, the worker and beat share the file.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
else:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool("DB_JIT", False):
        # PostgreSQL's JIT compiles expensive-looking plans (the visibility sub-selects
        # look expensive) and spent seconds compiling millisecond queries in our
        # benchmarks: off unless asked for.
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # Refuses a sign-in whose account failed too often from the client's address (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Object permissions (stewards, owners) from django-guardian's direct FK tables.
    "guardian.backends.ObjectPermissionBackend",
    # Department leads act for the objects their department owns.
    "permissions.backends.DepartmentLeadBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user; the API refuses anonymous callers
GUARDIAN_RAISE_403 = False

# The trust layer knows domain models only through these names (permissions/ imports
# no domain app).
ACCORD_DEPARTMENT_MODEL = "catalog.Department"
ACCORD_TAG_MODEL = "catalog.Tag"
ACCORD_CLASSIFICATION_LEVELS = ["public", "internal", "confidential", "pii", "restricted"]
ACCORD_COUNCIL_GROUP = env_str("ACCORD_COUNCIL_GROUP", "DataOps council")
# A write to an audited model with no actor: an error (the default), or an "anonymous" record when off.
ACCORD_AUDIT_REQUIRE_ACTOR = env_bool("ACCORD_AUDIT_REQUIRE_ACTOR", True)
# One actor's repeated denials and restricted reads of one object are chained once per window of this
# many seconds and counted in between (docs/audit.md); 0 chains every one.
ACCORD_AUDIT_REPEAT_WINDOW_SECONDS = env_int("ACCORD_AUDIT_REPEAT_WINDOW_SECONDS", 3600)
# Signed audit checkpoints (docs/audit.md): the key is never in the database nor the repository.
ACCORD_AUDIT_SIGNING_ALGORITHM = env_str("ACCORD_AUDIT_SIGNING_ALGORITHM", "ed25519")  # or hmac-sha256
ACCORD_AUDIT_SIGNING_KEY = env_str("ACCORD_AUDIT_SIGNING_KEY")
ACCORD_AUDIT_SIGNING_KEY_FILE = env_str("ACCORD_AUDIT_SIGNING_KEY_FILE")
# Where else signatures are checked from: an Ed25519 public key (PEM), for verifiers without the private key.
ACCORD_AUDIT_VERIFY_KEY_FILE = env_str("ACCORD_AUDIT_VERIFY_KEY_FILE")
# Signed checkpoints are appended to this file (JSON Lines); keep it on storage the database's admins cannot edit.
ACCORD_AUDIT_CHECKPOINT_FILE = env_str("ACCORD_AUDIT_CHECKPOINT_FILE")
# Failed logins / rejected tokens per client address within the window before 429.
ACCORD_AUTH_FAILURE_LIMIT = env_int("ACCORD_AUTH_FAILURE_LIMIT", 10)
ACCORD_AUTH_FAILURE_WINDOW = env_int("ACCORD_AUTH_FAILURE_WINDOW", 300)
# Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated); none by default.
ACCORD_TRUSTED_PROXIES = env_networks("ACCORD_TRUSTED_PROXIES")
# django-axes counts failed sign-ins and rejected tokens per (account or token prefix, client address).
AXES_FAILURE_LIMIT = ACCORD_AUTH_FAILURE_LIMIT
AXES_COOLOFF_TIME = datetime.timedelta(seconds=ACCORD_AUTH_FAILURE_WINDOW)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "permissions.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "permissions.throttling.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log
AXES_ENABLE_ADMIN = False  # lockouts are listed and lifted with manage.py axes_list_attempts / axes_reset_*
AXES_VERBOSE = False
ACCORD_TOKEN_DEFAULT_DAYS = env_int("ACCORD_TOKEN_DEFAULT_DAYS", 90)
# No token lives longer than this after its creation (API, admin and authentication alike).
ACCORD_TOKEN_MAX_LIFETIME_DAYS = env_int("ACCORD_TOKEN_MAX_LIFETIME_DAYS", 365)
# Compliance checks: statement timeout on live sources, retries while a source is down,
# acknowledgement SLA of incidents, and how long webhook deliveries are retried.
ACCORD_CHECK_STATEMENT_TIMEOUT_MS = env_int("ACCORD_CHECK_STATEMENT_TIMEOUT_MS", 60_000)
ACCORD_CHECK_MAX_RETRIES = env_int("ACCORD_CHECK_MAX_RETRIES", 5)
ACCORD_CHECK_RETRY_BASE_SECONDS = env_int("ACCORD_CHECK_RETRY_BASE_SECONDS", 30)
ACCORD_CHECK_TIME_LIMIT_SECONDS = env_int("ACCORD_CHECK_TIME_LIMIT_SECONDS", 900)
ACCORD_INCIDENT_ACK_HOURS = env_int("ACCORD_INCIDENT_ACK_HOURS", 4)
# The scorecard (docs/scorecard.md): snapshots kept this many days (at least a year), a draft state definition
# untouched this long is stale, a harvest or check this recent is fresh, these classification levels call for a
# deny rule.
ACCORD_SCORECARD_RETENTION_DAYS = max(366, env_int("ACCORD_SCORECARD_RETENTION_DAYS", 400))
ACCORD_SCORECARD_STALE_DRAFT_DAYS = env_int("ACCORD_SCORECARD_STALE_DRAFT_DAYS", 30)
ACCORD_SCORECARD_FRESH_HOURS = env_int("ACCORD_SCORECARD_FRESH_HOURS", 48)
ACCORD_SCORECARD_RULE_LEVELS = env_list("ACCORD_SCORECARD_RULE_LEVELS", ["pii", "restricted"])
ACCORD_WEBHOOK_RETRY_HOURS = env_int("ACCORD_WEBHOOK_RETRY_HOURS", 24)
ACCORD_WEBHOOK_TIMEOUT_SECONDS = env_int("ACCORD_WEBHOOK_TIMEOUT_SECONDS", 10)
# Webhook URLs may only reach public addresses (governance/outbound.py) unless their network is listed here,
# e.g. a receiver inside the company network; cloud metadata addresses are refused whatever is listed.
ACCORD_WEBHOOK_ALLOWED_NETWORKS = env_networks("ACCORD_WEBHOOK_ALLOWED_NETWORKS")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first, so an anonymous API caller gets 401 with WWW-Authenticate.
        "permissions.api.authentication.BearerTokenAuthentication",
        "permissions.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["permissions.api.access.CatalogAccess"],
    "DEFAULT_FILTER_BACKENDS": [
        "permissions.filtersets.AccordFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "permissions.api.pagination.AccordCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "permissions.api.schema.AccordAutoSchema",
    "EXCEPTION_HANDLER": "permissions.api.errors.exception_handler",
    # JSON and forms, refusing deep nesting and NUL characters with a 400 (permissions.api.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "permissions.api.parsers.JSONParser",
        "permissions.api.parsers.FormParser",
        "permissions.api.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Accord API",
    "DESCRIPTION": (
        "Accord is a data governance catalog and metadata registry: datasets, fields, "
        "their owners, systems, lineage and tags. Every endpoint needs an authenticated "
        "caller (session or `Authorization: Bearer <token>`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Request bodies are documented as JSON; forms are the browsable API's.
    "PARSER_WHITELIST": ["permissions.api.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "permissions.api.schema.add_error_responses",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "DatasetKindEnum": "catalog.choices.DatasetKind",
        "SystemKindEnum": "catalog.choices.SystemKind",
        "ClassificationEnum": "catalog.choices.Classification",
        "LifecycleEnum": "catalog.choices.Lifecycle",
        "DepartmentRoleEnum": "catalog.choices.DepartmentRole",
        "ConnectionEngineEnum": "catalog.choices.ConnectionEngine",
        "EventTypeEnum": "governance.models.compliance.EventType",
        "DesignationStatusEnum": "governance.choices.DesignationStatus",
        "VersionStatusEnum": "governance.choices.VersionStatus",
        "ContractStatusEnum": "governance.choices.ContractStatus",
        "IncidentStatusEnum": "governance.models.compliance.IncidentStatus",
        "DeliveryStatusEnum": "governance.models.compliance.DeliveryStatus",
        "RunStatusEnum": "governance.models.compliance.RunStatus",
        "RunTriggerEnum": "governance.models.compliance.RunTrigger",
        "HarvestTriggerEnum": "harvest.models.HarvestTrigger",
        "HarvestStatusEnum": "harvest.models.HarvestStatus",
    },
}

# Celery: the embedded default is kombu's filesystem transport under var/, which
# needs no server; production sets CELERY_BROKER_URL (redis://, amqp://).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis (and SQS) redeliver a task whose worker died before acknowledging it once
    # this many seconds have passed since it was delivered; it must exceed the longest
    # task plus its countdown/ETA, or a running task is delivered twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("ACCORD_BROKER_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "config.beat:AccordScheduler"  # django-celery-beat's, as the system actor "beat"
CELERY_TIMEZONE = TIME_ZONE

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every request's full URL at INFO; a webhook URL can be a credential (Slack's are).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"}},
}

# Search: the largest page a search request may ask for.
ACCORD_SEARCH_MAX_LIMIT = 100
# Search: up to this many matches of one type, counts, facets and ranking are exact;
# beyond it they are computed over a bounded candidate set of this size (name matches
# first) and reported as lower bounds ("100+"). A search's work grows with this bound,
# not with the catalog (docs/api.md, docs/benchmarks.md). The default equals the largest
# page, so one type's candidates can still fill any page.
ACCORD_SEARCH_EXACT_LIMIT = env_int("ACCORD_SEARCH_EXACT_LIMIT", 100)
# The lineage map stops expanding once it holds this many datasets (catalog.lineage_map).
ACCORD_LINEAGE_MAP_MAX_NODES = env_int("ACCORD_LINEAGE_MAP_MAX_NODES", 1000)
