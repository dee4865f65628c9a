"""Scheduled checks and workflow events that neither duplicate nor vanish.

* A beat tick is one run: the task is sent exactly as beat sends it (django-celery-beat's entry of the contract's
  periodic task, applied by Accord's beat scheduler; the test settings run it eagerly, through Celery's real retry
  path), with the source down and the clock moving on between retries: one run, which ends as an error.
* Re-sending a delivery (API and admin) is audited with who asked.
* An invalid cron schedule is refused with a 400 naming the field (API, ODCS import, admin).
* Workflow events are written in the transaction of their change: when the transaction rolls back, both go.
"""

from __future__ import annotations

import datetime
import json
import time
import zoneinfo

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from rest_framework.test import APIClient

from config.beat import AccordScheduler
from config.celery import app as celery_app
from governance import tasks
from governance.models import ComplianceRun, Delivery, NotificationSubscription
from governance.services import compliance, notifications, schedules
from governance.terms import cron_problems
from permissions import audit
from permissions.context import Actor, system_actor
from permissions.models import AuditRecord
from tests import factories
from tests.governance import test_reliability as real
from tests.governance.compliance_fixtures import TERMS, build_contract
from tests.governance.test_reliability import redis_url, source_table, workers  # noqa: F401 (fixtures)
from tests.mixins import make_user

pytestmark = pytest.mark.django_db
CHECKS = Actor(system="tests")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return build_contract(tmp_path, monkeypatch)


class Clock:
    """``now`` for the task: each reading is ``step`` later than the one before (a retry's countdown passing)."""

    def __init__(self, start: datetime.datetime, step: datetime.timedelta):
        self.at, self.step = start, step

    def __call__(self) -> datetime.datetime:
        self.at += self.step
        return self.at


#: The beat scheduler syncs its entries after sending, closing "old" connections first, which on PostgreSQL
#: drops the connection of a test running inside a transaction: the tests that go through it commit instead.
THROUGH_BEAT = pytest.mark.django_db(transaction=True)


def beat_sends(contract):
    """What beat does when the contract's periodic task is due: the scheduler applies the task of its entry
    (the periodic task's task name, args, kwargs and options). Eager in the test settings."""
    periodic = PeriodicTask.objects.get(name=schedules.task_name(contract))
    with system_actor("beat", reason="Celery beat scheduler"):
        scheduler = AccordScheduler(app=celery_app, lazy=True)
        return scheduler.apply_async(ModelEntry(periodic, app=celery_app), advance=False)


def source_down(setup, monkeypatch, tmp_path):
    monkeypatch.setenv("ACCORD_TEST_LEADS_DSN", f"sqlite:///{tmp_path / 'down.sqlite3'}")


def every_minute(contract):
    """The council edits the periodic task in the admin to run every minute."""
    periodic = PeriodicTask.objects.get(name=schedules.task_name(contract))
    with system_actor("tests", reason="The schedule is edited"):
        periodic.crontab, _ = CrontabSchedule.objects.get_or_create(
            minute="*", hour="*", day_of_month="*", month_of_year="*", day_of_week="*",
            timezone=settings.CELERY_TIMEZONE)
        periodic.save()


# --- one tick, one run -------------------------------------------------------------------------------------------


def test_the_periodic_task_is_what_beat_sends(setup):
    periodic = PeriodicTask.objects.get(name=schedules.task_name(setup["contract"]))
    assert periodic.task == "governance.tasks.run_scheduled_contract_checks"
    assert (json.loads(periodic.args), json.loads(periodic.kwargs or "{}")) == ([setup["contract"].pk], {})


@THROUGH_BEAT
@pytest.mark.parametrize("schedule", ["daily at 06:00", "every minute"])
def test_a_tick_with_the_source_down_is_one_run_that_ends_as_an_error(setup, monkeypatch, tmp_path, schedule):
    if schedule == "every minute":
        every_minute(setup["contract"])  # a retry minutes later would fall in another tick if it recomputed it
    source_down(setup, monkeypatch, tmp_path)
    monkeypatch.setattr(tasks, "now", Clock(timezone.now(), datetime.timedelta(minutes=2)))

    result = beat_sends(setup["contract"])

    assert result.get() == "error"
    runs = ComplianceRun.objects.filter(trigger="scheduled")
    assert [run.status for run in runs] == ["completed"], "one run for the tick, not one per retry"
    [run] = runs
    assert (run.status, run.outcome) == ("completed", "error")
    assert run.attempts == settings.ACCORD_CHECK_MAX_RETRIES + 1  # the first try and every retry, on this run
    assert [(r.key, r.status) for r in run.results.all()] == [("source:unavailable", "error")]
    assert not ComplianceRun.objects.filter(status="retrying").exists()
    setup["contract"].refresh_from_db()
    assert setup["contract"].compliance_status == "error"


