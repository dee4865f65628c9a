"""A draft Accord contract version from a dbt model whose contract is enforced: schema terms from
its columns and constraints, quality rules from its dbt tests, for a producer to complete (its
consumers, SLA, schedule) and propose. dbt's contract binds the model's shape; Accord's binds the
departments that rely on it, so the draft is where the two meet."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from governance.models import ContractVersion, DataContract
from governance.services import contracts as contract_services
from ingest.models import DbtNode, DbtTestType
from permissions.context import acting_as

#: dbt's generic tests with an Accord quality rule of the same meaning.
RULES = {DbtTestType.NOT_NULL: "not_null", DbtTestType.UNIQUE: "unique",
         DbtTestType.ACCEPTED_VALUES: "accepted_values"}


class DraftRefused(Exception):
    """Why no draft was made; ``field`` names what to fix."""

    def __init__(self, message: str, *, field: str = "node"):
        super().__init__(message)
        self.field = field


def terms_for(node: DbtNode) -> tuple[dict, list[str]]:
    """The draft's terms, and the model's tests that have no Accord rule (left out, named)."""
    dataset = node.dataset
    constraints = (node.written or {}).get("constraints") or {}
    primary_key = set(constraints.get("primary_key") or []) | set(dataset.key_fields or [])
    not_null = set(constraints.get("not_null") or [])
    tests = list(node.project.tests.filter(dataset=dataset).select_related("field").order_by("unique_id"))
    unique = {t.column_name for t in tests if t.test_type == DbtTestType.UNIQUE and t.column_name}
    tested_not_null = {t.column_name for t in tests if t.test_type == DbtTestType.NOT_NULL and t.column_name}
    name = dataset.qualified_name.rsplit(".", 1)[-1]
    fields = []
    for item in dataset.fields.order_by("position", "name"):
        spec = {"name": item.name, "type": item.data_type or "", "description": item.description,
                "required": item.name in primary_key or item.name in not_null or item.name in tested_not_null,
                "unique": item.name in unique or item.name in primary_key and len(primary_key) == 1,
                "primary_key": item.name in primary_key}
        fields.append({key: value for key, value in spec.items() if value not in ("", None)})
    quality, left_out = [], []
    for test in tests:
        rule = RULES.get(test.test_type)
        if rule is None or not test.column_name or test.column_name not in {f["name"] for f in fields}:
            left_out.append(test.name)
            continue
        params = {"values": list(test.arguments.get("values") or [])} if rule == "accepted_values" else {}
        if rule == "accepted_values" and not params["values"]:
            left_out.append(test.name)
            continue
        quality.append({"object": name, "field": test.column_name, "rule": rule, "params": params,
                        "severity": "warning" if test.severity == "warn" else "error",
                        "description": f"From dbt test {test.name}."})
    terms = {"schema": [{"name": name, "physical_name": dataset.qualified_name,
                         "physical_type": "view" if dataset.kind == "view" else "table",
                         "description": dataset.description, "fields": fields}],
             "quality": quality}
    return terms, left_out


def _slug(node: DbtNode) -> str:
    base = slugify(f"dbt-{node.unique_id}")[:190].strip("-") or "dbt-model"
    slug, number = base, 1
    while DataContract._base_manager.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


def consumers_for(node: DbtNode) -> list:
    """The departments that read the model: owners of the datasets its lineage reaches downstream
    (one step, as drawn, harvested or ingested), other than its own department."""
    from catalog.models import Department

    dataset = node.dataset
    return list(Department.objects.filter(datasets__upstream_edges__source=dataset).exclude(
        pk=dataset.owner_department_id).distinct().order_by("name"))


def draft_from_model(node: DbtNode, *, actor, consumers=None) -> tuple[ContractVersion, list[str]]:
    """A new contract (named for the model) with a draft version 0.1.0 covering the model's dataset,
    produced by the dataset's department, for ``consumers`` (by default the departments downstream of
    it in the lineage); the tests it could not turn into rules are returned."""
    if not node.contract_enforced:
        raise DraftRefused(f"{node.unique_id} has no enforced dbt contract: set contract.enforced in dbt first.")
    dataset = node.dataset
    if dataset.owner_department_id is None:
        raise DraftRefused(f"The dataset {dataset.qualified_name} has no department: a contract needs its producer "
                           "(set meta.department in dbt, or the dataset's department here).", field="producer")
    name = f"{dataset.name} (dbt model {node.unique_id})"[:200]
    if DataContract.objects.filter(name=name).exists():
        raise DraftRefused(f"A contract {name!r} exists already: draft its next version there.", field="contract")
    consumers = list(consumers) if consumers else consumers_for(node)
    if not consumers:
        raise DraftRefused(f"No department reads {dataset.qualified_name} in the lineage: name the consuming "
                           "departments.", field="consumers")
    terms, left_out = terms_for(node)
    with acting_as(actor, reason=f"Contract drafted from dbt model {node.unique_id}"), transaction.atomic():
        description = (f"Drafted from the enforced dbt contract of {node.unique_id} (project {node.project.name}): "
                       "name the consuming departments, the SLA and the check schedule, then propose it.")
        contract = DataContract.objects.create(name=name, slug=_slug(node), producer=dataset.owner_department,
                                               description=description)
        contract.datasets.set([dataset])
        contract.consumers.set(consumers)
        version = contract_services.create_version(contract=contract, version="0.1.0", terms=terms, actor=actor)
    return version, left_out
