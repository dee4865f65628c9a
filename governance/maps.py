"""The maps' governance side: which contracts cover a lineage edge (marked on the lineage map,
catalog.lineage_map), and the data-flow map of systems, as one reader may see them.

A contract covers the lineage edge ``source → target`` when ``source`` is among the contract's
datasets and the target's owner department among its consumers: the data a producer promised
about flows to a department it promised it to.

Everything is read through ``visible_to(user)``; a lineage edge is visible only when both its
datasets (and mapped fields) are, so a flow made only of hidden datasets is absent and every
count counts visible datasets only.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Case, Count, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from catalog.choices import SystemKind
from catalog.models import Dataset, Department, LineageEdge, System
from governance.choices import ContractStatus
from governance.models import ContractVersion, DataContract
from permissions.lookups import IdList


def _contracts_with_status(user):
    """Contracts with ``version_status``: their active version's status, else their latest version's,
    else ``"none"``."""
    latest = (ContractVersion.objects.visible_to(user, inside=("contract",)).filter(contract=OuterRef("pk"))
              .order_by(Case(When(status=ContractStatus.ACTIVE, then=0), default=1), "-id").values("status")[:1])
    return DataContract.objects.visible_to(user).annotate(version_status=Coalesce(Subquery(latest), Value("none")))


def _mark(contract: dict) -> dict:
    return {"id": contract["id"], "name": contract["name"], "status": contract["version_status"],
            "compliance": contract["compliance_status"]}


def contract_marks(user, edges: list[tuple[int, int, int | None]]) -> dict[tuple[int, int], list[dict]]:
    """The contracts covering each edge (``(source, target, target's owner department)``): one statement."""
    sources = {source for source, _, _ in edges}
    consumers = {department for _, _, department in edges if department is not None}
    if not sources or not consumers:
        return {}
    rows = (_contracts_with_status(user)
            .filter(datasets__id__any_of=IdList(sources), consumers__id__any_of=IdList(consumers))
            .values("id", "name", "compliance_status", "version_status", dataset=F("datasets"),
                    consumer=F("consumers")).order_by("name", "id").distinct())
    covering = defaultdict(list)
    for row in rows:
        covering[(row["dataset"], row["consumer"])].append(row)
    marks = {}
    for source, target, department in edges:
        found = covering.get((source, department))
        if found:
            marks[(source, target)] = [_mark(row) for row in found]
    return marks


#: Columns of the data-flow map, left to right: the operational analytics loop.
STAGES = ("source", "warehouse", "destination")


def data_flow(user) -> dict:
    """Systems and the flows between them, aggregated from the lineage edges the user may see
    (edges inside one system are left out): per flow, how many edges and datasets, the departments
    owning those datasets and the contracts covering its edges. Six statements, however many systems and edges.

    Each system gets a ``stage``: ``warehouse`` for data warehouses; ``source`` for the others that
    send data anywhere; ``destination`` for those that only receive (from a warehouse: reverse ETL)."""
    edges = LineageEdge.objects.visible_to(user).exclude(source__system=F("target__system")).order_by()
    flow_keys = ("source__system", "target__system")
    flows = {
        (row["source__system"], row["target__system"]): {
            "source": row["source__system"], "target": row["target__system"], "edges": row["edges"],
            "source_datasets": row["source_datasets"], "target_datasets": row["target_datasets"],
            "departments": [], "contracts": []}
        for row in edges.values(*flow_keys).annotate(
            edges=Count("id"), source_datasets=Count("source", distinct=True),
            target_datasets=Count("target", distinct=True))
    }
    department_rows = edges.values(*flow_keys, "source__owner_department", "target__owner_department").distinct()
    departments: dict[tuple, set] = defaultdict(set)
    for row in department_rows:
        for department in (row["source__owner_department"], row["target__owner_department"]):
            if department is not None:
                departments[(row["source__system"], row["target__system"])].add(department)
    covered = (edges.filter(source__contracts__consumers=F("target__owner_department"))
               .values(*flow_keys, contract=F("source__contracts")).distinct())
    contracts_of: dict[tuple, set] = defaultdict(set)
    for row in covered:
        contracts_of[(row["source__system"], row["target__system"])].add(row["contract"])
    contract_ids = set().union(*contracts_of.values()) if contracts_of else set()
    contracts = {row["id"]: row for row in _contracts_with_status(user).filter(pk__in=contract_ids)
                 .values("id", "name", "compliance_status", "version_status")}

    visible_datasets = (Dataset.objects.visible_to(user, inside=("system",)).filter(system=OuterRef("pk"))
                        .order_by().values("system").annotate(n=Count("pk")).values("n"))
    systems = list(System.objects.visible_to(user).select_related("owner_department")
                   .annotate(dataset_count=Coalesce(Subquery(visible_datasets), 0)).order_by("name", "id"))
    department_ids = set().union(*departments.values()) if departments else set()
    names = dict(Department.objects.visible_to(user).filter(pk__in=department_ids).values_list("id", "name"))

    sends, receives_from = defaultdict(set), defaultdict(set)
    for source, target in flows:
        sends[source].add(target)
        receives_from[target].add(source)
    kinds = {system.pk: system.kind for system in systems}

    def stage(system: System) -> str:
        if system.kind == SystemKind.WAREHOUSE:
            return "warehouse"
        return "source" if sends[system.pk] else ("destination" if receives_from[system.pk] else "source")

    for key, flow in flows.items():
        flow["departments"] = sorted(({"id": pk, "name": names[pk]} for pk in departments[key] if pk in names),
                                     key=lambda item: (item["name"], item["id"]))
        flow["contracts"] = sorted((_mark(contracts[pk]) for pk in contracts_of[key] if pk in contracts),
                                   key=lambda item: (item["name"], item["id"]))
        flow["reverse_etl"] = kinds.get(flow["source"]) == SystemKind.WAREHOUSE
    return {
        "systems": [{"id": system.pk, "name": system.name, "kind": system.kind, "stage": stage(system),
                     "department": system.owner_department.name if system.owner_department else None,
                     "datasets": system.dataset_count} for system in systems],
        "flows": sorted(flows.values(), key=lambda flow: (flow["source"], flow["target"])),
    }