@THROUGH_BEAT
def test_a_redelivered_tick_reuses_its_run_and_the_next_tick_makes_another(setup, monkeypatch):
    every_minute(setup["contract"])
    start = timezone.now().replace(second=5, microsecond=0)
    clock = Clock(start, datetime.timedelta(seconds=10))
    monkeypatch.setattr(tasks, "now", clock)

    assert beat_sends(setup["contract"]).get() == "fail"
    assert beat_sends(setup["contract"]).get() == "fail"  # the same tick delivered again (acks_late, a crash)
    [run] = ComplianceRun.objects.filter(trigger="scheduled")
    assert run.scheduled_for == start.replace(second=0)
    assert run.attempts == 1  # the redelivery found the completed run and left it alone

    clock.at = start + datetime.timedelta(minutes=1)
    assert beat_sends(setup["contract"]).get() == "fail"
    assert sorted(ComplianceRun.objects.filter(trigger="scheduled").values_list("scheduled_for", flat=True)) == [
        start.replace(second=0), start.replace(second=0) + datetime.timedelta(minutes=1)]


def test_the_tick_is_the_last_time_the_schedule_fired(setup):
    contract = setup["contract"]  # "0 6 * * *" in the beat timezone
    zone = zoneinfo.ZoneInfo(settings.CELERY_TIMEZONE)
    morning = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=zone)
    assert schedules.tick_for(contract, morning + datetime.timedelta(hours=5, seconds=7)) == morning
    assert schedules.tick_for(contract, morning) == morning
    assert schedules.tick_for(contract, morning - datetime.timedelta(minutes=1)) == morning - datetime.timedelta(
        days=1)


def test_a_retry_after_a_new_version_became_active_finishes_the_run_of_its_tick(setup):
    tick = timezone.now().replace(second=0, microsecond=0)
    run, _ = compliance.get_or_create_run(setup["version"], scheduled_for=tick, trigger="scheduled", actor=CHECKS)
    with system_actor("tests", reason="A retry is pending"):
        ComplianceRun.objects.filter(pk=run.pk).update(status="retrying")
    other = factories.contract(slug="other", name="Other", producer=setup["marketing"], consumers=[setup["sales"]])
    assert tasks.run_scheduled_contract_checks.apply(args=[other.pk], kwargs={"tick": tick.isoformat()}).get() == (
        "no active version")
    assert tasks.run_scheduled_contract_checks.apply(args=[setup["contract"].pk],
                                                     kwargs={"tick": tick.isoformat()}).get() == "fail"
    run.refresh_from_db()
    assert run.status == "completed" and ComplianceRun.objects.count() == 1


# --- cron schedules are refused at write time --------------------------------------------------------------------


@pytest.mark.parametrize("expression, field", [
    ("99 99 * * *", "minute (field 1)"),
    ("*/0 * * * *", "minute (field 1)"),
    ("0 6 * *", "4 fields, not 5"),
    ("0 6 * * * *", "6 fields, not 5"),
    ("0 24 * * *", "hour (field 2)"),
    ("0 6 0 * *", "day of month (field 3)"),
    ("0 6 * 13 *", "month (field 4)"),
    ("0 6 * * 7", "day of week (field 5)"),
    ("0 6 30 2 *", "never occurs"),
])
def test_invalid_cron_expressions_name_the_field(expression, field):
    problems = cron_problems(expression)
    assert problems and field in " ".join(problems), problems


@pytest.mark.parametrize("expression", ["0 6 * * *", "*/15 8-18 * * mon-fri", "30 2 1 */3 *", "0 0 * * sun"])
def test_valid_cron_expressions_pass(expression):
    assert cron_problems(expression) == []


