"""An imported ODCS document covers the registered datasets its schema objects name: found through
the document's servers entry (a System whose connection matches) or an explicit system, by
``<schema>.<physicalName>``; what matches nothing, or more than one dataset, is a warning; what
the importer may not see behaves as absent (governance.services.odcs_mapping)."""

from __future__ import annotations

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from governance.models import ContractVersion
from governance.services import odcs_io
from permissions.models import AuditRecord
from tests import factories
from tests.mixins import hide_from, make_user

DSN_ENV = "ACCORD_TEST_MAPPING_DSN"
SERVER = {"server": "prod", "type": "postgres", "host": "DB.example.com", "port": 5432, "database": "crm",
          "schema": "sales"}


class _Skip:
    def skipTest(self, reason):  # noqa: N802 (hide_from's unittest-style argument)
        pytest.skip(reason)


def document(*objects: str, servers=(SERVER,)) -> str:
    body = {"apiVersion": "v3.0.2", "kind": "DataContract", "id": "leads-feed", "name": "Leads feed",
            "version": "1.0.0", "status": "active",
            "schema": [{"name": name, "physicalName": name, "properties": [{"name": "id", "logicalType": "string"}]}
                       for name in objects]}
    if servers:
        body["servers"] = list(servers)
    return yaml.safe_dump(body, sort_keys=False)


@pytest.fixture
def world(db, monkeypatch):
    monkeypatch.setenv(DSN_ENV, "postgresql://checker:secret@db.example.com:5432/crm?sslmode=require")
    user = make_user(f"council-{factories.n()}")
    user.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    client = APIClient()
    client.force_authenticate(user)
    warehouse = factories.system(name="Warehouse", slug="warehouse", connection_engine="postgresql",
                                 connection_env=DSN_ENV)
    other = factories.system(name="Other warehouse", slug="other", connection_engine="postgresql",
                             connection_env="ACCORD_TEST_MAPPING_OTHER_DSN")
    monkeypatch.setenv("ACCORD_TEST_MAPPING_OTHER_DSN", "postgresql://checker@elsewhere:5432/crm")
    return {"user": user, "client": client, "warehouse": warehouse, "other": other,
            "producer": factories.department(name="Producers", slug="producers"),
            "consumer": factories.department(name="Consumers", slug="consumers")}


def post(world, text, **extra):
    return world["client"].post("/api/v1/contracts/import-odcs/", {
        "document": text, "producer": "producers", "consumers": ["consumers"], **extra}, format="json")


def covered(response) -> set[str]:
    version = ContractVersion.objects.get(pk=response.json()["id"])
    assert set(version.datasets.all()) == set(version.contract.datasets.all())
    return {d.qualified_name for d in version.datasets.all()}


@pytest.mark.django_db
def test_the_servers_entry_finds_the_system_and_each_object_its_dataset(world):
    leads = factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    factories.dataset(system=world["other"], qualified_name="sales.leads")  # another host: not this server
    response = post(world, document("leads"))
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    assert covered(response) == {"sales.leads"}
    assert response.json()["datasets"][0]["id"] == leads.pk
    # Set through the contract service: the coverage is in the audit trail, under the importer.
    records = AuditRecord.objects.filter(actor_id=world["user"].pk, object_type="governance.contractversion")
    assert any("datasets" in (record.changes or {}) for record in records), list(records.values("changes"))


@pytest.mark.django_db
def test_an_object_matching_nothing_is_a_warning_naming_it(world):
    factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    response = post(world, document("leads", "opportunities"))
    assert response.status_code == 201, response.content
    (warning,) = response.json()["warnings"]
    assert "'opportunities'" in warning and "matches no registered dataset in Warehouse" in warning
    assert covered(response) == {"sales.leads"}


@pytest.mark.django_db
def test_no_matching_server_is_a_warning_and_covers_nothing(world):
    factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    response = post(world, document("leads", servers=[{**SERVER, "database": "billing"}]))
    assert response.status_code == 201, response.content
    (warning,) = response.json()["warnings"]
    assert "No registered System's connection matches" in warning and "system parameter" in warning
    assert "secret" not in warning and "checker" not in warning  # nothing of the DSN is shown
    assert covered(response) == set()


