"""Small builders for catalog objects in tests (unique names from a counter)."""

from __future__ import annotations

import itertools

from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag

_seq = itertools.count(1)


def n() -> int:
    return next(_seq)


def department(**kw) -> Department:
    i = n()
    kw.setdefault("name", f"Department {i:05d}")
    kw.setdefault("slug", f"department-{i}")
    return Department.objects.create(**kw)


def tag(**kw) -> Tag:
    i = n()
    kw.setdefault("name", f"tag {i:05d}")
    kw.setdefault("slug", f"tag-{i}")
    return Tag.objects.create(**kw)


def system(**kw) -> System:
    i = n()
    kw.setdefault("name", f"System {i:05d}")
    kw.setdefault("slug", f"system-{i}")
    kw.setdefault("kind", "crm")
    return System.objects.create(**kw)


def dataset(**kw) -> Dataset:
    i = n()
    kw.setdefault("system", system() if "system" not in kw else kw["system"])
    kw.setdefault("qualified_name", f"schema.table_{i:05d}")
    kw.setdefault("name", f"Table {i:05d}")
    tags = kw.pop("tags", [])
    obj = Dataset.objects.create(**kw)
    if tags:
        obj.tags.set(tags)
    return obj


def field(**kw) -> Field:
    i = n()
    if "dataset" not in kw:
        kw["dataset"] = dataset()
    kw.setdefault("name", f"column_{i:05d}")
    kw.setdefault("data_type", "text")
    kw.setdefault("position", i)
    return Field.objects.create(**kw)


def membership(user, **kw) -> DepartmentMembership:
    kw.setdefault("department", department() if "department" not in kw else kw["department"])
    return DepartmentMembership.objects.create(user=user, **kw)


def lineage(**kw) -> LineageEdge:
    if "source" not in kw:
        kw["source"] = dataset()
    if "target" not in kw:
        kw["target"] = dataset(system=kw["source"].system)
    return LineageEdge.objects.create(**kw)


# --- governance ---------------------------------------------------------------------------------


def entity(**kw):
    from governance.models import BusinessEntity

    i = n()
    kw.setdefault("name", f"Entity {i:05d}")
    kw.setdefault("slug", f"entity-{i}")
    kw.setdefault("bounded_context", "Sales")
    return BusinessEntity.objects.create(**kw)


def workflow(**kw):
    from governance.models import StateWorkflow

    i = n()
    if "dataset" not in kw:
        kw["dataset"] = dataset()
        for name, data_type in (("email", "varchar(255)"), ("score", "integer"), ("status", "varchar(32)"),
                                ("created_at", "timestamp"), ("opted_out", "boolean")):
            field(dataset=kw["dataset"], name=name, data_type=data_type)
    kw.setdefault("name", f"Workflow {i:05d}")
    kw.setdefault("slug", f"workflow-{i}")
    kw.setdefault("owner_department", department())
    return StateWorkflow.objects.create(**kw)


def state(**kw):
    from governance.models import StateDefinition

    i = n()
    kw.setdefault("workflow", workflow() if "workflow" not in kw else kw["workflow"])
    kw.setdefault("name", f"State {i:05d}")
    kw.setdefault("slug", f"state-{i}")
    kw.setdefault("owner_department", kw["workflow"].owner_department)
    stakeholders = kw.pop("stakeholders", [])
    obj = StateDefinition.objects.create(**kw)
    if stakeholders:
        obj.stakeholders.set(stakeholders)
    return obj


def contract(**kw):
    from governance.models import DataContract

    i = n()
    kw.setdefault("name", f"Contract {i:05d}")
    kw.setdefault("slug", f"contract-{i}")
    kw.setdefault("producer", department())
    consumers = kw.pop("consumers", None) or [department()]
    datasets = kw.pop("datasets", [])
    obj = DataContract.objects.create(**kw)
    obj.consumers.set(consumers)
    if datasets:
        obj.datasets.set(datasets)
    return obj
