"""A synthetic catalog, generated with set-based SQL straight into the real tables.

Everything is deterministic (no ``random()``): a row's words come from its id through
small modular hashes, so two runs build the same catalog and the search terms below
always match the same number of rows.

Fields per dataset: every tenth dataset has exactly 50 fields (the detail benchmark
reads one of those); the others have 11 to 24, about 20.8 on average: 500 datasets
have 10,398 fields and 50,000 datasets have 1,039,998.

Search terms (see ``SEARCH_TERMS``) have known frequencies (datasets + fields matching,
at 500 / 50,000 datasets):

* ``chargeback`` — a needle, only in rows of the first 500 datasets, so the matches do
  not grow with the catalog: 5 + 26 at both sizes;
* ``reconciliation`` — selective, about 0.1 % of rows: 1 + 9, then 50 + 1,037;
* ``revenue`` — broad, about 3 % of rows: 16 + 320, then 1,516 + 31,517.

No deny rule is created: with the opt-out default every active user sees every row.
The rows are written straight into the tables, without services or audit records:
this is a throwaway database and none of the measured endpoints reads the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

DEPARTMENTS = [
    "Marketing", "Sales", "Finance", "Customer Support", "Human Resources", "Product", "Engineering",
    "Data Platform", "Legal", "Procurement", "Logistics", "Operations", "Security", "Partnerships",
    "Customer Success", "Analytics", "Billing", "Risk", "Compliance", "Growth",
]
SYSTEM_VENDORS = [
    ("Salesforce", "crm"), ("HubSpot", "marketing_automation"), ("Zendesk", "support"), ("Stripe", "billing"),
    ("NetSuite", "erp"), ("Workday", "hris"), ("Snowflake", "warehouse"), ("PostgreSQL", "database"),
    ("S3", "file_store"), ("Kafka", "event_stream"),
]
SYSTEM_REGIONS = ["EU", "US", "APAC", "LATAM", "Global"]
SCHEMAS = ["analytics", "staging", "raw", "mart", "finance", "sales", "marketing", "ops", "hr", "support"]
ENTITIES = [
    "customer", "account", "order", "invoice", "payment", "subscription", "lead", "opportunity", "campaign",
    "ticket", "employee", "shipment", "product", "contract", "refund", "quote", "vendor", "warehouse",
    "session", "pageview", "contact", "territory", "forecast", "budget", "ledger", "asset", "license",
    "partner", "survey", "churn", "cohort", "discount", "coupon", "basket", "carrier", "region", "plan",
]
SUFFIXES = ["daily", "snapshot", "history", "current", "summary", "events", "dim", "fact", "staging", "audit"]
ADJECTIVES = [
    "monthly", "weekly", "active", "closed", "pending", "enriched", "deduplicated", "normalized", "archived",
    "quarterly", "regional", "global", "consolidated", "anonymized", "validated", "aggregated", "cleaned",
]
PURPOSES = [
    "reporting", "forecasting", "billing", "compliance", "segmentation", "attribution", "auditing",
    "planning", "onboarding", "retention", "pricing", "fulfilment", "payroll", "scoring", "routing",
]
# 53 words (a prime above 50): a dataset's field k gets word (7k + dataset) mod 53, which
# differs for every k ≤ 50, so field names are unique within their dataset.
FIELD_WORDS = [
    "id", "name", "email", "phone", "status", "amount", "currency", "created", "updated", "deleted",
    "country", "city", "postcode", "street", "owner", "source", "channel", "score", "rank", "tier",
    "segment", "quantity", "price", "tax", "total", "balance", "due", "paid", "issued", "closed",
    "opened", "stage", "probability", "industry", "employees", "website", "language", "timezone", "birth",
    "gender", "title", "department", "manager", "salary", "hired", "terminated", "sku", "category",
    "brand", "weight", "volume", "margin", "cost",
]
FIELD_SUFFIXES = ["id", "at", "code", "flag", "value", "text", "date", "key"]
DATA_TYPES = ["varchar(255)", "integer", "bigint", "numeric(18,2)", "timestamp", "date", "boolean", "text", "jsonb"]
DATASET_KINDS = ["table", "table", "table", "view", "object", "report", "file", "topic"]
LIFECYCLES = ["active", "active", "active", "active", "draft", "deprecated"]
CLASSIFICATIONS = ["public", "internal", "internal", "confidential", "pii", "restricted"]
TAGS = [
    "gdpr", "revenue-critical", "golden-source", "deprecated-soon", "pii", "finance-close", "sox", "kpi",
    "experimental", "certified", "customer-360", "marketing-ops", "realtime", "batch", "hr-sensitive",
    "reference-data", "external", "internal-only", "board-reporting", "ml-feature", "retention", "legacy",
    "migration", "quality-checked", "sla-gold", "sla-silver", "partner-shared", "audit", "cost-center", "pricing",
]
USERS = 200

NEEDLE_TERM = "chargeback"
SELECTIVE_TERM = "reconciliation"
BROAD_TERM = "revenue"
NEEDLE_LAST_DATASET = 500  # the needle only appears in datasets (and their fields) up to this id


@dataclass(frozen=True)
class SearchTerm:
    label: str
    text: str
    note: str


SEARCH_TERMS = [
    SearchTerm("needle", NEEDLE_TERM, "fixed number of matches at both scales"),
    SearchTerm("selective", SELECTIVE_TERM, "~0.1 % of rows match"),
    SearchTerm("broad", BROAD_TERM, "~3 % of rows match"),
]


def fields_per_dataset_sql(dataset: str) -> str:
    return f"(CASE WHEN {dataset} %% 10 = 0 THEN 50 ELSE 11 + ({dataset} * 5) %% 14 END)"


def expected_field_count(first: int, last: int) -> int:
    return sum(50 if d % 10 == 0 else 11 + (d * 5) % 14 for d in range(first, last + 1))


def _pick(array: str, expression: str) -> str:
    """SQL picking an element of the text[] parameter ``array`` by a non-negative integer expression."""
    return f"(%({array})s::text[])[1 + (({expression}) %% cardinality(%({array})s::text[]))]"


def _params() -> dict:
    return {
        "schemas": SCHEMAS, "entities": ENTITIES, "suffixes": SUFFIXES, "adjectives": ADJECTIVES,
        "purposes": PURPOSES, "field_words": FIELD_WORDS, "field_suffixes": FIELD_SUFFIXES,
        "data_types": DATA_TYPES, "kinds": DATASET_KINDS, "lifecycles": LIFECYCLES,
        "classifications": CLASSIFICATIONS, "needle": NEEDLE_TERM, "selective": SELECTIVE_TERM,
        "broad": BROAD_TERM, "needle_last": NEEDLE_LAST_DATASET,
    }


def create_reference_data(cursor) -> None:
    """Users, departments, systems and tags: the same at every scale."""
    cursor.execute(
        """
        INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        SELECT u, '!', false, 'owner' || lpad(u::text, 3, '0'),
               (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Ken','Margaret','Linus'])[1 + u %% 8],
               (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Thompson','Hamilton'])[1 + u %% 7],
               'owner' || u || '@example.com', false, true, now() - interval '400 days'
        FROM generate_series(1, %(users)s) u
        """,
        {"users": USERS},
    )
    cursor.execute(
        """
        INSERT INTO catalog_department (id, created_at, updated_at, name, slug, description, parent_id)
        SELECT i, now(), now(), name, lower(replace(name, ' ', '-')),
               'The ' || name || ' department: owns its datasets and answers questions about them.', NULL
        FROM unnest(%(names)s::text[]) WITH ORDINALITY AS d(name, i)
        """,
        {"names": DEPARTMENTS},
    )
    systems = [
        (f"{vendor} {region}", kind, vendor)
        for region in SYSTEM_REGIONS for vendor, kind in SYSTEM_VENDORS
    ]
    cursor.execute(
        """
        INSERT INTO catalog_system (id, created_at, updated_at, name, slug, kind, vendor, description,
                                    connection_engine, connection_env, owner_department_id)
        SELECT i, now(), now(), name, lower(replace(name, ' ', '-')), kind, vendor,
               'The ' || name || ' instance (' || vendor || ').', '', '', 1 + (i::int * 3) %% 20
        FROM unnest(%(names)s::text[], %(kinds)s::text[], %(vendors)s::text[]) WITH ORDINALITY
             AS s(name, kind, vendor, i)
        """,
        {"names": [s[0] for s in systems], "kinds": [s[1] for s in systems], "vendors": [s[2] for s in systems]},
    )
    cursor.execute(
        """
        INSERT INTO catalog_tag (id, created_at, updated_at, name, slug, description, color)
        SELECT i, now(), now(), name, name, 'Tagged ' || name || '.', '#3366aa'
        FROM unnest(%(names)s::text[]) WITH ORDINALITY AS t(name, i)
        """,
        {"names": TAGS},
    )
    for table in ("auth_user", "catalog_department", "catalog_system", "catalog_tag"):
        _reset_sequence(cursor, table)


def add_datasets(cursor, first: int, last: int) -> None:
    """Datasets ``first..last`` with all their fields and tags."""
    params = {**_params(), "first": first, "last": last, "systems": len(SYSTEM_REGIONS) * len(SYSTEM_VENDORS),
              "departments": len(DEPARTMENTS), "users": USERS, "tags": len(TAGS)}
    entity = _pick("entities", "d * 7 + d / 50")
    suffix = _pick("suffixes", "d / 3")
    cursor.execute(
        f"""
        INSERT INTO catalog_dataset (
            id, created_at, updated_at, qualified_name, name, kind, description, lifecycle, classification,
            key_fields, sort_order, row_count, size_bytes, source_created_at, published_at, source_modified_at,
            archived_at, steward_id, owner_department_id, system_id)
        SELECT d, now() - (d %% 700) * interval '1 day', now() - (d %% 90) * interval '1 day',
               {_pick("schemas", "d * 3")} || '.' || {entity} || '_' || {suffix} || '_' || d,
               initcap({_pick("adjectives", "d * 5")} || ' ' || {entity} || ' ' || {suffix}) || ' ' || d,
               {_pick("kinds", "d * 11")},
               initcap({_pick("adjectives", "d * 13")}) || ' ' || {entity} || ' records ('
                   || {suffix} || ') used for ' || {_pick("purposes", "d * 17")} || ' and '
                   || {_pick("purposes", "d * 19 + 3")} || ', joined with ' || {_pick("entities", "d * 23 + 1")}
                   || ' and ' || {_pick("entities", "d * 29 + 2")} || ' data.'
                   || CASE WHEN d <= %(needle_last)s AND d %% 100 = 7 THEN ' Includes ' || %(needle)s || ' disputes.'
                           ELSE '' END
                   || CASE WHEN d %% 1000 = 3 THEN ' Input to the ' || %(selective)s || ' process.' ELSE '' END
                   || CASE WHEN d %% 33 = 5 THEN ' Feeds the ' || %(broad)s || ' dashboards.' ELSE '' END,
               {_pick("lifecycles", "d * 7")}, {_pick("classifications", "d * 5")},
               '["id"]'::jsonb, '["created_at"]'::jsonb,
               (d * 7919) %% 10000000, (d::bigint * 104729) %% 1000000000,
               now() - (d %% 2000) * interval '1 day', now() - (d %% 600) * interval '1 day',
               now() - (d %% 30) * interval '1 hour', NULL,
               1 + (d * 13) %% %(users)s, 1 + (d * 7) %% %(departments)s, 1 + (d * 3) %% %(systems)s
        FROM generate_series(%(first)s::int, %(last)s::int) AS d
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO catalog_field (
            created_at, updated_at, name, data_type, nullable, is_key, position, description, classification,
            dataset_id, owner_id, owner_department_id)
        SELECT now() - (d %% 700) * interval '1 day', now() - (d %% 90) * interval '1 day',
               {_pick("field_words", "p * 7 + d")} || '_' || {_pick("field_suffixes", "d + p")},
               {_pick("data_types", "d * 3 + p * 5")},
               p <> 1, p = 1, p,
               'The ' || {_pick("adjectives", "d + p * 11")} || ' ' || {_pick("field_words", "p * 7 + d")}
                   || ' of the ' || {_pick("entities", "d * 7 + d / 50")} || ', as used for '
                   || {_pick("purposes", "d * 5 + p * 3")} || '.'
                   || CASE WHEN d <= %(needle_last)s AND (d * 53 + p) %% 400 = 0
                           THEN ' Set by the ' || %(needle)s || ' workflow.' ELSE '' END
                   || CASE WHEN (d * 31 + p * 17) %% 1000 = 0 THEN ' Checked during ' || %(selective)s || '.'
                           ELSE '' END
                   || CASE WHEN (d * 7 + p * 13) %% 33 = 0 THEN ' Counts towards ' || %(broad)s || '.' ELSE '' END,
               {_pick("classifications", "d + p * 3")},
               d,
               CASE WHEN (d + p) %% 4 = 0 THEN NULL ELSE 1 + (d * 17 + p) %% %(users)s END,
               CASE WHEN (d + p) %% 5 = 0 THEN NULL ELSE 1 + (d + p) %% %(departments)s END
        FROM generate_series(%(first)s::int, %(last)s::int) AS d
        CROSS JOIN LATERAL generate_series(1, {fields_per_dataset_sql("d")}) AS p
        """,
        params,
    )
    # Two datasets in three carry one tag, every fifth a second one.
    cursor.execute(
        """
        INSERT INTO catalog_dataset_tags (dataset_id, tag_id)
        SELECT d, 1 + d %% %(tags)s FROM generate_series(%(first)s::int, %(last)s::int) d WHERE d %% 3 <> 0
        UNION ALL
        SELECT d, 1 + (d + 7) %% %(tags)s FROM generate_series(%(first)s::int, %(last)s::int) d WHERE d %% 5 = 0
        """,
        params,
    )
    # One field in eight carries a tag.
    cursor.execute(
        """
        INSERT INTO catalog_field_tags (field_id, tag_id)
        SELECT f.id, 1 + (f.id %% %(tags)s)
        FROM catalog_field f
        WHERE f.dataset_id BETWEEN %(first)s AND %(last)s AND f.id %% 8 = 0
        """,
        params,
    )
    for table in ("catalog_dataset", "catalog_field", "catalog_dataset_tags", "catalog_field_tags"):
        _reset_sequence(cursor, table)


def _reset_sequence(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
    )


def counts(cursor) -> dict[str, int]:
    result = {}
    for table in ("catalog_dataset", "catalog_field", "catalog_system", "catalog_department", "auth_user"):
        cursor.execute(f"SELECT count(*) FROM {table}")
        result[table] = cursor.fetchone()[0]
    return result
