"""Source tables and contracts for the compliance benchmark (``bench.compliance_bench``).

**The warehouse** is a PostgreSQL database of its own (as a real source would be), filled with
set-based SQL, deterministically:

* ``staging.stg_leads``: ``BIG_ROWS`` (1,000,000) leads with the columns of the demo's lead hand-off
  contract (``governance.demo``) and planted violations of its quality rules: 10 NULL lead ids, 300
  rows sharing a lead id with the next row, 400 unknown statuses, 728 scores outside 0–100 (and 20,000
  NULL scores, which the range rule ignores), 700 malformed emails and 500 NULL emails; the newest
  ``updated_at`` is a minute old, so freshness passes;
* ``e2e.leads_000`` … ``e2e.leads_099``: ``SMALL_TABLES`` tables of ``SMALL_ROWS`` (1,000) leads
  with the same columns; every tenth table has a few violations (a duplicate id, an unknown status),
  the others none.

**The contracts** (in the application database) use the demo contract's quality rules
(``governance.demo.HANDOFF_TERMS``: not_null and unique on lead_id, accepted_values on lead_status,
range on lead_score, pattern on email, row_count, freshness on updated_at) over one small table each
(contract ``k`` covers ``e2e.leads_{k mod 100}``). The first is made through the services, exactly as
``tests/governance/compliance_fixtures.py`` makes one (``create_version``, ``propose``, both parties'
``sign``, which activates it); the others are copies of it written with ``bulk_create`` (no audit
records, no schedule), each with its own terms, its content hash computed by
``governance.services.contracts.version_hash`` and the two parties' signatures over that hash, so
the metadata checks accept them (the benchmark checks that no metadata check fails in any run).
"""

from __future__ import annotations

import copy
import datetime as dt

BIG_TABLE = "staging.stg_leads"
BIG_ROWS = 1_000_000
SMALL_TABLES = 100
SMALL_ROWS = 1_000
FAILING_EVERY = 10  # every tenth small table has violations
SOURCE_ENV = "ACCORD_BENCH_WAREHOUSE_DSN"
STATUSES = ["raw", "engaged", "mql", "sql", "customer", "disqualified"]
FIELDS = [  # (name, type) as the contract's schema declares them
    ("lead_id", "varchar(24)"), ("email", "varchar(255)"), ("company", "varchar(255)"),
    ("lead_status", "varchar(32)"), ("lead_score", "integer"), ("email_opt_out", "boolean"),
    ("created_at", "timestamp"), ("updated_at", "timestamp"),
]

_COLUMNS = """
    lead_id varchar(24), salesforce_lead_id varchar(24), marketo_lead_id varchar(24), email varchar(255),
    first_name varchar(80), last_name varchar(80), company varchar(255), lead_source varchar(32),
    lead_status varchar(32), lead_score integer, is_converted boolean, converted_account_id varchar(24),
    email_opt_out boolean, created_at timestamp, updated_at timestamp
"""


