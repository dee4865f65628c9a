"""What a signature covers (issue 15): the parties, the covered datasets and the exact approved
state-definition versions, fixed once a version is proposed; a newer definition reaches a contract
only through a new version its parties sign, and they are told; ``verify_contract`` recomputes it all."""

from __future__ import annotations

import importlib
import json

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from governance import terms as contract_terms
from governance.admin import DataContractAdmin
from governance.models import ContractVersion, DataContract, Delivery, NotificationSubscription
from governance.services import compliance, notifications
from governance.services import contracts as contract_services
from governance.services import states as state_services
from permissions.context import Actor
from permissions.errors import Conflict, Invalid
from permissions.models import AuditRecord
from tests import factories
from tests.governance.compliance_fixtures import TERMS, build_contract
from tests.governance.test_notifications import Receiver
from tests.governance.test_notifications import verify as webhook_verifies
from tests.mixins import make_user

pytestmark = pytest.mark.django_db
CHECKS = Actor(system="tests")
API = "/api/v1/"
STRICTER_MQL = {"all": [{"field": "email", "op": "is_not_null"}, {"field": "score", "op": "gte", "value": 95}]}
CHANGED = "definition.changed_under_contract"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    world = build_contract(tmp_path, monkeypatch)
    finance = factories.department(name="Finance", slug="finance")
    fiona = make_user("fiona")
    factories.membership(fiona, department=finance, role="lead")
    mql = world["version"].state_definitions.get()
    return {**world, "finance": finance, "fiona": fiona, "mql": mql}


