"""The demo's governance half: the Lead lifecycle, systems of record and the signed hand-off contract."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from governance.models import ContractVersion, StateDefinition, SystemOfRecord
from governance.services.entities import authoritative
from permissions.models import AuditRecord


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_lead_lifecycle_is_approved_with_criteria(demo):
    states = list(StateDefinition.objects.filter(workflow__slug="lead-lifecycle").order_by("position"))
    assert [s.name for s in states] == ["Raw", "MQL", "SQL", "Opportunity", "Customer"]
    for state in states:
        approved = state.approved_version()
        assert approved is not None and approved.criteria, state
        assert {a.department for a in approved.approvals.all()} == set(state.approving_departments())


def test_systems_of_record(demo):
    from governance.models import BusinessEntity

    customer = BusinessEntity.objects.get(slug="customer")
    designation = authoritative(customer, customer.attributes.get(name="customer_id"))
    assert (designation.system.slug, designation.field.name) == ("netsuite", "internalId")
    assert authoritative(BusinessEntity.objects.get(slug="lead")).system.slug == "salesforce"
    assert SystemOfRecord.objects.filter(status="active").count() == 5


def test_handoff_contract_is_active_and_signed_by_every_party(demo):
    version = ContractVersion.objects.get(contract__slug="marketing-sales-lead-handoff", status="active")
    assert version.version == "1.0.0"
    assert {s.department.slug for s in version.signatures.all()} == {"marketing", "sales"}
    assert {s.slug for s in version.state_definitions.all()} == {"mql", "sql"}


def test_rerun_changes_nothing(demo):
    before = AuditRecord.objects.count()
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert AuditRecord.objects.count() == before
