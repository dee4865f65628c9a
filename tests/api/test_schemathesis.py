"""Schemathesis over every operation of the served OpenAPI schema."""

from __future__ import annotations

import collections
import contextlib
import os
import warnings

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.core.failures import Failure
from schemathesis.generation.stateful.state_machine import StepOutput
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from tests.api.world import build_world

CASES = collections.Counter()

# The tests send each user's token; generated credentials would only be refused.
CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})

SETTINGS = hypothesis_settings(max_examples=int(os.environ.get("ST_EXAMPLES", "30")), derandomize=True, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))


def explained_rejection(ctx, response, case):
    """positive_data_acceptance, except that a schema-valid request may be refused with a 400 that
    names what was wrong: the schema cannot say which ids exist, which names are taken or which
    workflow step an object's state allows."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        body = response.json() if response.status_code == 400 else None
        if isinstance(body, dict) and body.get("detail"):
            return None
        raise


@contextlib.contextmanager
def _connections_kept():
    """Requests sent to the WSGI application close the database connection when they finish
    (``close_old_connections``), which would end the test's transaction; Django's test client
    switches that off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# The schema as the server serves it (generating it reads no table; importing this module from within
# another test must not close that test's connection either).
with _connections_kept():
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application, config=CONFIG)


@pytest.fixture(autouse=True)
def _keep_connections():
    with _connections_kept():
        yield


@pytest.fixture
def world(db, settings):
    # ignored_auth sends invalid credentials after every success; past the failure limit they
    # are answered 429 (the throttling has its own tests, tests/permissions/test_tokens.py).
    settings.AXES_FAILURE_LIMIT = 10**9
    return build_world()


def call(case, token):
    return case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                  excluded_checks=[positive_data_acceptance], additional_checks=[explained_rejection])


@schema.parametrize()
@SETTINGS
def test_reader(case, world):
    CASES["reader"] += 1
    call(case, world.reader_token)


@schema.parametrize()
@SETTINGS
def test_council(case, world):
    CASES["council"] += 1
    call(case, world.council_token)


@pytest.mark.parametrize("who", ["reader", "council"])
def test_stateful(who, world):
    """The stateful phase: sequences of calls linked by the ids one call returns and the next takes."""
    token = world.reader_token if who == "reader" else world.council_token

    class Workflow(schema.as_state_machine()):
        # Each sequence starts from the same world: what one wrote is rolled back before the next
        # (hypothesis replays sequences, and a replay must meet the data the first run met).
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def step(self, input):
            CASES[who] += 1
            response = call(input.case, token)
            return StepOutput(response, input.case)

    Workflow.run(settings=hypothesis_settings(max_examples=int(os.environ.get("ST_STATEFUL", "20")),
                                              derandomize=True, database=None, deadline=None,
                                              stateful_step_count=5, suppress_health_check=list(HealthCheck)))


def test_enough_cases():
    """The runs above made at least ST_MIN_CASES requests per token (5,000 in make test)."""
    if not CASES:
        pytest.skip("run with the schemathesis tests above")
    wanted = int(os.environ.get("ST_MIN_CASES", "0"))
    assert min(CASES["reader"], CASES["council"]) >= wanted, dict(CASES)
    warnings.warn(f"schemathesis made {dict(CASES)} requests (at least {wanted} wanted per token)", stacklevel=1)