@pytest.mark.django_db
def test_a_document_without_servers_looks_nothing_up(world):
    factories.dataset(system=world["warehouse"], qualified_name="leads")
    response = post(world, document("leads", servers=()))
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    assert covered(response) == set()


@pytest.mark.django_db
def test_an_explicit_system_replaces_the_servers(world):
    factories.dataset(system=world["other"], qualified_name="sales.leads")
    factories.dataset(system=world["other"], qualified_name="misc")
    response = post(world, document("leads", "misc"), system="other")
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    # sales.leads (the server's schema prefixed); misc as it stands, since no sales.misc is registered.
    assert covered(response) == {"sales.leads", "misc"}


@pytest.mark.django_db
def test_two_systems_with_the_same_connection_are_ambiguous(world, monkeypatch):
    twin = factories.system(name="Warehouse replica", slug="replica", connection_engine="postgresql",
                            connection_env="ACCORD_TEST_MAPPING_TWIN_DSN")
    monkeypatch.setenv("ACCORD_TEST_MAPPING_TWIN_DSN", "postgresql://reader@db.example.com/crm")
    factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    factories.dataset(system=twin, qualified_name="sales.leads")
    response = post(world, document("leads"))
    assert response.status_code == 201, response.content
    (warning,) = response.json()["warnings"]
    assert "more than one registered dataset" in warning
    assert "Warehouse: sales.leads" in warning and "Warehouse replica: sales.leads" in warning
    assert covered(response) == set()
    again = post(world, document("leads").replace("Leads feed", "Leads feed 2"), system="replica")
    assert again.status_code == 201 and again.json()["warnings"] == []
    assert ContractVersion.objects.get(pk=again.json()["id"]).datasets.get().system == twin


@pytest.mark.django_db
def test_a_hidden_dataset_behaves_as_absent(world):
    hidden = factories.dataset(system=world["warehouse"], qualified_name="sales.leads", name="Secret leads")
    hide_from(_Skip(), world["user"], hidden)
    response = post(world, document("leads"))
    assert response.status_code == 201, response.content
    (warning,) = response.json()["warnings"]
    assert "matches no registered dataset" in warning and "Secret leads" not in warning
    assert covered(response) == set()


@pytest.mark.django_db
def test_a_hidden_dataset_is_not_part_of_an_ambiguity(world):
    hidden_system = factories.system(name="Shadow", slug="shadow", connection_engine="postgresql",
                                     connection_env=DSN_ENV)
    factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    hide_from(_Skip(), world["user"], factories.dataset(system=hidden_system, qualified_name="sales.leads"))
    hide_from(_Skip(), world["user"], hidden_system)
    response = post(world, document("leads"))
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    assert covered(response) == {"sales.leads"}


@pytest.mark.django_db
def test_a_hidden_system_is_never_matched_nor_named(world):
    world["warehouse"].name = "Hidden warehouse"
    world["warehouse"].save()
    factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    hide_from(_Skip(), world["user"], world["warehouse"])
    response = post(world, document("leads"))
    assert response.status_code == 201, response.content
    assert "Hidden warehouse" not in str(response.json()["warnings"])
    assert covered(response) == set()
    named = post(world, document("leads").replace("Leads feed", "Leads feed 2"), system="warehouse")
    missing = post(world, document("leads").replace("Leads feed", "Leads feed 3"), system="no-such-system")
    assert named.status_code == missing.status_code == 400
    assert str(named.json()).replace("'warehouse'", "'no-such-system'") == str(missing.json())


@pytest.mark.django_db
def test_a_new_version_keeps_the_covered_datasets_its_importer_cannot_see(world):
    leads = factories.dataset(system=world["warehouse"], qualified_name="sales.leads")
    secret = factories.dataset(system=world["warehouse"], qualified_name="sales.secret")
    contract = factories.contract(producer=world["producer"])
    contract.consumers.set([world["consumer"]])
    contract.datasets.set([secret])
    hide_from(_Skip(), world["user"], secret)
    version, warnings = odcs_io.import_document(document("leads"), producer=None, consumers=[], contract=contract,
                                                actor=world["user"])
    assert warnings == []
    assert set(version.datasets.all()) == {leads, secret}
