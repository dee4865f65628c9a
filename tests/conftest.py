import os

import pytest
from django.db import connection

from permissions import context

# Test code that writes directly through the ORM (fixtures, factories) acts as this
# system actor. Requests still run under their own user (the middleware replaces
# the context), and ACCORD_AUDIT_REQUIRE_ACTOR makes any write outside an actor
# context an error: tests/permissions/test_audit.py clears it to prove that.
_TEST_ACTOR = context.system_actor("tests", reason="test fixtures")
_TEST_ACTOR.__enter__()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "")
    return f"database: {'PostgreSQL (' + url.split('@')[-1] + ')' if url else 'SQLite (embedded default)'}"
