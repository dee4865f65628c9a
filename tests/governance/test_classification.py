"""A version refused for its semantic-version bump says which changes call for the bump it needs."""

from __future__ import annotations

import copy

import pytest

from governance.models import ContractVersion
from governance.services import contracts as contract_services
from permissions.errors import Invalid
from tests.governance.compliance_fixtures import TERMS, build_contract


@pytest.mark.django_db
def test_a_refused_bump_lists_the_changes(tmp_path, monkeypatch):
    world = build_contract(tmp_path, monkeypatch)
    contract, maria = world["contract"], world["maria"]
    states = list(world["version"].state_definitions.all())
    terms = copy.deepcopy(TERMS)
    obj = terms["schema"][0]
    removed = obj["fields"].pop()
    with pytest.raises(Invalid) as refused:
        contract_services.create_version(contract=contract, version="1.1.0", terms=terms,
                                         state_definitions=states, actor=maria)
    errors = refused.value.errors
    assert "needs a major bump" in errors["version"][0]
    assert f"breaking: field {obj['name']}.{removed['name']} removed or renamed" in errors["changes"]
    assert not ContractVersion.objects.filter(contract=contract, version="1.1.0").exists()
