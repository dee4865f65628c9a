"""A small catalog and governance registry, a plain reader and a council member with their tokens,
for the API-wide tests (schemathesis and the malformed-input regressions)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from permissions.services import create_token
from tests import factories


@dataclass
class World:
    reader: object
    council: object
    reader_token: str
    council_token: str


def build_world() -> World:
    User = get_user_model()
    reader = User.objects.create_user("rita.reader", password="x")
    council = User.objects.create_user("carl.council", password="x", is_staff=True)
    council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
    department = factories.department(slug="sales", name="Sales")
    factories.membership(council, department=department, role="lead")
    tag = factories.tag(slug="gdpr", name="gdpr")
    system = factories.system(slug="salesforce", name="Salesforce", owner_department=department)
    datasets = [factories.dataset(system=system, owner_department=department, tags=[tag]) for _ in range(3)]
    for dataset in datasets:
        for _ in range(3):
            factories.field(dataset=dataset)
    factories.lineage(source=datasets[0], target=datasets[1])
    entity = factories.entity(owner_department=department)
    workflow = factories.workflow(dataset=datasets[2], owner_department=department)
    for _ in range(2):
        factories.state(workflow=workflow)
    factories.contract(producer=department, datasets=datasets[:2])
    del entity
    _, reader_token = create_token(user=reader, name="schemathesis", actor=reader)
    _, council_token = create_token(user=council, name="schemathesis", actor=council)
    return World(reader=reader, council=council, reader_token=reader_token, council_token=council_token)
