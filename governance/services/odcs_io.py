"""Importing an ODCS document as a contract version, and exporting a version as ODCS.

The pure mapping lives in governance.odcs; this module connects it to the models:
a version keeps ``meta``, ``terms`` and ``residual``, so exporting an imported
version gives back the document that was imported, and a version written in
Accord exports as a fresh ODCS v3.1 document that validates.
"""

from __future__ import annotations

import json
import re
import uuid

import yaml
from django.db import transaction
from django.utils.text import slugify

from catalog.models import Department
from governance import odcs, redaction
from governance.choices import ContractStatus, VersionStatus
from governance.models import ContractVersion, DataContract, StateDefinition
from governance.services import contracts as contract_services
from governance.services import odcs_mapping
from permissions.errors import Invalid

# Accord's lifecycle → the statuses ODCS documents use.
ODCS_STATUS = {
    ContractStatus.DRAFT: "draft", ContractStatus.PROPOSED: "proposed", ContractStatus.ACTIVE: "active",
    ContractStatus.SUPERSEDED: "deprecated", ContractStatus.TERMINATED: "retired",
}


def _issues_as_errors(issues: list) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for issue in issues:
        errors.setdefault(f"document.{issue.path}" if issue.path and issue.path != "$" else "document",
                          []).append(issue.message)
    return errors


LATEST_SCHEMA = "3.2.0"


def _refuse_unsupported_version(document: dict) -> None:
    """ODCS v2.x (and the Data Contract Specification) is another format, not an older v3: one clear
    message instead of the schema's list of everything it lacks."""
    declared = document.get("apiVersion")
    if "dataContractSpecification" in document or (isinstance(declared, str)
                                                   and re.fullmatch(r"v?[0-2](\.\d+)*", declared.strip())):
        found = (declared if isinstance(declared, str)
                 else f"dataContractSpecification {document.get('dataContractSpecification')}")
        raise Invalid(f"The document is {found}; Accord imports ODCS v3.0, v3.1 and v3.2 only (ODCS v2 and the "
                      "Data Contract Specification are not supported).",
                      errors={"document.apiVersion": [f"{found} is not supported; use ODCS v3.0.x, v3.1.0 or v3.2.0."]})


def parse_and_validate(text_or_document) -> tuple[dict, list[str]]:
    """The document, valid against the schema of the version it declares, and any warnings.

    A document that declares an older version but uses features of the latest one
    (the standard's own examples do) is accepted when it validates against the
    latest schema, with a warning saying so.
    """
    notes: list[str] = []  # plain YAML values that YAML 1.1 tools read otherwise (NO, 12:30): said, not hidden
    try:
        document = (odcs.load_document(text_or_document, notes=notes) if isinstance(text_or_document, (str, bytes))
                    else odcs.load_document(json.dumps(text_or_document)))
        _refuse_unsupported_version(document)
        issues = odcs.validate(document)
        if issues and not odcs.validate(document, LATEST_SCHEMA):
            declared = document.get("apiVersion")
            return document, [f"The document declares {declared} but follows ODCS v{LATEST_SCHEMA}; it was "
                              f"validated against v{LATEST_SCHEMA}.", *notes]
    except odcs.OdcsError as exc:  # its text says where (line and column) when it knows
        raise Invalid(f"The document could not be read: {exc}", errors={"document": [str(exc)]}) from exc
    if issues:
        raise Invalid("The document does not follow the ODCS JSON Schema.", errors=_issues_as_errors(issues))
    return document, notes


def _state_refs(version: ContractVersion, reader) -> list[str]:
    states = version.state_definitions.all() if reader is None else \
        StateDefinition.objects.visible_to(reader).filter(contracts=version)
    return [f"{s.workflow.slug}/{s.slug}" for s in states.select_related("workflow").order_by("workflow__slug", "slug")]


def _without_placeholders(value):
    """Terms without the ``{"hidden": n}`` placeholders of ``governance.redaction``: an ODCS document
    has no place for them, so what the reader may not see is simply not in it."""
    if isinstance(value, list):
        return [_without_placeholders(item) for item in value if not redaction.is_placeholder(item)]
    if isinstance(value, dict):
        return {key: _without_placeholders(item) for key, item in value.items()}
    return value


def _terms_for(version: ContractVersion, reader) -> dict:
    """The version's terms as ``reader`` may see them (all of them for None: a system component)."""
    if reader is None:
        return dict(version.terms)
    terms = dict(_without_placeholders(redaction.terms_for(reader, version)))
    refs = terms.get("state_definitions")
    if version.residual and isinstance(refs, list) and refs:
        # An imported document's references: those naming a state the reader may not see are left out.
        hidden = set(_state_labels(StateDefinition.objects.all(), refs)) - set(
            _state_labels(StateDefinition.objects.visible_to(reader), refs))
        terms["state_definitions"] = [ref for ref in refs if ref not in hidden]
    return terms