def _council_client() -> tuple[APIClient, object]:
    user = make_user(f"council-{factories.n()}")
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client = APIClient()
    client.force_authenticate(user)
    return client, user


def test_the_api_refuses_an_invalid_schedule_with_a_400_naming_the_field(setup):
    client = APIClient()
    client.force_authenticate(setup["maria"])
    for expression, field in (("99 99 * * *", "hour (field 2)"), ("*/0 * * * *", "minute (field 1)"),
                              ("0 6 * *", "not 5")):
        response = client.post("/api/v1/contract-versions/", {
            "contract": setup["contract"].pk, "version": "1.0.1", "terms": {**TERMS, "schedule": expression}},
            format="json")
        assert response.status_code == 400, response.content
        assert field in " ".join(response.json()["errors"]["terms.schedule"]), response.json()
    assert setup["contract"].versions.count() == 1


def test_an_odcs_import_with_an_invalid_schedule_is_refused_with_a_400(setup):
    client, _ = _council_client()
    document = {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders-feed", "name": "Orders feed",
        "version": "1.0.0", "status": "active",
        "schema": [{"name": "orders", "physicalName": "sales.orders", "physicalType": "table", "properties": [
            {"name": "order_id", "logicalType": "string", "physicalType": "varchar(18)", "required": True}]}],
        "customProperties": [{"property": "accord.schedule", "value": "*/0 * * * *"}],
    }
    response = client.post("/api/v1/contracts/import-odcs/", {
        "document": yaml.safe_dump(document), "producer": "marketing", "consumers": ["sales"]}, format="json")
    assert response.status_code == 400, response.content
    assert "minute (field 1)" in " ".join(response.json()["errors"]["terms.schedule"]), response.json()


def test_the_admin_refuses_an_invalid_schedule_on_the_form(setup, client, admin_user):
    client.force_login(admin_user)
    draft = {**TERMS, "schedule": "99 99 * * *"}
    response = client.post("/admin/governance/contractversion/add/", {
        "contract": setup["contract"].pk, "version": "1.0.1", "terms": json.dumps(draft),
        "signatures-TOTAL_FORMS": "0", "signatures-INITIAL_FORMS": "0"}, follow=True)
    assert response.status_code == 200
    assert "minute (field 1)" in response.content.decode()
    assert setup["contract"].versions.count() == 1


# --- re-sending a delivery is audited with who asked -------------------------------------------------------------


def _failed_delivery(setup) -> Delivery:
    subscription = NotificationSubscription.objects.create(
        name="hook", owner=setup["sofia"], url="http://192.0.2.1/hooks", event_types=["contract.breached"])
    run, _ = compliance.get_or_create_run(setup["version"], scheduled_for=timezone.now(), trigger="manual",
                                          actor=CHECKS)
    compliance.execute(run, actor=CHECKS)
    delivery = Delivery.objects.get(subscription=subscription)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=3)
    return delivery


def _resend_records(delivery):
    return AuditRecord.objects.filter(object_type="governance.delivery", object_id=str(delivery.pk),
                                      action="update", details__resent=True)


def test_a_resend_through_the_api_is_audited_with_who_asked(setup, django_capture_on_commit_callbacks):
    delivery = _failed_delivery(setup)
    client = APIClient()
    client.force_authenticate(setup["sofia"])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202, response.content
    assert len(queued) == 1  # the delivery task, after commit
    [record] = _resend_records(delivery)
    assert (record.actor_id, record.actor_name) == (setup["sofia"].pk, "sofia")
    assert record.details["before"] == {"status": "failed", "attempts": 3}
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_a_resend_through_the_admin_is_audited_with_who_asked(setup, client):
    delivery = _failed_delivery(setup)
    from django.contrib.auth.models import Permission

    setup["sofia"].is_staff = True
    setup["sofia"].save()
    setup["sofia"].user_permissions.add(*Permission.objects.filter(
        content_type__app_label="governance", codename__in=["view_delivery", "change_delivery"]))
    client.force_login(setup["sofia"])
    response = client.post("/admin/governance/delivery/", {"action": "resend_selected",
                                                           "_selected_action": [delivery.pk]})
    assert response.status_code == 302, response.content[:500]
    [record] = _resend_records(delivery)
    assert (record.actor_id, record.actor_name) == (setup["sofia"].pk, "sofia")


