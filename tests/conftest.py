import ipaddress
import os
import socket

import pytest
from django.db import connection

from permissions import context

# Test code that writes directly through the ORM (fixtures, factories) acts as this
# system actor. Requests still run under their own user (the middleware replaces
# the context), and ACCORD_AUDIT_REQUIRE_ACTOR makes any write outside an actor
# context an error: tests/permissions/test_audit.py clears it to prove that.
_TEST_ACTOR = context.system_actor("tests", reason="test fixtures")
_TEST_ACTOR.__enter__()


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    """No test asks a DNS server: webhook hosts (governance.outbound.resolve) resolve only when written
    as addresses; a test that needs a name answers it with its own resolver."""
    from governance import outbound

    def numeric_only(host: str, port: int):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror as exc:
            raise outbound.Unresolvable(f"{host} could not be resolved (the tests use no DNS)") from exc
        return [ipaddress.ip_address(info[4][0]) for info in infos]

    monkeypatch.setattr(outbound, "resolve", numeric_only)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "")
    return f"database: {'PostgreSQL (' + url.split('@')[-1] + ')' if url else 'SQLite (embedded default)'}"