def client(user=None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def run_now(version):
    run, _ = compliance.get_or_create_run(version, scheduled_for=timezone.now(), trigger="manual", actor=CHECKS)
    return compliance.execute(run, actor=CHECKS)


def mql_violations(run) -> int:
    return run.results.get(kind="state", rule="state_conformance").violations


def approve_stricter_mql(setup):
    draft = state_services.create_draft(definition=setup["mql"], definition_text="Engaged and hot",
                                        criteria=STRICTER_MQL, actor=setup["maria"])
    state_services.propose(draft, actor=setup["maria"])
    return state_services.approve(draft, department=setup["marketing"], actor=setup["maria"])


def sign_all(version, setup):
    leads = {"marketing": setup["maria"], "sales": setup["sofia"], "finance": setup["fiona"]}
    for party in contract_services.missing_signatures(version):
        contract_services.sign(version, department=party, actor=leads[party.slug])
    version.refresh_from_db()
    return version


# --- parties and datasets are fixed once a version is proposed ---------------------------------


def test_the_parties_and_datasets_of_a_signed_contract_cannot_be_replaced_through_the_api(setup):
    contract, maria = setup["contract"], setup["maria"]
    url = f"{API}contracts/{contract.pk}/"
    # (A superuser removes the dataset: for anyone else, a many-to-many written through the API keeps the
    # members the writer cannot see, and today that keeps them all when the writer sees every one.)
    root = make_user("root", is_superuser=True)
    for user, change in ((maria, {"consumers": [setup["finance"].pk]}),
                         (maria, {"producer": setup["finance"].pk, "consumers": [setup["sales"].pk]}),
                         (root, {"datasets": []})):
        response = client(user).patch(url, change, format="json")
        assert response.status_code == 409, (change, response.content)
        assert "new draft version" in response.json()["detail"]
    contract.refresh_from_db()
    assert (contract.producer, list(contract.consumers.all()), list(contract.datasets.all())) == (
        setup["marketing"], [setup["sales"]], [setup["dataset"]])
    # What is not signed still changes, and so does sending the same parties again.
    response = client(maria).patch(url, {"description": "Leads Marketing hands to Sales",
                                         "consumers": [setup["sales"].pk]}, format="json")
    assert response.status_code == 200, response.content
    version = setup["version"]
    assert contract_services.missing_signatures(version) == []
    assert contract_services.verify(version)["ok"]


def test_the_model_refuses_a_new_producer_on_any_other_path(setup):
    contract = DataContract.objects.get(pk=setup["contract"].pk)
    contract.producer = setup["finance"]
    with pytest.raises(Conflict):
        contract.save()


def test_the_admin_form_refuses_new_parties_next_to_the_field(setup):
    superuser = make_user("root", is_superuser=True, is_staff=True)
    request = RequestFactory().get("/")
    request.user = superuser
    contract = setup["contract"]
    model_admin = DataContractAdmin(DataContract, admin.site)
    form_class = model_admin.get_form(request, contract, change=True)
    data = {"name": contract.name, "slug": contract.slug, "description": "", "producer": setup["marketing"].pk,
            "consumers": [setup["finance"].pk], "datasets": [setup["dataset"].pk]}
    form = form_class(data=data, instance=contract)
    assert not form.is_valid()
    assert "consumers" in form.errors and "new draft version" in form.errors["consumers"][0]
    unchanged = form_class(data={**data, "consumers": [setup["sales"].pk], "description": "Hand-off"},
                           instance=DataContract.objects.get(pk=contract.pk))
    assert unchanged.is_valid(), unchanged.errors


def test_a_draft_follows_the_contract_until_it_is_proposed(setup):
    contract = factories.contract(producer=setup["marketing"], consumers=[setup["sales"]])
    draft = contract_services.create_version(contract=contract, version="1.0.0", terms={}, actor=setup["maria"])
    assert (draft.producer, list(draft.consumers.all())) == (setup["marketing"], [setup["sales"]])
    url = f"{API}contracts/{contract.pk}/"
    response = client(setup["maria"]).patch(url, {"consumers": [setup["finance"].pk],
                                                  "datasets": [setup["dataset"].pk]}, format="json")
    assert response.status_code == 200, response.content
    assert list(draft.consumers.all()) == [setup["finance"]] and list(draft.datasets.all()) == [setup["dataset"]]
    contract_services.propose(draft, actor=setup["maria"])
    response = client(setup["maria"]).patch(url, {"consumers": [setup["sales"].pk]}, format="json")
    assert response.status_code == 409
    draft.refresh_from_db()
    assert [p.slug for p in contract_services.missing_signatures(draft)] == ["marketing", "finance"]


def test_new_parties_come_with_a_new_version_that_every_party_signs(setup):
    contract, sales, finance = setup["contract"], setup["sales"], setup["finance"]
    response = client(setup["maria"]).post(f"{API}contract-versions/", {
        "contract": contract.pk, "version": "1.1.0", "terms": TERMS, "state_definitions": [setup["mql"].pk],
        "consumers": [sales.pk, finance.pk]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["change_class"] == "additive"
    assert {"class": "additive", "change": "consumer Finance added"} in body["changes"]
    assert sorted(c["slug"] for c in body["consumers"]) == ["finance", "sales"]
    contract.refresh_from_db()
    assert list(contract.consumers.all()) == [sales]  # the contract shows what is signed
    version = contract_services.propose(ContractVersion.objects.get(pk=body["id"]), actor=setup["maria"])
    assert [p.slug for p in contract_services.missing_signatures(version)] == ["marketing", "finance", "sales"]
    contract_services.sign(version, department=setup["marketing"], actor=setup["maria"])
    contract_services.sign(version, department=sales, actor=setup["sofia"])
    version.refresh_from_db()
    assert version.status == "proposed"
    sign_all(version, setup)
    assert version.status == "active"
    contract.refresh_from_db()
    assert set(contract.consumers.all()) == {sales, finance}
    setup["version"].refresh_from_db()
    assert setup["version"].status == "superseded"
    assert list(setup["version"].consumers.all()) == [sales]  # what the old version bound stays as signed


def test_removing_a_consumer_or_a_dataset_is_breaking(setup):
    contract, maria, mql = setup["contract"], setup["maria"], setup["mql"]
    with pytest.raises(Invalid) as refused:
        contract_services.create_version(contract=contract, version="1.1.0", terms=TERMS, state_definitions=[mql],
                                         consumers=[setup["finance"]], actor=maria)
    assert "major" in str(refused.value.errors)
    version = contract_services.create_version(contract=contract, version="2.0.0", terms=TERMS,
                                               state_definitions=[mql], consumers=[setup["finance"]], actor=maria)
    assert version.change_class == "breaking"
    assert {"class": "breaking", "change": "consumer Sales removed"} in version.changes
    version = contract_services.update_draft(version, actor=maria, consumers=[setup["sales"]], datasets=[])
    assert version.change_class == "breaking"
    assert [c["change"] for c in version.changes] == [f"covered dataset #{setup['dataset'].pk} removed"]


def test_a_signature_is_given_only_for_a_party_of_the_version(setup):
    version = contract_services.create_version(
        contract=setup["contract"], version="2.0.0", terms=TERMS, state_definitions=[setup["mql"]],
        consumers=[setup["finance"]], actor=setup["maria"])
    contract_services.propose(version, actor=setup["maria"])
    # Sales is still a consumer of the contract (of its active version) but not of this version.
    with pytest.raises(Invalid):
        contract_services.sign(version, department=setup["sales"], actor=setup["sofia"])
    assert [p.slug for p in contract_services.missing_signatures(version)] == ["marketing", "finance"]


def test_the_hash_covers_parties_datasets_and_pinned_definitions(setup):
    version = setup["version"]
    before = contract_services.version_hash(version)
    assert before == version.content_hash
    through = ContractVersion.consumers.through
    extra = through.objects.create(contractversion_id=version.pk, department_id=setup["finance"].pk)
    assert contract_services.version_hash(version) != before
    extra.delete()
    ContractVersion.datasets.through.objects.filter(contractversion_id=version.pk).delete()
    assert contract_services.version_hash(version) != before
    version.datasets.add(setup["dataset"])
    assert contract_services.version_hash(version) == before
    [pin] = version.state_definition_versions.all()
    type(pin).objects.filter(pk=pin.pk).update(criteria=STRICTER_MQL)  # a rewrite behind the services
    assert contract_services.version_hash(version) != before


# --- pinned state definitions ------------------------------------------------------------------


def test_a_check_keeps_the_definition_version_the_parties_signed(setup):
    v1 = setup["version"]
    [pin] = v1.state_definition_versions.all()
    assert (pin.definition, pin.number) == (setup["mql"], 1)
    assert mql_violations(run_now(v1)) == 5
    approve_stricter_mql(setup)  # v2: a score of 95, which none of the 49 rows claiming "mql" reaches
    later = run_now(v1)
    assert mql_violations(later) == 5  # still v1, as signed (it was 49 before pinning)
    assert later.results.get(rule="state_definitions_approved").status == "pass"
    assert later.results.get(rule="signatures_current").status == "pass"
    # The new meaning reaches the contract through a new version, classified and signed.
    v2 = contract_services.create_version(contract=setup["contract"], version="1.1.0", terms=TERMS,
                                          state_definitions=[setup["mql"]], actor=setup["maria"])
    assert v2.change_class == "additive"
    assert [c["change"] for c in v2.changes] == [f"state definition #{setup['mql'].pk} at v2 (was v1)"]
    v2 = sign_all(contract_services.propose(v2, actor=setup["maria"]), setup)
    assert v2.status == "active"
    assert [p.number for p in v2.state_definition_versions.all()] == [2]
    assert mql_violations(run_now(v2)) == 49


def test_a_newer_definition_is_announced_to_every_party_by_webhook_and_audit(setup, settings):
    settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver = Receiver()
    try:
        subscription = NotificationSubscription.objects.create(
            name="Sales hears of changes", owner=setup["sofia"], url=receiver.url, event_types=[CHANGED])
        subscription.departments.set([setup["sales"]])
        elsewhere = NotificationSubscription.objects.create(name="Finance only", owner=setup["fiona"],
                                                            url=receiver.url, event_types=[CHANGED])
        elsewhere.departments.set([setup["finance"]])
        v2 = approve_stricter_mql(setup)
        [delivery] = Delivery.objects.all()
        assert (delivery.subscription, delivery.event_type) == (subscription, CHANGED)
        delivered = notifications.deliver(delivery.pk)
        assert delivered.status == "delivered"
        [request] = receiver.requests
        assert webhook_verifies(subscription.secret, request)
        body = json.loads(request["body"])
        assert body["type"] == CHANGED and body["data"]["contract"]["slug"] == "handoff"
        assert (body["data"]["details"]["pinned_number"], body["data"]["details"]["approved_number"]) == (1, 2)
    finally:
        receiver.stop()
    [record] = AuditRecord.objects.filter(details__event=CHANGED)
    assert (record.object_type, record.object_id) == ("governance.contractversion", str(setup["version"].pk))
    assert record.details["definition_version"] == v2.pk


def test_the_approval_and_its_announcements_are_one_transaction(setup, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tests: the notification could not be recorded")

    monkeypatch.setattr(notifications, "emit", broken)
    with pytest.raises(RuntimeError):
        approve_stricter_mql(setup)
    versions = {v.number: v.status for v in setup["mql"].versions.all()}
    assert versions == {1: "approved", 2: "proposed"}  # the approval did not happen without its events
    assert not AuditRecord.objects.filter(details__event=CHANGED).exists()


# --- verification --------------------------------------------------------------------------------


def test_verify_contract_reports_each_signature(setup, capsys):
    call_command("verify_contract", "handoff")
    out = capsys.readouterr().out
    assert "marketing: signed by maria matches" in out and "every signature matches" in out
    version = setup["version"]
    version.consumers.add(setup["finance"])  # written behind the services: no signature covers it
    with pytest.raises(CommandError, match="do not cover"):
        call_command("verify_contract", "handoff", "--version", "1.0.0")
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "sales: signed by sofia DOES NOT MATCH" in out
    with pytest.raises(CommandError, match="no version 9.9.9"):
        call_command("verify_contract", "handoff", "--version", "9.9.9")


def test_verify_api_is_readable_by_whoever_reads_the_contract(setup):
    version = setup["version"]
    url = f"{API}contract-versions/{version.pk}/verify/"
    body = client(make_user("reader")).get(url).json()
    assert body["ok"] and body["content_matches"] and body["recomputed_hash"] == version.content_hash
    assert [(s["department"], s["matches"]) for s in body["signatures"]] == [("marketing", True), ("sales", True)]
    assert client().get(url).status_code == 401
    type(version.state_definition_versions.get()).objects.update(definition_text="Rewritten")
    body = client(setup["sofia"]).get(url).json()
    assert not body["ok"] and not body["pinned_definitions_match"] and not body["content_matches"]
    draft = contract_services.create_version(contract=setup["contract"], version="1.0.1", terms=TERMS,
                                             state_definitions=[setup["mql"]], actor=setup["maria"])
    assert client(setup["sofia"]).get(f"{API}contract-versions/{draft.pk}/verify/").status_code == 409


def test_the_migration_copies_parties_and_pins_what_was_approved_when_proposed(setup):
    migration = importlib.import_module("governance.migrations.0004_contract_version_coverage")
    version = setup["version"]
    legacy = contract_terms.content_hash({"contract": version.contract_id, "version": version.version,
                                          "terms": version.terms, "states": [setup["mql"].pk]})
    approve_stricter_mql(setup)  # approved after the version was proposed: not what it pins
    # The version as it was before the migration: no parties of its own, signed over the old hash.
    ContractVersion.objects.filter(pk=version.pk).update(producer=None, content_hash=legacy, hash_scheme=2)
    version.signatures.update(content_hash=legacy)
    version.consumers.clear()
    version.datasets.clear()
    version.state_definition_versions.clear()
    state = MigrationExecutor(connection).loader.project_state(("governance", "0004_contract_version_coverage"))
    migration.copy_coverage_into_versions(state.apps, None)  # the historical models, as migrate runs it
    version = ContractVersion.objects.get(pk=version.pk)
    assert (version.producer, version.hash_scheme) == (setup["marketing"], 1)
    assert list(version.consumers.all()) == [setup["sales"]] and list(version.datasets.all()) == [setup["dataset"]]
    assert [pin.number for pin in version.state_definition_versions.all()] == [1]
    assert contract_services.verify(version)["ok"]


# --- events inside the transaction of their change -----------------------------------------------


def test_terminate_writes_its_event_in_the_transaction_of_the_change(setup, monkeypatch):
    version = setup["version"]

    def broken(*args, **kwargs):
        raise RuntimeError("tests: the audit event could not be written")

    monkeypatch.setattr(contract_services.audit, "record_event", broken)
    with pytest.raises(RuntimeError):
        contract_services.terminate(version, actor=setup["maria"], reason="Replaced")
    version.refresh_from_db()
    assert version.status == "active"  # no termination without its event
    monkeypatch.undo()
    contract_services.terminate(version, actor=setup["maria"], reason="Replaced")
    version.refresh_from_db()
    assert version.status == "terminated"
    [event] = AuditRecord.objects.filter(details__terminated=True)
    assert (event.reason, event.object_id) == ("Replaced", str(version.pk))