def test_someone_else_may_not_resend_a_delivery(setup):
    delivery = _failed_delivery(setup)
    with pytest.raises(notifications.NotAllowed):
        notifications.redeliver(delivery, actor=setup["maria"])
    assert not _resend_records(delivery).exists()
    delivery.refresh_from_db()
    assert delivery.status == "failed"


# --- events are written in the transaction of their change -------------------------------------------------------


class EventThenFailure(Exception):
    pass


@pytest.fixture
def failing_after_event(monkeypatch):
    """``record_event`` writes its record, then the workflow fails: both must roll back together."""
    real = audit.record_event
    written = []

    def record_then_fail(*args, **kwargs):
        written.append(real(*args, **kwargs))
        raise EventThenFailure

    monkeypatch.setattr(audit, "record_event", record_then_fail)
    return written


def _records_now() -> int:
    return AuditRecord.objects.count()


def test_a_resend_that_fails_rolls_back_its_event_and_its_change(setup, failing_after_event):
    delivery = _failed_delivery(setup)
    before = _records_now()
    with pytest.raises(EventThenFailure):
        notifications.redeliver(delivery, actor=setup["sofia"])
    assert failing_after_event, "the event was written before the failure"
    assert _records_now() == before
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_an_approval_that_fails_rolls_back_its_event_and_its_change(setup, failing_after_event):
    from governance.services import states as state_services

    definition = factories.state(workflow=factories.workflow(dataset=setup["dataset"],
                                                             owner_department=setup["marketing"]),
                                 slug="sql-ready", state_value="sql", owner_department=setup["marketing"])
    version = state_services.create_draft(definition=definition, definition_text="Ready", criteria={},
                                          actor=setup["maria"])
    state_services.propose(version, actor=setup["maria"])
    before = _records_now()
    with pytest.raises(EventThenFailure):
        state_services.approve(version, department=setup["marketing"], actor=setup["maria"])
    assert failing_after_event and _records_now() == before
    version.refresh_from_db()
    assert version.status == "proposed" and not version.approvals.exists()


def test_a_designation_approval_that_fails_rolls_back_its_event_and_its_change(setup, failing_after_event):
    from governance.services import entities

    _, council = _council_client()
    from governance.models import SystemOfRecord

    designation = SystemOfRecord.objects.create(entity=factories.entity(), system=setup["dataset"].system,
                                                rationale="The warehouse holds the leads")
    before = _records_now()
    with pytest.raises(EventThenFailure):
        entities.approve_system_of_record(designation, actor=council)
    assert failing_after_event and _records_now() == before
    designation.refresh_from_db()
    assert designation.status == "proposed"


def test_a_termination_that_fails_rolls_back_its_event_and_its_change(setup, failing_after_event):
    from governance.services import contracts as contract_services

    before = _records_now()
    with pytest.raises(EventThenFailure):
        contract_services.terminate(setup["version"], actor=setup["maria"], reason="Marketing stops the feed")
    assert failing_after_event and _records_now() == before
    setup["version"].refresh_from_db()
    assert setup["version"].status == "active"
    assert PeriodicTask.objects.get(name=schedules.task_name(setup["contract"])).enabled


class _Module:
    """One parsed service module: whether a node runs inside ``transaction.atomic()``."""

    def __init__(self, source: str):
        import ast

        self.ast = ast
        self.tree = ast.parse(source)
        self.parents = {child: parent for parent in ast.walk(self.tree) for child in ast.iter_child_nodes(parent)}
        self.functions = {node.name: node for node in self.tree.body if isinstance(node, ast.FunctionDef)}
        self.calls = [node for node in ast.walk(self.tree) if isinstance(node, ast.Call)]

    def is_atomic(self, node) -> bool:
        target = node.func if isinstance(node, self.ast.Call) else node
        return isinstance(target, self.ast.Attribute) and target.attr == "atomic"

    def inside_atomic(self, node, seen: frozenset = frozenset()) -> bool:
        """In a ``with transaction.atomic()`` block or an atomic function, or in a private helper of the module
        every call of which is itself inside atomic."""
        ast = self.ast
        ancestor = self.parents.get(node)
        while ancestor is not None:
            if isinstance(ancestor, ast.With) and any(self.is_atomic(item.context_expr) for item in ancestor.items):
                return True
            if isinstance(ancestor, ast.FunctionDef):
                if any(self.is_atomic(decorator) for decorator in ancestor.decorator_list):
                    return True
                name = ancestor.name
                callers = [call for call in self.calls if isinstance(call.func, ast.Name) and call.func.id == name]
                return (name.startswith("_") and self.functions.get(name) is ancestor and name not in seen
                        and bool(callers) and all(self.inside_atomic(call, seen | {name}) for call in callers))
            ancestor = self.parents.get(ancestor)
        return False

    def events_outside_atomic(self) -> list[int]:
        return [call.lineno for call in self.calls
                if isinstance(call.func, self.ast.Attribute) and call.func.attr == "record_event"
                and not self.inside_atomic(call)]