def _rows_sql(table: str, violations: str) -> str:
    """INSERT … SELECT of leads i = 1..%(rows)s; ``violations`` is 'big', 'some' or 'none'."""
    big, some = violations == "big", violations == "some"
    lead_id = ("CASE WHEN i %% 100000 = 77 THEN NULL "
               "WHEN i %% 3333 = 0 THEN '00Q' || lpad((i + 1)::text, 15, '0') "
               "ELSE '00Q' || lpad(i::text, 15, '0') END") if big else \
        ("CASE WHEN i = 500 THEN '00Q' || lpad('501', 15, '0') ELSE '00Q' || lpad(i::text, 15, '0') END"
         if some else "'00Q' || lpad(i::text, 15, '0')")
    email = ("CASE WHEN i %% 2000 = 1 THEN NULL WHEN i %% 1429 = 7 THEN 'lead' || i || '-at-nowhere' "
             "ELSE 'lead' || i || '@customer' || (i %% 37) || '.example.com' END") if big else \
        "'lead' || i || '@customer' || (i %% 37) || '.example.com'"
    status = ("CASE WHEN i %% 2500 = 11 THEN 'junk' ELSE (%(statuses)s::text[])[1 + i %% 6] END" if big else
              "CASE WHEN i = 700 THEN 'junk' ELSE (%(statuses)s::text[])[1 + i %% 6] END" if some else
              "(%(statuses)s::text[])[1 + i %% 6]")
    score = ("CASE WHEN i %% 50 = 0 THEN NULL WHEN i %% 2500 = 13 THEN 150 WHEN i %% 3001 = 5 THEN -1 "
             "ELSE (i * 7) %% 101 END") if big else "(i * 7) %% 101"
    return f"""
        INSERT INTO {table}
        SELECT {lead_id},
               CASE WHEN i %% 3 = 0 THEN NULL ELSE '00Q' || lpad(i::text, 15, '0') END,
               CASE WHEN i %% 3 = 0 THEN 'mk' || i ELSE NULL END,
               {email}, 'First' || i, 'Last' || i, 'Customer ' || (i %% 37),
               (ARRAY['web', 'event', 'partner'])[1 + i %% 3],
               {status}, {score},
               i %% 6 = 4, CASE WHEN i %% 6 = 4 THEN '001' || lpad(i::text, 15, '0') END, i %% 11 = 0,
               %(now)s - (1 + i %% 300) * interval '1 day',
               %(now)s - interval '1 minute' - (i %% 720) * interval '1 hour'
        FROM generate_series(1, %(rows)s) AS i
    """


def create_big_table(cursor, rows: int = BIG_ROWS) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    cursor.execute("CREATE SCHEMA IF NOT EXISTS staging")
    cursor.execute(f"CREATE TABLE {BIG_TABLE} ({_COLUMNS})")
    cursor.execute(_rows_sql(BIG_TABLE, "big"), {"rows": rows, "statuses": STATUSES, "now": now})
    cursor.execute(f"VACUUM ANALYZE {BIG_TABLE}")


def small_table(index: int) -> str:
    return f"e2e.leads_{index:03d}"


def create_small_tables(cursor, tables: int = SMALL_TABLES, rows: int = SMALL_ROWS) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    cursor.execute("CREATE SCHEMA IF NOT EXISTS e2e")
    for index in range(tables):
        table = small_table(index)
        cursor.execute(f"CREATE TABLE {table} ({_COLUMNS})")
        violations = "some" if index % FAILING_EVERY == 0 else "none"
        cursor.execute(_rows_sql(table, violations), {"rows": rows, "statuses": STATUSES, "now": now})
    cursor.execute("ANALYZE")


def handoff_rules(table_name: str = "stg_leads") -> list:
    """The demo contract's quality rules as ``governance.checks.data.Rule`` objects (as the service builds them)."""
    from governance.checks import data as data_checks
    from governance.demo import HANDOFF_TERMS

    rules = []
    for index, rule in enumerate(HANDOFF_TERMS["quality"]):
        field = rule.get("field")
        rules.append(data_checks.Rule(key=f"data:{table_name}:{field or '*'}:{rule['rule']}:{index}",
                                      rule=rule["rule"], field=field, params=rule.get("params") or {},
                                      severity=rule.get("severity")))
    return rules


def contract_terms(physical_name: str) -> dict:
    from governance.demo import HANDOFF_TERMS

    terms = copy.deepcopy(HANDOFF_TERMS)
    terms["schema"][0].update(name="leads", physical_name=physical_name)
    for rule in terms["quality"]:
        rule["object"] = "leads"
    terms.pop("schedule")  # no periodic task: the benchmark enqueues the checks itself
    terms["notice_period_days"] = 0
    terms["schema"][0]["fields"] = [{**spec} for spec in terms["schema"][0]["fields"]
                                    if spec["name"] in dict(FIELDS)]
    return terms


