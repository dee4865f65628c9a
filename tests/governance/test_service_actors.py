"""Services name who acted and check who may act.

Every service that changes data takes ``actor``; the records it writes name that actor,
whoever the surrounding audit context names (here always somebody else: "system:bystander"),
and a workflow action is refused by the service itself, whoever calls it.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from catalog.services import register_dataset
from governance.models import ComplianceRun, ContractVersion, Incident, StateDefinitionVersion
from governance.services import compliance, schedules
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from permissions import context
from permissions.context import Actor, MissingActorError
from permissions.errors import NotAllowed
from permissions.models import AuditRecord
from permissions.services import create_token, revoke_token
from tests import factories
from tests.governance.compliance_fixtures import TERMS, build_contract
from tests.mixins import make_user

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bystander():
    """An ambient audit context that names somebody other than the actor passed."""
    with context.system_actor("bystander", reason="someone else's context") as ctx:
        yield ctx


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return build_contract(tmp_path, monkeypatch)


def names(obj, action=None) -> set[str]:
    records = AuditRecord.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    if action:
        records = records.filter(action=action)
    return set(records.values_list("actor_name", flat=True))


def actors_since(seq: int) -> set[str]:
    return set(AuditRecord.objects.filter(seq__gt=seq).values_list("actor_name", flat=True))


def last_seq() -> int:
    last = AuditRecord.objects.order_by("-seq").first()
    return last.seq if last else 0


# --- the records name the actor passed --------------------------------------------------------------------------


def test_contract_services_name_their_actor(setup, bystander):
    contract = factories.contract(slug="other", producer=setup["marketing"], consumers=[setup["sales"]])
    before = last_seq()
    version = contract_services.create_version(contract=contract, version="1.0.0", terms=TERMS,
                                               actor=setup["maria"])
    contract_services.propose(version, actor=setup["maria"])
    contract_services.sign(version, department=setup["marketing"], actor=setup["maria"])
    contract_services.sign(version, department=setup["sales"], actor=setup["sofia"])
    assert names(version, "create") == {"maria"}
    assert names(version, "sign") == {"maria", "sofia"}
    # The last signature activates the version (and its schedule): the last signer's doing.
    assert ContractVersion.objects.get(pk=version.pk).status == "active"
    assert AuditRecord.objects.filter(seq__gt=before, object_type="django_celery_beat.periodictask",
                                      actor_name="sofia").exists()
    contract_services.terminate(version, actor=setup["maria"], reason="Replaced")
    assert AuditRecord.objects.get(seq__gt=before, object_id=str(version.pk), details__terminated=True
                                   ).actor_name == "maria"
    assert "system:bystander" not in actors_since(before)


def test_state_services_name_their_actor(setup, bystander):
    state = factories.state(workflow=setup["dataset"].state_workflows.first(), slug="sql", state_value="sql",
                            owner_department=setup["marketing"])
    before = last_seq()
    version = state_services.create_draft(definition=state, definition_text="Accepted by Sales", criteria={},
                                          actor=setup["maria"])
    state_services.propose(version, actor=setup["maria"])
    state_services.approve(version, department=setup["marketing"], actor=setup["maria"])
    assert names(version, "approve") == {"maria"}
    assert StateDefinitionVersion.objects.get(pk=version.pk).status == "approved"
    assert actors_since(before) == {"maria"}


def test_system_of_record_services_name_their_actor(setup, bystander):
    chair = make_user("chair")
    chair.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    entity = factories.entity(name="Lead", slug="lead")
    before = last_seq()
    designation = entity_services.propose_system_of_record(
        entity=entity, attribute=None, system=setup["dataset"].system, rationale="The warehouse", actor=chair)
    entity_services.approve_system_of_record(designation, actor=chair, reason="agreed")
    other = entity_services.propose_system_of_record(
        entity=entity, attribute=None, system=setup["dataset"].system, rationale="Again", actor=setup["maria"])
    entity_services.reject_system_of_record(other, actor=chair, reason="One is enough")
    assert names(designation) == {"chair"}
    assert names(other, "create") == {"maria"}
    rejected = AuditRecord.objects.get(object_type=other._meta.label_lower, object_id=str(other.pk), action="update")
    assert (rejected.actor_name, rejected.reason) == ("chair", "One is enough")
    assert "system:bystander" not in actors_since(before)


def test_compliance_services_name_their_actor(setup, bystander):
    run = compliance.request_run(setup["contract"], trigger="api", actor=setup["maria"])
    assert (names(run, "create"), run.requested_by) == ({"maria"}, setup["maria"])
    checks = Actor(system="compliance-checks")
    run = compliance.execute(run, actor=checks)
    incident = Incident.objects.get(opened_by_run=run)
    assert names(incident, "create") == {"system:compliance-checks"}
    assert names(run, "update") == {"system:compliance-checks"}
    compliance.acknowledge_incident(incident, actor=setup["sam"])
    assert names(incident, "update") == {"sam"}
    compliance.escalate_overdue(at=incident.ack_due_at + datetime.timedelta(minutes=1), actor=checks)
    compliance.resolve_incident(incident, actor=setup["sam"], note="Backfilled")
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert names(incident, "update") == {"sam"}  # escalation leaves an acknowledged incident alone


def test_schedule_services_name_their_actor(setup, bystander):
    PeriodicTask.objects.filter(name=schedules.task_name(setup["contract"])).delete()
    task = schedules.sync_contract_schedule(setup["contract"], actor=Actor(system="scheduler"))
    assert names(task, "create") == {"system:scheduler"}
    PeriodicTask.objects.filter(name__in=[name for name, *_ in schedules.HOUSEKEEPING]).delete()
    schedules.ensure_housekeeping_tasks(actor=Actor(system="migrate"))
    housekeeping = PeriodicTask.objects.get(name=schedules.HOUSEKEEPING[0][0])
    assert names(housekeeping, "create") == {"system:migrate"}


def test_registration_names_its_actor(setup, bystander):
    before = last_seq()
    result = register_dataset(system=setup["dataset"].system, qualified_name="contacts",
                              attributes={"owner_department": setup["marketing"]}, tags=None,
                              fields=[{"name": "id", "data_type": "integer"}], remove_missing=False,
                              actor=setup["maria"])
    assert names(result.dataset) == {"maria"}
    assert actors_since(before) == {"maria"}


def test_token_services_name_their_actor(bystander):
    alice = make_user("alice")
    token, _ = create_token(user=alice, name="ci", actor=alice)
    revoke_token(token, actor=alice)
    assert names(token) == {"alice"}


# --- the service checks who may act ---------------------------------------------------------------------------


def test_the_services_refuse_on_their_own(setup):
    outsider = make_user("outsider")
    with pytest.raises(NotAllowed, match="run checks"):
        compliance.request_run(setup["contract"], trigger="manual", actor=setup["sofia"])  # the consumer's lead
    assert not ComplianceRun.objects.exists()
    state = factories.state(workflow=setup["dataset"].state_workflows.first(), slug="x", state_value="x",
                            owner_department=setup["marketing"])
    draft = state_services.create_draft(definition=state, definition_text="x", criteria={}, actor=setup["maria"])
    with pytest.raises(NotAllowed, match="propose"):
        state_services.propose(draft, actor=outsider)
    assert StateDefinitionVersion.objects.get(pk=draft.pk).status == "draft"
    with pytest.raises(NotAllowed, match="someone else's"):
        create_token(user=setup["maria"], name="stolen", actor=outsider)


def test_a_person_s_step_refuses_the_system(setup):
    contract = factories.contract(slug="other", producer=setup["marketing"], consumers=[setup["sales"]])
    version = contract_services.create_version(contract=contract, version="1.0.0", terms=TERMS,
                                               actor=setup["maria"])
    contract_services.propose(version, actor=setup["maria"])
    with pytest.raises(NotAllowed, match="Only a person may sign"):
        contract_services.sign(version, department=setup["marketing"], actor=Actor(system="beat"))
    assert not version.signatures.exists()


def test_nobody_is_not_an_actor(setup):
    with pytest.raises(MissingActorError):
        compliance.request_run(setup["contract"], trigger="manual", actor=None)
    with pytest.raises(MissingActorError):
        compliance.request_run(setup["contract"], trigger="manual", actor=Actor())


# --- outside requests: named system actors, and the setting on by default ---------------------------------------


def test_a_command_names_itself_even_with_no_ambient_actor(setup):
    before = last_seq()
    with context._entered(context.AuditContext()):  # no test fixture actor around the command
        with pytest.raises(Exception, match="not compliant"):
            call_command("check_contracts", "--all", stdout=open(os.devnull, "w"))  # noqa: SIM115
    written = AuditRecord.objects.filter(seq__gt=before)
    assert written.exists()
    assert set(written.values_list("actor_name", flat=True)) == {"system:check_contracts"}
    assert not written.filter(Q(reason="") | Q(actor_name="anonymous")).exists()


def test_require_actor_is_on_by_default(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("ACCORD_AUDIT_REQUIRE_ACTOR", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.ACCORD_AUDIT_REQUIRE_ACTOR)"], cwd=ROOT,
        env={**clean, "ACCORD_VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}, capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.django_db(transaction=True)
def test_the_beat_scheduler_writes_as_the_system_actor_beat():
    """Beat's scheduler writes (its default entries, last run times) before beat_init and outside
    any task: it acts as ``system:beat`` from the moment it is made, and stays so."""
    import threading

    from django.db import connection

    from config.beat import AccordScheduler
    from config.celery import app

    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    PeriodicTask.objects.filter(name="celery.backend_cleanup").delete()
    before = AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    failures = []

    def run():  # a thread of its own, like beat's process: the context it enters ends with it
        try:
            scheduler = AccordScheduler(app=app)
            scheduler.sync()
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert failures == []
    records = AuditRecord.objects.filter(seq__gt=before, object_type__startswith="django_celery_beat")
    assert records.exists()
    assert set(records.values_list("actor_name", flat=True)) == {"system:beat"}
