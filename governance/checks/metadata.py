"""Metadata checks: the registry against the contract (no live data needed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from catalog.models import Dataset
from governance.choices import ContractStatus, DesignationStatus, VersionStatus
from governance.criteria import field_family
from governance.models import BusinessEntity, ContractVersion, SystemOfRecord


@dataclass
class MetadataResult:
    key: str
    rule: str
    status: str  # pass | fail | error
    message: str
    dataset: Dataset | None = None
    field: str = ""
    violations: int | None = None
    observed: object = None
    threshold: str = ""
    duration_ms: float = 0.0


def covered_datasets(version: ContractVersion):
    """The datasets the version covers (those of the contract for a version migrated without its own)."""
    return version.datasets.all() if version.producer_id else version.contract.datasets.all()


def datasets_by_schema_object(version: ContractVersion) -> dict[str, Dataset | None]:
    """Which registered dataset each schema object of the terms describes: by physical
    name (the qualified name), else by name."""
    datasets = list(covered_datasets(version).select_related("system"))
    found: dict[str, Dataset | None] = {}
    for obj in version.terms.get("schema", []) or []:
        names = [n for n in (obj.get("physical_name"), obj.get("name")) if n]
        match = next((d for n in names for d in datasets if d.qualified_name == n), None)
        match = match or next((d for n in names for d in datasets if d.qualified_name.split(".")[-1] == n), None)
        found[obj.get("name")] = match
    return found


def _compatible(contract_type: str | None, registered_type: str) -> bool:
    if not contract_type:
        return True
    if contract_type.strip().lower() == registered_type.strip().lower():
        return True
    return field_family(contract_type) == field_family(registered_type)


def run_metadata_checks(version: ContractVersion) -> list[MetadataResult]:
    started = time.perf_counter()
    results: list[MetadataResult] = []
    mapping = datasets_by_schema_object(version)
    for obj in version.terms.get("schema", []) or []:
        name = obj.get("name")
        dataset = mapping.get(name)
        if dataset is None:
            results.append(MetadataResult(f"metadata:{name}:registered", "dataset_registered", "fail",
                                          f"No dataset covered by the contract matches schema object {name!r}."))
            continue
        registered = {f.name: f for f in dataset.fields.select_related("owner", "owner_department")}
        missing, incompatible, unowned = [], [], []
        for spec in obj.get("fields", []) or []:
            column = spec.get("physical_name") or spec["name"]
            field = registered.get(column) or registered.get(spec["name"])
            if field is None:
                missing.append(spec["name"])
                continue
            if not _compatible(spec.get("type") or spec.get("logical_type"), field.data_type):
                incompatible.append(f"{spec['name']} ({spec.get('type')} vs {field.data_type})")
            if field.owner_id is None or field.owner_department_id is None:
                unowned.append(spec["name"])
        base = f"metadata:{name}"
        results.append(MetadataResult(
            f"{base}:fields_present", "fields_present", "fail" if missing else "pass",
            f"Missing from {dataset}: {', '.join(missing)}." if missing else "Every contracted field is registered.",
            dataset=dataset, violations=len(missing)))
        results.append(MetadataResult(
            f"{base}:types_compatible", "types_compatible", "fail" if incompatible else "pass",
            f"Incompatible types: {'; '.join(incompatible)}." if incompatible else "Types are compatible.",
            dataset=dataset, violations=len(incompatible)))
        results.append(MetadataResult(
            f"{base}:fields_owned", "fields_owned", "fail" if unowned else "pass",
            f"No owner (person and department): {', '.join(unowned)}." if unowned else "Every field has an owner.",
            dataset=dataset, violations=len(unowned)))
    entities = BusinessEntity.objects.filter(datasets__in=covered_datasets(version)).distinct()
    without = [e for e in entities if not SystemOfRecord.objects.filter(entity=e, status=DesignationStatus.ACTIVE)
               .exists()]
    results.append(MetadataResult(
        "metadata:system_of_record", "system_of_record", "fail" if without else "pass",
        f"No system of record for: {', '.join(map(str, without))}." if without
        else f"Every entity the contract covers has a system of record ({entities.count()}).",
        violations=len(without)))
    pinned = set(version.state_definition_versions.values_list("definition_id", flat=True))
    unapproved = [s for s in version.state_definitions.all()
                  if s.pk not in pinned and not s.versions.filter(status=VersionStatus.APPROVED).exists()]
    results.append(MetadataResult(
        "metadata:state_definitions", "state_definitions_approved", "fail" if unapproved else "pass",
        f"Not approved: {', '.join(map(str, unapproved))}." if unapproved else "Referenced states are approved.",
        violations=len(unapproved)))
    from governance.services.contracts import missing_signatures, version_hash

    problems = []
    if version.status != ContractStatus.ACTIVE:
        problems.append(f"the version is {version.status}")
    missing = missing_signatures(version)
    if missing:
        problems.append("unsigned by " + ", ".join(d.name for d in missing))
    current = version_hash(version)
    stale = [s.department.name for s in version.signatures.select_related("department") if s.content_hash != current]
    if stale:
        problems.append("signatures no longer match the content: " + ", ".join(stale))
    results.append(MetadataResult(
        "metadata:signatures", "signatures_current", "fail" if problems else "pass",
        "; ".join(problems).capitalize() + "." if problems else "Every party signed this exact content.",
        violations=len(problems)))
    elapsed = (time.perf_counter() - started) * 1000
    for result in results:
        result.duration_ms = round(elapsed / max(len(results), 1), 3)
    return results