def create_contracts(count: int, tables: int = SMALL_TABLES) -> dict:
    """``count`` active contracts over the small tables (see the module docstring); returns what was made."""
    import time

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from catalog.models import Dataset, Department, DepartmentMembership, Field, System
    from governance import terms as terms_module
    from governance.choices import ChangeClass, ContractStatus
    from governance.models import ContractSignature, ContractVersion, DataContract
    from governance.services import contracts as contract_services
    from permissions.context import system_actor

    started = time.perf_counter()
    users = get_user_model().objects
    with system_actor("bench", reason="Compliance benchmark setup"), transaction.atomic():
        marketing = Department.objects.create(name="Marketing", slug="marketing")
        sales = Department.objects.create(name="Sales", slug="sales")
        maria = users.create_user(username="maria", first_name="Maria")
        sofia = users.create_user(username="sofia", first_name="Sofia")
        sam = users.create_user(username="sam", first_name="Sam")
        DepartmentMembership.objects.create(user=maria, department=marketing, role="lead")
        DepartmentMembership.objects.create(user=sam, department=marketing, role="steward")
        DepartmentMembership.objects.create(user=sofia, department=sales, role="lead")
        system = System.objects.create(name="Warehouse", slug="warehouse", kind="warehouse",
                                       connection_engine="postgresql", connection_env=SOURCE_ENV)
        datasets = []
        for index in range(tables):
            dataset = Dataset.objects.create(system=system, qualified_name=small_table(index),
                                             name=f"Leads {index:03d}", owner_department=marketing)
            Field.objects.bulk_create([
                Field(dataset=dataset, name=name, data_type=data_type, position=position, owner=sam,
                      owner_department=marketing, nullable=name != "lead_id", is_key=False)
                for position, (name, data_type) in enumerate(FIELDS, start=1)])
            datasets.append(dataset)

    # The first contract through the services, as a person would make it.
    with system_actor("bench", reason="Compliance benchmark setup"):
        first = DataContract.objects.create(name="Lead hand-off 0000", slug="lead-handoff-0000", producer=marketing)
        first.consumers.set([sales])
        first.datasets.set([datasets[0]])
        version = contract_services.create_version(contract=first, version="1.0.0",
                                                   terms=contract_terms(small_table(0)), actor=maria)
        contract_services.propose(version, actor=maria)
        contract_services.sign(version, department=marketing, actor=maria)
        contract_services.sign(version, department=sales, actor=sofia)
        version.refresh_from_db()
        if version.status != ContractStatus.ACTIVE:
            raise RuntimeError(f"The service-made contract is {version.status}, not active")
    service_seconds = time.perf_counter() - started

    # The others: copies of its shape, written in bulk.
    now = version.activated_at
    with transaction.atomic():
        contracts = DataContract.objects.bulk_create([
            DataContract(name=f"Lead hand-off {k:04d}", slug=f"lead-handoff-{k:04d}", producer=marketing)
            for k in range(1, count)])
        DataContract.consumers.through.objects.bulk_create([
            DataContract.consumers.through(datacontract_id=c.pk, department_id=sales.pk) for c in contracts])
        DataContract.datasets.through.objects.bulk_create([
            DataContract.datasets.through(datacontract_id=c.pk, dataset_id=datasets[k % tables].pk)
            for k, c in enumerate(contracts, start=1)])
        versions = []
        for k, contract in enumerate(contracts, start=1):
            terms = contract_terms(small_table(k % tables))
            terms_module.validate(terms)
            versions.append(ContractVersion(
                contract=contract, version="1.0.0", status=ContractStatus.ACTIVE, terms=terms,
                change_class=ChangeClass.INITIAL, changes=[], created_by=maria, proposed_at=now, activated_at=now))
        ContractVersion.objects.bulk_create(versions)
        for item in versions:
            item.content_hash = contract_services.version_hash(item)
        ContractVersion.objects.bulk_update(versions, ["content_hash"])
        ContractSignature.objects.bulk_create([
            ContractSignature(version=item, department=department, signed_by=signer, content_hash=item.content_hash)
            for item in versions for department, signer in ((marketing, maria), (sales, sofia))])
    return {"contracts": count, "tables": tables, "service_made": 1, "bulk_made": count - 1,
            "service_seconds": round(service_seconds, 2),
            "seconds": round(time.perf_counter() - started, 2)}
