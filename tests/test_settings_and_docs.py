"""Settings come from the environment with safe defaults; the API docs are public and CDN-free."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_required

ROOT = Path(__file__).resolve().parent.parent


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG")}
    code = f"import config.settings as s; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 12
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_bool("X_UNSET", False) is False
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="X_MISSING"):
        env_required("X_MISSING")


def test_embedded_default_is_sqlite_with_generated_key_and_debug_off(tmp_path):
    result = _settings_in_subprocess(
        {"ACCORD_VAR_DIR": str(tmp_path)},
        "s.DATABASES['default']['ENGINE'], s.DEBUG, s.CELERY_BROKER_URL, len(s.SECRET_KEY) > 40",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3 False filesystem:// True"
    key_file = tmp_path / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    again = _settings_in_subprocess({"ACCORD_VAR_DIR": str(tmp_path)}, "s.SECRET_KEY")
    assert again.stdout.strip() == key_file.read_text().strip()


def test_secret_key_required_outside_the_embedded_default(tmp_path):
    result = _settings_in_subprocess(
        {"ACCORD_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:1/db"}, "s.SECRET_KEY"
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_database_url_selects_postgresql(tmp_path):
    result = _settings_in_subprocess(
        {"ACCORD_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:5433/accord", "SECRET_KEY": "k",
         "DEBUG": "true", "ALLOWED_HOSTS": "accord.example.com"},
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['PORT'], s.DEBUG, s.ALLOWED_HOSTS",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql 5433 True ['accord.example.com']"


@pytest.mark.django_db
def test_schema_and_docs_are_public_and_served_locally(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/datasets/register/" in schema.json()["paths"]
    for url in ("/api/v1/docs/", "/api/v1/redoc/"):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
        assert "googleapis" not in html and "gstatic" not in html


@pytest.mark.django_db
def test_api_refuses_anonymous_callers_with_401(client):
    response = client.get("/api/v1/datasets/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_bearer_token_authenticates(client, django_user_model):
    from permissions.services import create_token

    user = django_user_model.objects.create_user("tool")
    _, raw = create_token(user=user, name="ci", actor=user)
    assert client.get("/api/v1/datasets/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert client.get("/api/v1/datasets/", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401


@pytest.mark.django_db
def test_timestamps_read_from_postgresql_are_utc():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (scripts/pg.sh)")

    with connection.cursor() as cursor:
        cursor.execute("SELECT timestamptz '2024-05-01 12:00:00.123456+02', NULL::timestamptz")
        value, missing = cursor.fetchone()
    assert value == datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    assert value.utcoffset() == datetime.timedelta(0) and missing is None