def test_every_service_event_is_written_inside_the_transaction_of_its_change():
    """A static sweep of governance/services: each ``record_event`` call sits inside a ``transaction.atomic()``
    block, or in a private helper of the module only ever called inside one, so the event commits or rolls
    back with the change it records."""
    from pathlib import Path

    outside = [f"{path.name}:{line}"
               for path in sorted((Path(settings.BASE_DIR) / "governance" / "services").glob("*.py"))
               for line in _Module(path.read_text()).events_outside_atomic()]
    assert outside == [], f"record_event outside transaction.atomic(): {outside}"


def test_the_sweep_finds_an_event_written_after_commit():
    source = """
from django.db import transaction
def terminate(version):
    with transaction.atomic():
        version.save()
    audit.record_event("update", version)
def _helper(version):
    audit.record_event("approve", version)
def approve(version):
    with transaction.atomic():
        _helper(version)
def _loose(version):
    audit.record_event("sign", version)
def sign(version):
    _loose(version)
"""
    assert _Module(source).events_outside_atomic() == [6, 13]


# --- with a real worker on a real broker (PostgreSQL and redis-server only) --------------------------------------


@THROUGH_BEAT
@pytest.mark.skipif(not real.ON_POSTGRES, reason="needs PostgreSQL (scripts/pg.sh): the worker is another process")
@pytest.mark.skipif(not real.os.access(real.REDIS_SERVER, real.os.X_OK), reason=f"{real.REDIS_SERVER} is missing")
def test_a_tick_sent_twice_to_a_real_worker_with_the_source_down_is_one_run(tmp_path, redis_url, workers,  # noqa: F811
                                                                            source_table):  # noqa: F811
    """Beat's scheduler sends the tick over Redis, twice (a duplicate, as after a beat restart); the worker
    (production settings: real countdowns of 1 s, 2 s, 4 s…) finds the source down, retries, and once the
    source is back completes the tick's one run with its real results."""
    real.fill_source(source_table, tmp_path)
    contract, version = real.build_contract(source_table, sleep_seconds=0)
    every_minute(contract)
    db = real.connection.settings_dict
    proxy = real.TcpProxy(real.free_port(), (db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    periodic = PeriodicTask.objects.get(name=schedules.task_name(contract))
    try:
        with workers.dump_on_failure():
            workers.start(real.database_dsn(port=proxy.port))
            with real.real_broker(redis_url) as producer, system_actor("beat", reason="Celery beat scheduler"):
                scheduler = AccordScheduler(app=celery_app, lazy=True)
                for _ in range(2):
                    scheduler.apply_async(ModelEntry(periodic, app=celery_app), producer=producer, advance=False)

            def retrying(attempts: int):
                runs = list(ComplianceRun.objects.filter(trigger="scheduled"))
                return len(runs) == 1 and runs[0].status == "retrying" and runs[0].attempts >= attempts

            real.wait_for(lambda: retrying(3), timeout=60, what="three failed attempts on one run")
            proxy.start()  # the source is back
            real.wait_for(lambda: ComplianceRun.objects.filter(status="completed").exists(), timeout=60,
                          what="the tick's run to complete")
            time.sleep(3)  # the other delivery's pending retry, if any, runs and finds the run completed
            [run] = ComplianceRun.objects.all()
            assert (run.status, run.outcome, run.trigger) == ("completed", "fail", "scheduled")
            assert "source:unavailable" not in set(run.results.values_list("key", flat=True))
            assert run.results.get(key="data:leads:email:not_null:0").violations == 3
    finally:
        proxy.stop()