def _state_labels(states, refs: list) -> list[str]:
    slugs = {str(ref).partition("/")[2] for ref in refs}
    return [f"{workflow}/{slug}" for workflow, slug in
            states.filter(slug__in=slugs).values_list("workflow__slug", "slug")]


def _states_for(refs: list) -> list[StateDefinition]:
    found = []
    for ref in refs or []:
        workflow_slug, _, state_slug = str(ref).partition("/")
        state = StateDefinition.objects.filter(workflow__slug=workflow_slug, slug=state_slug).first()
        if state is not None and state.versions.filter(status=VersionStatus.APPROVED).exists():
            found.append(state)
    return found


def _check_length(model, field_name: str, value: str, key: str) -> None:
    """A 400 naming the document's `key` when `value` is longer than the model field it is stored in."""
    limit = model._meta.get_field(field_name).max_length
    if len(value) > limit:
        message = (f"The document's {key} is {len(value):,} characters long; a contract {field_name} has at most "
                   f"{limit}.")
        raise Invalid(message, errors={f"document.{key}": [f"At most {limit} characters."]})


def _free_slug(name: str) -> str:
    """The slug of `name`, made unique: contracts whose names differ only in what a slug drops or cuts off
    ("Orders (EU)" and "Orders, EU"; two long names sharing their first 200 characters) get -2, -3..."""
    limit = DataContract._meta.get_field("slug").max_length
    base = slugify(name)[:limit].strip("-") or f"contract-{uuid.uuid4().hex[:8]}"
    taken = set(DataContract._base_manager.filter(slug__startswith=base[: limit - 8]).values_list("slug", flat=True))
    slug, number = base, 1
    while slug in taken:
        number += 1
        suffix = f"-{number}"
        slug = base[: limit - len(suffix)] + suffix
    return slug


@transaction.atomic
def import_document(document_text, *, producer: Department | None, consumers: list[Department],
                    contract: DataContract | None, actor, system=None) -> tuple[ContractVersion, list[str]]:
    """A new draft version (and, unless ``contract`` is given, a new contract) from an ODCS document,
    with the warnings the import raised. Its datasets are those its schema objects name, in ``system``
    or the System its ``servers`` match (``governance.services.odcs_mapping``)."""
    document, warnings = parse_and_validate(document_text)
    parts = odcs.split(document)
    mapping = odcs_mapping.map_datasets(document, parts.terms.get("schema"), system=system, actor=actor,
                                        contract=contract)
    warnings = [*warnings, *mapping.warnings]
    meta = parts.meta
    version_label = str(meta.get("version") or "")
    _check_length(ContractVersion, "version", version_label, "version")
    if contract is None:
        if producer is None or not consumers:
            raise Invalid("A new contract needs its producer and at least one consumer department.",
                          errors={"producer": ["Name the producing department."]} if producer is None
                          else {"consumers": ["Name at least one consuming department."]})
        key = next((key for key in ("name", "dataProduct", "id") if meta.get(key)), None)
        name = str(meta[key]) if key else "Imported contract"
        _check_length(DataContract, "name", name, key or "name")
        if DataContract.objects.filter(name=name).exists():
            raise Invalid(f"A contract named {name!r} already exists; import into it by naming it as the contract.",
                          errors={"contract": [f"{name!r} exists."]})
        slug = _free_slug(name)
        description = meta.get("description") if isinstance(meta.get("description"), dict) else {}
        contract = DataContract.objects.create(name=name, slug=slug, producer=producer,
                                               description=str(description.get("purpose") or ""))
        contract.consumers.set(consumers)
    version = contract_services.create_version(
        contract=contract, version=version_label, terms=parts.terms, meta=meta, residual=parts.residual,
        state_definitions=_states_for(parts.terms.get("state_definitions")), datasets=mapping.datasets, actor=actor)
    return version, warnings


def export_document(version: ContractVersion, *, reader=None) -> dict:
    """The version as an ODCS document: exactly what was imported, or a fresh v3.1 document.

    For a ``reader`` (a person), what they may see of it: schema objects describing datasets they
    may not see, fields they may not see, the quality rules on those, and states they may not see
    are left out (``governance.redaction``); an imported document is otherwise as imported.
    """
    terms = _terms_for(version, reader)
    if not version.residual:
        terms["state_definitions"] = _state_refs(version, reader)
        contract = version.contract
        meta = {
            "id": str(version.meta.get("id") or f"accord-contract-{contract.slug}"),
            "name": contract.name, "version": version.version, "status": ODCS_STATUS[version.status],
            "domain": contract.producer.slug,
        }
        if contract.description:
            meta["description"] = {"purpose": contract.description}
        return odcs.from_terms(meta, terms)
    parts = odcs.ContractParts(meta=version.meta, terms=version.terms, residual=version.residual)
    return odcs.join(odcs.narrowed(parts, terms) if terms != version.terms else parts)


def render(document: dict, fmt: str) -> tuple[str, str]:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False), "application/json"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "application/yaml"
