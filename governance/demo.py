"""The demo company's governance: the Lead lifecycle, systems of record and the
"Marketing → Sales lead hand-off" contract, approved and signed by the demo leads.

Loaded after the catalog demo (``manage.py load_demo``). Idempotent: objects are
keyed by slug, and each workflow step (approve, sign) runs only if it has not
happened yet, so a second run changes nothing.
"""

from __future__ import annotations

import datetime
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from catalog.demo import CREATED, UNCHANGED, DemoLoadResult, _upsert
from catalog.models import Dataset, Department, Field, System
from governance.choices import ContractStatus, DesignationStatus, StateScope, VersionStatus
from governance.models import (
    BusinessEntity,
    DataContract,
    EntityAttribute,
    StateDefinition,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from governance.services.common import acting_as

WAREHOUSE = "analytics-warehouse"
COUNCIL_CHAIR = "dana.data"  # the Data Platform lead chairs the DataOps council in the demo
PLAIN_READER = "lena.marketing"  # a Marketing member who only reads (the "Readers" group)

# One account per role that can sign in (every other demo person cannot): username, what they do.
DEMO_LOGINS = [
    (COUNCIL_CHAIR, "DataOps council member"),
    ("maria.marketing", "Marketing lead"),
    ("sofia.sales", "Sales lead"),
    ("sam.marketing", "Marketing steward"),
    ("hannah.hr", "HR lead"),
    (PLAIN_READER, "reader"),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str | None  # set only when this run gave the account its password


def ensure_demo_logins(*, actor) -> list[DemoLogin]:
    """Give each account of ``DEMO_LOGINS`` a generated password, once: an account that already
    has a usable password keeps it (``password`` is then None), as ``ensure_admin`` does. The
    plain reader is put in the "Readers" group (leads and stewards are in theirs through their
    memberships, the council chair by ``load_governance_demo``)."""
    from permissions.council import READERS_GROUP

    user_model = get_user_model()
    logins = []
    with acting_as(actor), transaction.atomic():
        reader = user_model.objects.get(username=PLAIN_READER)
        readers = Group.objects.get(name=READERS_GROUP)
        if not reader.groups.filter(pk=readers.pk).exists():
            reader.groups.add(readers)
        for username, role in DEMO_LOGINS:
            user = user_model.objects.select_for_update().get(username=username)
            password = None
            if not user.has_usable_password():
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
            logins.append(DemoLogin(username, role, password))
    return logins

# slug, name, bounded context, owner department, [(attribute, identifier?)], datasets holding its records
ENTITIES = [
    ("lead", "Lead", "Marketing", "marketing", [("email", False), ("lead_status", False)],
     [("marketo", "leads"), ("salesforce", "Lead"), (WAREHOUSE, "staging.stg_leads")]),
    ("account", "Account", "Sales", "sales", [("account_id", True)],
     [("salesforce", "Account"), (WAREHOUSE, "marts.dim_account")]),
    ("customer", "Customer", "Billing", "finance", [("customer_id", True), ("billing_email", False)],
     [("netsuite", "customer"), ("stripe", "subscriptions"), (WAREHOUSE, "marts.dim_customer")]),
    ("ticket", "Ticket", "Support", "customer-success", [("ticket_id", True)],
     [("zendesk", "tickets"), (WAREHOUSE, "marts.fct_tickets")]),
    ("invoice", "Invoice", "Billing", "finance", [("invoice_number", True)],
     [("netsuite", "invoice"), ("stripe", "invoices"), (WAREHOUSE, "marts.fct_invoices")]),
]

# entity, attribute or None, system, dataset, field, rationale
DESIGNATIONS = [
    ("lead", None, "salesforce", "Lead", None, "Sales works leads in Salesforce; Marketo only feeds it."),
    ("account", None, "salesforce", "Account", None, "Accounts are created and owned by Sales in Salesforce."),
    ("customer", "customer_id", "netsuite", "customer", "internalId",
     "Finance issues customer numbers when the first invoice is raised in NetSuite."),
    ("ticket", None, "zendesk", "tickets", None, "Support works every ticket in Zendesk."),
    ("invoice", None, "netsuite", "invoice", None, "NetSuite is the book of record for invoicing."),
]

MQL_CRITERIA = {"all": [
    {"field": "email", "op": "is_not_null"},
    {"field": "company", "op": "is_not_null"},
    {"field": "lead_score", "op": "gte", "value": 60},
    {"field": "email_opt_out", "op": "eq", "value": False},
]}

# slug, name, value, owner, scope, stakeholders, definition, criteria
STATES = [
    ("raw", "Raw", "raw", "marketing", StateScope.DOMAIN, [],
     "A person we know of, not yet engaged: captured by a form, a list import or an event badge scan.",
     {"field": "email", "op": "is_not_null"}),
    ("mql", "MQL", "mql", "marketing", StateScope.DOMAIN, [],
     "Marketing-qualified lead: a reachable person at a named company whose engagement score reached 60 and "
     "who has not opted out of email.", MQL_CRITERIA),
    ("sql", "SQL", "sql", "sales", StateScope.ENTERPRISE, ["marketing", "sales"],
     "Sales-qualified lead: an MQL that an SDR accepted after a first conversation confirmed need and budget.",
     {"all": [*MQL_CRITERIA["all"], {"field": "lead_source", "op": "is_not_null"}]}),
    ("opportunity", "Opportunity", "opportunity", "sales", StateScope.DOMAIN, [],
     "A converted lead with an account and an open opportunity.",
     {"all": [{"field": "is_converted", "op": "eq", "value": True},
              {"field": "converted_account_id", "op": "is_not_null"}]}),
    ("customer", "Customer", "customer", "finance", StateScope.ENTERPRISE, ["sales", "finance", "customer-success"],
     "A converted lead whose account has a paid invoice.",
     {"all": [{"field": "is_converted", "op": "eq", "value": True},
              {"field": "converted_account_id", "op": "is_not_null"}]}),
]

HANDOFF_TERMS: dict[str, Any] = {
    "schema": [{
        "name": "stg_leads", "physical_name": "staging.stg_leads", "physical_type": "table",
        "description": "One row per person in the funnel, handed from Marketing to Sales.",
        "fields": [
            {"name": "lead_id", "type": "varchar(24)", "logical_type": "string", "required": True, "unique": True,
             "primary_key": True, "description": "Salesforce Lead Id, or 'mkto-' plus the Marketo id."},
            {"name": "email", "type": "varchar(255)", "logical_type": "string", "required": False,
             "classification": "pii", "description": "Lower-cased, trimmed email."},
            {"name": "company", "type": "varchar(255)", "logical_type": "string", "required": False},
            {"name": "lead_status", "type": "varchar(32)", "logical_type": "string", "required": True},
            {"name": "lead_score", "type": "integer", "logical_type": "integer", "required": False},
            {"name": "email_opt_out", "type": "boolean", "logical_type": "boolean", "required": True},
            {"name": "created_at", "type": "timestamp", "logical_type": "timestamp", "required": True},
            {"name": "updated_at", "type": "timestamp", "logical_type": "timestamp", "required": True},
        ],
    }],
    "quality": [
        {"object": "stg_leads", "field": "lead_id", "rule": "not_null", "params": {}, "severity": "error"},
        {"object": "stg_leads", "field": "lead_id", "rule": "unique", "params": {}, "severity": "error"},
        {"object": "stg_leads", "field": "lead_status", "rule": "accepted_values", "severity": "error",
         "params": {"values": ["raw", "engaged", "mql", "sql", "customer", "disqualified"]}},
        {"object": "stg_leads", "field": "lead_score", "rule": "range", "params": {"min": 0, "max": 100},
         "severity": "warning"},
        {"object": "stg_leads", "field": "email", "rule": "pattern", "severity": "warning",
         "params": {"pattern": "^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$"}},
        {"object": "stg_leads", "field": None, "rule": "row_count", "params": {"operator": ">=", "value": 1},
         "severity": "error"},
        {"object": "stg_leads", "field": "updated_at", "rule": "freshness", "params": {"max_age_hours": 24},
         "severity": "error"},
    ],
    "sla": {"freshness_hours": 24, "availability_percent": 99.5, "response_time_hours": 4},
    "support_channel": "#lead-handoff",
    "schedule": "*/5 * * * *",  # every five minutes, so a demo shows checks running
    "notice_period_days": 30,
}


# The demo warehouse's format, kept in the file's ``PRAGMA user_version``: a file of this
# format is left alone; the single untyped table an earlier demo wrote is replaced (harvesting it
# would mark every other warehouse dataset "removed from source").
WAREHOUSE_FORMAT = 2

# Constraints the warehouse declares beside each table's key (which comes from the catalog demo):
# unique constraints and foreign keys, which a harvest records as unique keys and field relationships.
WAREHOUSE_UNIQUE: dict[str, list[tuple[str, ...]]] = {
    "marts.dim_account": [("salesforce_account_id",)],
    "marts.dim_customer": [("netsuite_customer_id",)],
    "marts.fct_invoices": [("source_system", "source_invoice_id")],
    "hr.dim_employee": [("work_email",)],
}
WAREHOUSE_FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {  # column, referenced table, its column
    "marts.fct_opportunities": [("account_key", "marts.dim_account", "account_key")],
    "marts.fct_invoices": [("customer_key", "marts.dim_customer", "customer_key")],
    "marts.fct_subscriptions": [("customer_key", "marts.dim_customer", "customer_key")],
    "marts.fct_tickets": [("account_key", "marts.dim_account", "account_key")],
    "marts.fct_customer_health": [("customer_key", "marts.dim_customer", "customer_key")],
    "hr.dim_employee": [("manager_employee_id", "hr.dim_employee", "employee_id")],
}

# The planted drift: after the first harvest this contracted column is dropped from the leads
# table, so the next harvest finds a breaking change (the contract requires it). No quality rule,
# state criterion or lineage edge reads it, so the rest of the demo keeps working.
DRIFT_TABLE, DRIFT_COLUMN = "staging.stg_leads", "created_at"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_ddl(spec: dict[str, Any]) -> str:
    """CREATE TABLE for a catalog demo dataset: its fields in order with their registered types,
    NOT NULL where the catalog says so, its key, unique constraints and foreign keys."""
    name = spec["qualified_name"]
    parts = [f"{_quote(f['name'])} {f['data_type']}" + ("" if f["nullable"] else " NOT NULL")
             for f in spec["fields"]]
    if spec["key_fields"]:
        parts.append(f"PRIMARY KEY ({', '.join(map(_quote, spec['key_fields']))})")
    parts += [f"UNIQUE ({', '.join(map(_quote, columns))})" for columns in WAREHOUSE_UNIQUE.get(name, [])]
    parts += [f"FOREIGN KEY ({_quote(column)}) REFERENCES {_quote(target)} ({_quote(target_column)})"
              for column, target, target_column in WAREHOUSE_FOREIGN_KEYS.get(name, [])]
    return f"CREATE TABLE {_quote(name)} ({', '.join(parts)})"


def _is_current_or_foreign(path: Path) -> bool:
    """Whether an existing file is to be left alone: it is of the current format, or it is not
    the earlier demo's single untyped leads table (then it is not ours to replace)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    return version >= WAREHOUSE_FORMAT or tables != {DRIFT_TABLE}


def write_demo_warehouse(path: Path, *, at: datetime.datetime | None = None) -> bool:
    """The demo warehouse as a SQLite file: every dataset the catalog demo registers on the
    analytics warehouse, as a table with the registered types, nullability and keys, and the
    hand-off contract's leads with planted violations.

    Written once (an existing file is left alone, except the untyped one an earlier demo wrote).
    500 leads, of which: 3 share a lead_id with another row (the warehouse declares no key on
    staging.stg_leads, as dbt's models do not), 5 have a status outside the accepted list, 4 have
    a score above 100, 7 have a malformed email, and some claim "mql" without meeting its
    definition (6 planted scores under 60, plus leads that opted out of email). The marts are
    empty: the demo checks only the leads.
    """
    from catalog.demo import DATASETS

    if path.exists():
        if _is_current_or_foreign(path):
            return False
        path.unlink()
    at = (at or datetime.datetime.now(datetime.UTC)).replace(tzinfo=None, microsecond=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    specs = [spec for spec in DATASETS if spec["system"] == WAREHOUSE]
    # Referenced tables first, so each foreign key names a table that exists.
    specs.sort(key=lambda spec: spec["qualified_name"] in WAREHOUSE_FOREIGN_KEYS)
    for spec in specs:
        connection.execute(_table_ddl(spec))
    columns = ("lead_id", "salesforce_lead_id", "marketo_lead_id", "email", "first_name", "last_name", "company",
               "lead_source", "lead_status", "lead_score", "is_converted", "converted_account_id", "email_opt_out",
               "created_at", "updated_at")
    statuses = ["raw", "engaged", "mql", "sql", "customer", "disqualified"]
    rows = []
    for i in range(500):
        status = statuses[i % len(statuses)]
        score = 40 + (i * 7) % 60 if status in ("raw", "engaged", "disqualified") else 60 + (i * 3) % 40
        email = f"lead{i}@customer{i % 37}.example.com"
        lead_id = f"00Q{i:015d}"
        if i < 3:
            lead_id = f"00Q{i + 100:015d}"  # duplicates of rows 100-102
        if 10 <= i < 15:
            status = "junk"
        if 20 <= i < 24:
            score = 150
        if 30 <= i < 37:
            email = f"lead{i}-at-nowhere"
        if status == "mql" and 200 <= i < 240 and sum(1 for r in rows if r[8] == "mql" and r[9] < 60) < 6:
            score = 30
        converted = status in ("customer",)
        created = at - datetime.timedelta(days=1 + i % 300, hours=i % 24)
        rows.append((lead_id, lead_id if i % 3 else None, None if i % 3 else f"mk{i}", email, f"First{i}",
                     f"Last{i}", f"Customer {i % 37}", ["web", "event", "partner"][i % 3], status, score,
                     int(converted), f"001{i:015d}" if converted else None, int(i % 11 == 0),
                     created.isoformat(sep=" "), (at - datetime.timedelta(hours=i % 12)).isoformat(sep=" ")))
    connection.executemany(f"INSERT INTO {_quote(DRIFT_TABLE)} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})", rows)
    connection.execute(f"PRAGMA user_version = {WAREHOUSE_FORMAT}")
    connection.commit()
    connection.close()
    return True


def plant_demo_drift(path: Path) -> bool:
    """Drop ``DRIFT_COLUMN`` from the leads table, once: False when it is gone already."""
    connection = sqlite3.connect(path)
    try:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({_quote(DRIFT_TABLE)})")}
        if DRIFT_COLUMN not in columns:
            return False
        connection.execute(f"ALTER TABLE {_quote(DRIFT_TABLE)} DROP COLUMN {_quote(DRIFT_COLUMN)}")
        connection.commit()
        return True
    finally:
        connection.close()


def harvest_demo_warehouse() -> list:
    """Harvest the demo warehouse; on the first harvest that sees ``DRIFT_COLUMN``, drop it
    from the file and harvest again, so the breaking drift and its incident are in the admin.
    Returns the harvest runs (none when the demo warehouse is not a local SQLite file)."""
    from harvest.models import HarvestTrigger
    from harvest.services import harvest

    path = demo_warehouse_path()
    if path is None or not path.exists():
        return []
    system = System.objects.get(slug=WAREHOUSE)
    runs = [harvest(system, trigger=HarvestTrigger.COMMAND)]
    if plant_demo_drift(path):
        runs.append(harvest(system, trigger=HarvestTrigger.COMMAND))
    return runs


def demo_warehouse_path() -> Path | None:
    dsn = os.environ.get("ACCORD_DEMO_WAREHOUSE_DSN", "")
    return Path(dsn.removeprefix("sqlite:///")) if dsn.startswith("sqlite:///") else None


def load_governance_demo(result: DemoLoadResult, *, actor) -> None:
    """Add the governance part of the demo (call after the catalog demo).

    ``actor`` (``manage.py load_demo``'s system actor) is who the records of the registry's
    plain rows name; each workflow step (proposing, approving, signing) is taken, and
    recorded, as the demo person whose step it is, as the services require."""
    path = demo_warehouse_path()
    if path is not None:
        write_demo_warehouse(path)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[
        "maria.marketing", "sofia.sales", "frank.finance", "chloe.cs", COUNCIL_CHAIR])}
    departments = {d.slug: d for d in Department.objects.all()}
    with acting_as(actor), transaction.atomic():
        chair = users[COUNCIL_CHAIR]
        council = Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP)
        if not chair.groups.filter(pk=council.pk).exists():
            chair.groups.add(council)
            chair = get_user_model().objects.get(pk=chair.pk)  # forget cached permissions
        _load_entities(result, departments, chair)
        states = _load_lifecycle(result, departments, users, chair)
        _load_contract(result, departments, users, states)


def _dataset(system_slug: str, qualified_name: str) -> Dataset:
    return Dataset.objects.get(system__slug=system_slug, qualified_name=qualified_name)


def _load_entities(result: DemoLoadResult, departments: dict[str, Department], chair) -> None:
    entities = {}
    for slug, name, context, owner, attributes, datasets in ENTITIES:
        entity, outcome = _upsert(BusinessEntity, {"slug": slug}, {
            "name": name, "bounded_context": context, "owner_department": departments[owner],
            "description": f"The {name.lower()} as the {context} context knows it."})
        result.record("business entities", outcome)
        wanted = {_dataset(*ref).pk for ref in datasets}
        if set(entity.datasets.values_list("pk", flat=True)) != wanted:
            entity.datasets.set(wanted)
        for attribute, identifier in attributes:
            _, outcome = _upsert(EntityAttribute, {"entity": entity, "name": attribute},
                                 {"is_identifier": identifier})
            result.record("entity attributes", outcome)
        entities[slug] = entity
    for entity_slug, attribute, system, dataset, field, rationale in DESIGNATIONS:
        entity = entities[entity_slug]
        attr = entity.attributes.get(name=attribute) if attribute else None
        if SystemOfRecord.objects.filter(entity=entity, attribute=attr, status=DesignationStatus.ACTIVE).exists():
            result.record("systems of record", UNCHANGED)
            continue
        ds = _dataset(system, dataset)
        designation = entity_services.propose_system_of_record(
            entity=entity, attribute=attr, system=System.objects.get(slug=system), dataset=ds,
            field=Field.objects.get(dataset=ds, name=field) if field else None, rationale=rationale, actor=chair)
        entity_services.approve_system_of_record(designation, actor=chair, reason="Demo: agreed by the council")
        result.record("systems of record", CREATED)


def _load_lifecycle(result, departments, users, chair) -> dict[str, StateDefinition]:
    leads = _dataset(WAREHOUSE, "staging.stg_leads")
    workflow, outcome = _upsert(StateWorkflow, {"slug": "lead-lifecycle"}, {
        "name": "Lead lifecycle", "owner_department": departments["marketing"], "dataset": leads,
        "state_field": Field.objects.get(dataset=leads, name="lead_status"),
        "description": "How a person moves from a first touch to a paying customer."})
    result.record("state workflows", outcome)
    leads_by_department = {"marketing": users["maria.marketing"], "sales": users["sofia.sales"],
                           "finance": users["frank.finance"], "customer-success": users["chloe.cs"]}
    states: dict[str, StateDefinition] = {}
    for position, (slug, name, value, owner, scope, stakeholders, text, criteria) in enumerate(STATES):
        state, outcome = _upsert(StateDefinition, {"workflow": workflow, "slug": slug}, {
            "name": name, "state_value": value, "position": position, "owner_department": departments[owner],
            "scope": scope})
        if {d.slug for d in state.stakeholders.all()} != set(stakeholders):
            state.stakeholders.set([departments[s] for s in stakeholders])
        result.record("state definitions", outcome)
        states[slug] = state
        if state.versions.filter(status=VersionStatus.APPROVED).exists():
            result.record("approved state versions", UNCHANGED)
            continue
        version = state.versions.order_by("-number").first()
        if version is None:
            version = state_services.create_draft(definition=state, definition_text=text, criteria=criteria,
                                                  actor=chair)
        if version.status == VersionStatus.DRAFT:
            # Proposed by the lead of the department that owns the state (its right to propose).
            version = state_services.propose(version, actor=leads_by_department[owner])
        for department in state_services.pending_departments(version):
            state_services.approve(version, department=department, actor=leads_by_department[department.slug])
        result.record("approved state versions", CREATED)
    names = [slug for slug, *_ in STATES]
    for source, target in zip(names, names[1:], strict=False):
        _, outcome = _upsert(StateTransition, {"from_state": states[source], "to_state": states[target]},
                             {"workflow": workflow, "description": f"{states[source].name} to {states[target].name}"})
        result.record("state transitions", outcome)
    return states


def _load_contract(result, departments, users, states) -> None:
    contract, outcome = _upsert(DataContract, {"slug": "marketing-sales-lead-handoff"}, {
        "name": "Marketing → Sales lead hand-off", "producer": departments["marketing"],
        "description": "What Marketing promises Sales about the leads it hands over: which fields, how fresh, "
                       "what an MQL means, and how fast it answers when something is wrong."})
    result.record("contracts", outcome)
    if not contract.consumers.filter(slug="sales").exists():
        contract.consumers.set([departments["sales"]])
    leads = _dataset(WAREHOUSE, "staging.stg_leads")
    if not contract.datasets.filter(pk=leads.pk).exists():
        contract.datasets.set([leads])
    if contract.versions.filter(status=ContractStatus.ACTIVE).exists():
        result.record("contract versions", UNCHANGED)
        return
    version = contract.versions.filter(version="1.0.0").first() or contract_services.create_version(
        contract=contract, version="1.0.0", terms=HANDOFF_TERMS, actor=users["maria.marketing"],
        state_definitions=[states["mql"], states["sql"]])
    if version.status == ContractStatus.DRAFT:
        version = contract_services.propose(version, actor=users["maria.marketing"])
    signers = {"marketing": users["maria.marketing"], "sales": users["sofia.sales"]}
    for department in contract_services.missing_signatures(version):
        contract_services.sign(version, department=department, actor=signers[department.slug])
    result.record("contract versions", CREATED)


