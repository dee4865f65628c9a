"""The demo company: a mid-size B2B SaaS business and its data, as plain data.

Marketing runs Marketo, Sales (with Revenue Operations) runs Salesforce, Customer
Success runs Zendesk, Finance runs Stripe and NetSuite, and the Data Platform team
(part of Finance) builds the analytics warehouse from all of them. HR keeps its
employee dimension in the warehouse too, restricted.

``load_demo(actor=...)`` writes it idempotently: every object is keyed by its
natural key (slug, username, system + qualified name, the four ends of a lineage
edge) and only what differs is written, so a second run changes nothing — not
even ``updated_at``. Every timestamp in the data is fixed, never "now".
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import models, transaction

from catalog.choices import Classification, ConnectionEngine, DatasetKind, DepartmentRole, Lifecycle, SystemKind
from catalog.models import Dataset, Department, DepartmentMembership, LineageEdge, System, Tag
from catalog.services import register_dataset
from permissions import context
from permissions.models import AccessRule, AccessRuleException

INTERNAL = Classification.INTERNAL
CONFIDENTIAL = Classification.CONFIDENTIAL
PII = Classification.PII
RESTRICTED = Classification.RESTRICTED

WAREHOUSE = "analytics-warehouse"
EMAIL_DOMAIN = "example.com"


def _ascii(text: str) -> str:
    """'chloé' → 'chloe', for email addresses."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _ts(text: str) -> datetime:
    """A fixed UTC timestamp from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Organisation ---------------------------------------------------------------------------------------------------

DEPARTMENTS: list[dict[str, Any]] = [
    {"slug": "marketing", "name": "Marketing", "parent": None,
     "description": "Demand generation, campaigns and events; owns the lead funnel up to the marketing-qualified "
                    "lead (MQL) and the consent records behind every marketing email."},
    {"slug": "sales", "name": "Sales", "parent": None,
     "description": "Account executives and SDRs; own accounts, contacts and the pipeline from sales-qualified "
                    "lead to closed-won."},
    {"slug": "revenue-operations", "name": "Revenue Operations", "parent": "sales",
     "description": "Runs Salesforce for Sales and Marketing: lead routing, stages, forecast categories and "
                    "pipeline reporting."},
    {"slug": "customer-success", "name": "Customer Success", "parent": None,
     "description": "Onboarding, support and renewals; owns Zendesk and the customer-health signals."},
    {"slug": "finance", "name": "Finance", "parent": None,
     "description": "Billing, invoicing, collections and revenue recognition; owns Stripe and NetSuite, the "
                    "system of record for customers and invoices."},
    {"slug": "data-platform", "name": "Data Platform", "parent": "finance",
     "description": "Builds and runs the analytics warehouse and its dbt models; reports to the CFO."},
    {"slug": "hr", "name": "HR", "parent": None,
     "description": "People operations: hiring, payroll and the employee directory. Employee data is restricted "
                    "to HR."},
]

LEAD, STEWARD, MEMBER = DepartmentRole.LEAD, DepartmentRole.STEWARD, DepartmentRole.MEMBER

# username, first name, last name, [(department slug, role)]. Demo people cannot log in (unusable passwords),
# except the accounts of governance.demo.DEMO_LOGINS, one per role.
PEOPLE: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("maria.marketing", "Maria", "Lopez", [("marketing", LEAD)]),
    ("sam.marketing", "Samuel", "Reyes", [("marketing", STEWARD)]),
    ("lena.marketing", "Lena", "Fischer", [("marketing", MEMBER)]),
    ("sofia.sales", "Sofia", "Rossi", [("sales", LEAD)]),
    ("diego.sales", "Diego", "Martins", [("sales", STEWARD)]),
    ("tom.sales", "Tom", "Becker", [("sales", MEMBER)]),
    ("raj.revops", "Raj", "Patel", [("revenue-operations", LEAD), ("sales", MEMBER)]),
    ("nina.revops", "Nina", "Kowalski", [("revenue-operations", STEWARD), ("marketing", MEMBER)]),
    ("chloe.cs", "Chloé", "Martin", [("customer-success", LEAD)]),
    ("omar.cs", "Omar", "Haddad", [("customer-success", STEWARD)]),
    ("priya.cs", "Priya", "Nair", [("customer-success", MEMBER)]),
    ("frank.finance", "Frank", "Müller", [("finance", LEAD)]),
    ("fatima.finance", "Fatima", "Zahra", [("finance", STEWARD)]),
    ("dana.data", "Dana", "Kim", [("data-platform", LEAD)]),
    ("devon.data", "Devon", "Clarke", [("data-platform", STEWARD), ("finance", MEMBER)]),
    ("hannah.hr", "Hannah", "Schmidt", [("hr", LEAD)]),
    ("henrik.hr", "Henrik", "Larsen", [("hr", STEWARD)]),
]

TAGS: list[dict[str, str]] = [
    {"slug": "pii", "name": "pii", "color": "#d73a49",
     "description": "Personal data: identifies a person directly or indirectly."},
    {"slug": "gdpr", "name": "gdpr", "color": "#6f42c1",
     "description": "In scope of GDPR subject-access and erasure requests."},
    {"slug": "revenue", "name": "revenue", "color": "#28a745",
     "description": "Feeds bookings, ARR or recognised revenue."},
    {"slug": "financial-reporting", "name": "financial-reporting", "color": "#0366d6",
     "description": "Used in the monthly close and audited financial statements (SOX controls apply)."},
    {"slug": "funnel", "name": "funnel", "color": "#f66a0a",
     "description": "Part of the lead-to-customer funnel (Lead lifecycle)."},
    {"slug": "customer-support", "name": "customer-support", "color": "#17a2b8",
     "description": "Support interactions and customer health."},
    {"slug": "hr-restricted", "name": "hr-restricted", "color": "#b31d28",
     "description": "Employee data; only HR may read it."},
]

SYSTEMS: list[dict[str, Any]] = [
    {"slug": "salesforce", "name": "Salesforce", "kind": SystemKind.CRM, "vendor": "Salesforce",
     "owner_department": "revenue-operations",
     "description": "Sales Cloud: leads, accounts, contacts and opportunities. System of record for accounts "
                    "and the sales pipeline."},
    {"slug": "marketo", "name": "Marketo", "kind": SystemKind.MARKETING_AUTOMATION, "vendor": "Adobe",
     "owner_department": "marketing",
     "description": "Marketo Engage: forms, campaigns, lead scoring and email consent. Syncs qualified leads to "
                    "Salesforce."},
    {"slug": "zendesk", "name": "Zendesk", "kind": SystemKind.SUPPORT, "vendor": "Zendesk",
     "owner_department": "customer-success",
     "description": "Zendesk Support: tickets from email, chat and the help centre."},
    {"slug": "stripe", "name": "Stripe", "kind": SystemKind.BILLING, "vendor": "Stripe",
     "owner_department": "finance",
     "description": "Stripe Billing for self-serve plans: subscriptions, invoices and card payments."},
    {"slug": "netsuite", "name": "NetSuite", "kind": SystemKind.ERP, "vendor": "Oracle",
     "owner_department": "finance",
     "description": "NetSuite ERP: the general ledger, the customer master and sales-led invoicing. System of "
                    "record for customers and invoices."},
    {"slug": WAREHOUSE, "name": "Analytics warehouse", "kind": SystemKind.WAREHOUSE, "vendor": "SQLite (demo)",
     "owner_department": "data-platform",
     "connection_engine": ConnectionEngine.SQLITE, "connection_env": "ACCORD_DEMO_WAREHOUSE_DSN",
     "description": "The analytics warehouse: staging models and dimensional marts built nightly by dbt from the "
                    "SaaS sources. In the demo it is a SQLite file whose DSN is in ACCORD_DEMO_WAREHOUSE_DSN."},
]


# --- Datasets and fields --------------------------------------------------------------------------------------------

PERSONAL: dict[str, Any] = {"classification": PII, "tags": ("pii", "gdpr")}
MONEY: dict[str, Any] = {"classification": CONFIDENTIAL, "tags": ("revenue",)}


def _f(
    name: str,
    data_type: str,
    description: str,
    *,
    key: bool = False,
    null: bool = True,
    classification: str = INTERNAL,
    tags: tuple[str, ...] = (),
    owner: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One field. ``owner`` is (department slug, username); by default the dataset's field owner."""
    return {
        "name": name, "data_type": data_type, "description": description, "is_key": key,
        "nullable": null and not key, "classification": classification, "tags": tags, "owner": owner,
    }


# Field owners that differ from their dataset's: the lead status is Revenue Operations' definition,
# marketing consent and contact data belong to Marketing wherever they land.
REVOPS = ("revenue-operations", "nina.revops")
MARKETING = ("marketing", "sam.marketing")
FINANCE = ("finance", "fatima.finance")
SALES = ("sales", "diego.sales")

DATASETS: list[dict[str, Any]] = [
    # Marketo
    {
        "system": "marketo", "qualified_name": "leads", "name": "Marketo leads", "kind": DatasetKind.OBJECT,
        "description": "Every person who filled in a form, attended a webinar or was imported from an event list. "
                       "Scored on fit and behaviour; synced to Salesforce once they reach MQL.",
        "owner_department": "marketing", "steward": "sam.marketing",
        "classification": PII, "tags": ("pii", "gdpr", "funnel"),
        "key_fields": ["id"], "sort_order": ["updatedAt"], "row_count": 412_318,
        "source_created_at": "2018-06-11 08:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-30 23:10",
        "fields": [
            _f("id", "integer", "Marketo lead id.", key=True),
            _f("email", "string(255)", "Email address given on the form; matching key to Salesforce leads.",
               null=False, **PERSONAL),
            _f("firstName", "string(255)", "First name.", **PERSONAL),
            _f("lastName", "string(255)", "Last name.", **PERSONAL),
            _f("phone", "string(255)", "Phone number as typed on the form.", **PERSONAL),
            _f("company", "string(255)", "Company name as typed on the form."),
            _f("leadSource", "string(255)", "First-touch channel: Webinar, Paid Search, Organic, Event, Referral."),
            _f("leadScore", "integer", "Fit + behaviour score; a lead becomes an MQL at 100."),
            _f("leadStatus", "string(255)", "Marketing funnel state: Raw, Engaged, MQL, Recycled.",
               tags=("funnel",)),
            _f("unsubscribed", "boolean", "The person opted out of marketing email; never email when true.",
               null=False, tags=("gdpr",)),
            _f("sfdcLeadId", "string(18)", "Salesforce Lead id once the lead has been synced."),
            _f("createdAt", "datetime", "When the lead was created in Marketo.", null=False),
            _f("updatedAt", "datetime", "When the lead last changed in Marketo.", null=False),
        ],
    },
    # Salesforce
    {
        "system": "salesforce", "qualified_name": "Lead", "name": "Salesforce leads", "kind": DatasetKind.OBJECT,
        "description": "Leads worked by SDRs: synced MQLs from Marketo plus leads created by hand. Converted into "
                       "an Account, a Contact and usually an Opportunity when qualified.",
        "owner_department": "marketing", "steward": "sam.marketing",
        "classification": PII, "tags": ("pii", "gdpr", "funnel"),
        "key_fields": ["Id"], "sort_order": ["CreatedDate"], "row_count": 184_220,
        "source_created_at": "2017-02-01 10:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-31 06:45",
        "fields": [
            _f("Id", "id(18)", "Salesforce record id.", key=True),
            _f("FirstName", "string(40)", "First name.", **PERSONAL),
            _f("LastName", "string(80)", "Last name.", null=False, **PERSONAL),
            _f("Email", "email", "Work email address.", **PERSONAL),
            _f("Phone", "phone", "Direct phone number.", **PERSONAL),
            _f("Company", "string(255)", "Company the lead works for.", null=False),
            _f("Title", "string(128)", "Job title."),
            _f("Status", "picklist", "Lead lifecycle state: Open, Working, MQL, SQL, Converted, Disqualified.",
               null=False, tags=("funnel",), owner=REVOPS),
            _f("LeadSource", "picklist", "Original channel, copied from Marketo's leadSource."),
            _f("OwnerId", "reference(User)", "SDR or queue that owns the lead.", null=False, owner=REVOPS),
            _f("IsConverted", "boolean", "Converted into an account and contact.", null=False, owner=REVOPS),
            _f("ConvertedAccountId", "reference(Account)", "Account created or matched at conversion.",
               owner=REVOPS),
            _f("HasOptedOutOfEmail", "boolean", "Email opt-out, synced from Marketo's unsubscribed flag.",
               null=False, tags=("gdpr",)),
            _f("CreatedDate", "datetime", "When the lead was created in Salesforce.", null=False),
            _f("LastModifiedDate", "datetime", "When the lead last changed in Salesforce.", null=False),
        ],
    },
    {
        "system": "salesforce", "qualified_name": "Account", "name": "Salesforce accounts", "kind": DatasetKind.OBJECT,
        "description": "Companies we sell to, from prospect to customer. The system of record for account "
                       "ownership and firmographics.",
        "owner_department": "sales", "steward": "diego.sales",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["Id"], "sort_order": ["Name"], "row_count": 38_604,
        "source_created_at": "2017-02-01 10:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-31 07:20",
        "fields": [
            _f("Id", "id(18)", "Salesforce record id.", key=True),
            _f("Name", "string(255)", "Legal or trading name of the company.", null=False),
            _f("Type", "picklist", "Prospect, Customer, Former Customer or Partner.", owner=REVOPS),
            _f("Industry", "picklist", "Industry from the enrichment provider."),
            _f("BillingCountry", "string(80)", "Country of the billing address."),
            _f("NumberOfEmployees", "int", "Headcount from the enrichment provider."),
            _f("AnnualRevenue", "currency(18,0)", "Company's annual revenue in USD (firmographic, not ours).",
               classification=CONFIDENTIAL),
            _f("OwnerId", "reference(User)", "Account executive who owns the account.", null=False, owner=REVOPS),
            _f("NetSuite_Customer_Id__c", "string(32)", "NetSuite customer internal id once the account has been "
               "invoiced; written by the NetSuite connector.", owner=FINANCE),
            _f("CreatedDate", "datetime", "When the account was created.", null=False),
            _f("LastModifiedDate", "datetime", "When the account last changed.", null=False),
        ],
    },
    {
        "system": "salesforce", "qualified_name": "Contact", "name": "Salesforce contacts", "kind": DatasetKind.OBJECT,
        "description": "People at accounts: champions, buyers, users and billing contacts.",
        "owner_department": "sales", "steward": "diego.sales",
        "classification": PII, "tags": ("pii", "gdpr"),
        "key_fields": ["Id"], "sort_order": ["AccountId", "LastName"], "row_count": 96_412,
        "source_created_at": "2017-02-01 10:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-31 07:05",
        "fields": [
            _f("Id", "id(18)", "Salesforce record id.", key=True),
            _f("AccountId", "reference(Account)", "Account the contact works for.", null=False),
            _f("FirstName", "string(40)", "First name.", **PERSONAL),
            _f("LastName", "string(80)", "Last name.", null=False, **PERSONAL),
            _f("Email", "email", "Work email address.", **PERSONAL),
            _f("Phone", "phone", "Office phone number.", **PERSONAL),
            _f("MobilePhone", "phone", "Mobile phone number.", **PERSONAL),
            _f("Title", "string(128)", "Job title."),
            _f("Role__c", "picklist", "Buying role: Champion, Economic Buyer, User, Billing Contact."),
            _f("HasOptedOutOfEmail", "boolean", "Email opt-out; mastered in Marketo.", null=False,
               tags=("gdpr",), owner=MARKETING),
            _f("CreatedDate", "datetime", "When the contact was created.", null=False),
            _f("LastModifiedDate", "datetime", "When the contact last changed.", null=False),
        ],
    },
    {
        "system": "salesforce", "qualified_name": "Opportunity", "name": "Salesforce opportunities",
        "kind": DatasetKind.OBJECT,
        "description": "Deals in the pipeline: new business, expansions and renewals, with stage, amount and "
                       "expected close date.",
        "owner_department": "sales", "steward": "diego.sales",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["Id"], "sort_order": ["CloseDate"], "row_count": 52_977,
        "source_created_at": "2017-02-01 10:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-31 07:30",
        "fields": [
            _f("Id", "id(18)", "Salesforce record id.", key=True),
            _f("AccountId", "reference(Account)", "Account the deal is with.", null=False),
            _f("Name", "string(120)", "Deal name, e.g. 'Acme – Expansion 2025'.", null=False),
            _f("Type", "picklist", "New Business, Expansion or Renewal.", owner=REVOPS),
            _f("StageName", "picklist", "Pipeline stage: Discovery, Evaluation, Proposal, Negotiation, Closed Won, "
               "Closed Lost.", null=False, owner=REVOPS),
            _f("Amount", "currency(16,2)", "Total contract value in the opportunity currency.", **MONEY),
            _f("CurrencyIsoCode", "picklist", "ISO 4217 currency of Amount.", null=False),
            _f("Probability", "percent(3,0)", "Win probability implied by the stage."),
            _f("ForecastCategoryName", "picklist", "Pipeline, Best Case, Commit, Closed or Omitted.", owner=REVOPS),
            _f("CloseDate", "date", "Expected (or actual, once closed) close date.", null=False),
            _f("IsClosed", "boolean", "Closed won or closed lost.", null=False),
            _f("IsWon", "boolean", "Closed won.", null=False),
            _f("OwnerId", "reference(User)", "Account executive who owns the deal.", null=False, owner=REVOPS),
            _f("CreatedDate", "datetime", "When the deal was created.", null=False),
        ],
    },
    # Zendesk
    {
        "system": "zendesk", "qualified_name": "tickets", "name": "Zendesk tickets", "kind": DatasetKind.OBJECT,
        "description": "Support requests from email, chat and the help centre, with status, priority and the "
                       "customer's satisfaction rating.",
        "owner_department": "customer-success", "steward": "omar.cs",
        "classification": PII, "tags": ("pii", "gdpr", "customer-support"),
        "key_fields": ["id"], "sort_order": ["created_at"], "row_count": 268_530,
        "source_created_at": "2019-01-14 09:00", "published_at": "2019-03-01 09:00",
        "source_modified_at": "2025-05-31 07:55",
        "fields": [
            _f("id", "integer", "Zendesk ticket id.", key=True),
            _f("subject", "string", "Subject line written by the requester.", classification=CONFIDENTIAL),
            _f("description", "text", "First comment; free text that may contain personal data.", **PERSONAL),
            _f("status", "string", "new, open, pending, hold, solved or closed.", null=False),
            _f("priority", "string", "low, normal, high or urgent."),
            _f("type", "string", "problem, incident, question or task."),
            _f("channel", "string", "Where the ticket came from: email, chat, web, api.", null=False),
            _f("requester_id", "integer", "Zendesk user who asked.", null=False),
            _f("requester_email", "string", "Email of the requester (side-loaded user).", **PERSONAL),
            _f("organization_id", "integer", "Zendesk organization; its external_id is the Salesforce Account Id."),
            _f("assignee_id", "integer", "Agent working the ticket."),
            _f("satisfaction_rating", "string", "good, bad or offered (no answer yet)."),
            _f("created_at", "datetime", "When the ticket was opened.", null=False),
            _f("updated_at", "datetime", "When the ticket last changed.", null=False),
            _f("solved_at", "datetime", "When the ticket was first solved; null while open."),
        ],
    },
    # Stripe
    {
        "system": "stripe", "qualified_name": "invoices", "name": "Stripe invoices", "kind": DatasetKind.OBJECT,
        "description": "Invoices for self-serve subscriptions, charged to a card or sent for payment. Amounts are "
                       "integers in the currency's minor unit (cents).",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": PII, "tags": ("pii", "gdpr", "revenue", "financial-reporting"),
        "key_fields": ["id"], "sort_order": ["created"], "row_count": 731_045,
        "source_created_at": "2020-04-01 00:00", "published_at": "2020-05-04 09:00",
        "source_modified_at": "2025-05-31 08:00",
        "fields": [
            _f("id", "string", "Stripe invoice id, e.g. in_1PqR….", key=True),
            _f("number", "string", "Customer-facing invoice number."),
            _f("customer", "string", "Stripe customer id (cus_…).", null=False),
            _f("customer_email", "string", "Email the invoice was sent to.", **PERSONAL),
            _f("subscription", "string", "Subscription the invoice bills; null for one-off invoices."),
            _f("status", "string", "draft, open, paid, uncollectible or void.", null=False),
            _f("currency", "string(3)", "ISO 4217 currency, lower case.", null=False),
            _f("subtotal", "integer", "Amount before tax, in cents.", null=False, **MONEY),
            _f("tax", "integer", "Tax, in cents; null when Stripe Tax is not applied.", **MONEY),
            _f("total", "integer", "Amount including tax, in cents.", null=False, **MONEY),
            _f("amount_remaining", "integer", "Amount still to be paid, in cents.", null=False, **MONEY),
            _f("period_start", "timestamp", "Start of the billed period.", null=False),
            _f("period_end", "timestamp", "End of the billed period.", null=False),
            _f("created", "timestamp", "When the invoice was created.", null=False),
            _f("due_date", "timestamp", "Payment due date for invoices sent for payment."),
        ],
    },
    {
        "system": "stripe", "qualified_name": "subscriptions", "name": "Stripe subscriptions",
        "kind": DatasetKind.OBJECT,
        "description": "Self-serve subscriptions: the plan, seats and billing period of each paying customer.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["id"], "sort_order": ["created"], "row_count": 48_310,
        "source_created_at": "2020-04-01 00:00", "published_at": "2020-05-04 09:00",
        "source_modified_at": "2025-05-31 08:00",
        "fields": [
            _f("id", "string", "Stripe subscription id (sub_…).", key=True),
            _f("customer", "string", "Stripe customer id (cus_…).", null=False),
            _f("status", "string", "trialing, active, past_due, canceled or unpaid.", null=False),
            _f("price_id", "string", "Price (plan) being billed.", null=False),
            _f("price_interval", "string", "month or year.", null=False),
            _f("price_unit_amount", "integer", "Price per seat per interval, in cents.", null=False, **MONEY),
            _f("quantity", "integer", "Number of seats.", null=False),
            _f("currency", "string(3)", "ISO 4217 currency, lower case.", null=False),
            _f("current_period_start", "timestamp", "Start of the current billing period.", null=False),
            _f("current_period_end", "timestamp", "End of the current billing period.", null=False),
            _f("cancel_at_period_end", "boolean", "The customer cancelled; ends at period end.", null=False),
            _f("canceled_at", "timestamp", "When the subscription was cancelled."),
            _f("created", "timestamp", "When the subscription started.", null=False),
        ],
    },
    # NetSuite
    {
        "system": "netsuite", "qualified_name": "customer", "name": "NetSuite customers", "kind": DatasetKind.OBJECT,
        "description": "The customer master: every company we have invoiced, with billing contact, terms and "
                       "links to Salesforce and Stripe. System of record for 'customer id'.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": PII, "tags": ("pii", "gdpr", "financial-reporting"),
        "key_fields": ["internalId"], "sort_order": ["entityId"], "row_count": 21_877,
        "source_created_at": "2016-09-01 00:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-30 18:40",
        "fields": [
            _f("internalId", "integer", "NetSuite internal id.", key=True),
            _f("entityId", "string(83)", "Customer number shown on invoices, e.g. CUST-10042.", null=False),
            _f("companyName", "string(83)", "Legal name used on invoices.", null=False),
            _f("email", "email", "Billing contact's email address.", **PERSONAL),
            _f("phone", "phone", "Billing contact's phone number.", **PERSONAL),
            _f("subsidiary", "select", "Invoicing entity: Accord Inc. (US) or Accord GmbH (EU).", null=False),
            _f("currency", "select", "Default invoice currency.", null=False),
            _f("terms", "select", "Payment terms, e.g. Net 30."),
            _f("custentity_sf_account_id", "string(18)", "Salesforce Account Id of this customer.", owner=SALES),
            _f("custentity_stripe_customer_id", "string(32)", "Stripe customer id for self-serve customers."),
            _f("dateCreated", "datetime", "When the customer was created.", null=False),
            _f("lastModifiedDate", "datetime", "When the customer last changed.", null=False),
        ],
    },
    {
        "system": "netsuite", "qualified_name": "invoice", "name": "NetSuite invoices", "kind": DatasetKind.OBJECT,
        "description": "Sales-led invoices (annual contracts) and the Stripe invoices mirrored for the ledger. "
                       "Source of recognised revenue.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": CONFIDENTIAL, "tags": ("revenue", "financial-reporting"),
        "key_fields": ["internalId"], "sort_order": ["tranDate"], "row_count": 164_093,
        "source_created_at": "2016-09-01 00:00", "published_at": "2018-07-02 09:00",
        "source_modified_at": "2025-05-30 18:40",
        "fields": [
            _f("internalId", "integer", "NetSuite internal id.", key=True),
            _f("tranId", "string(45)", "Invoice number, e.g. INV-2025-00123.", null=False),
            _f("entity", "integer", "Customer internalId.", null=False),
            _f("tranDate", "date", "Invoice date.", null=False),
            _f("dueDate", "date", "Payment due date."),
            _f("postingPeriod", "select", "Accounting period the invoice is posted to.", null=False),
            _f("status", "select", "Open, Paid In Full or Voided.", null=False),
            _f("currency", "select", "Invoice currency.", null=False),
            _f("subtotal", "currency", "Amount before tax.", null=False, **MONEY),
            _f("taxTotal", "currency", "Tax amount.", null=False, **MONEY),
            _f("total", "currency", "Amount including tax.", null=False, **MONEY),
            _f("amountRemaining", "currency", "Amount still to be paid.", null=False, **MONEY),
            _f("memo", "string(999)", "Free memo; 'stripe:<invoice id>' for mirrored Stripe invoices."),
            _f("lastModifiedDate", "datetime", "When the invoice last changed.", null=False),
        ],
    },
    # Warehouse: staging
    {
        "system": WAREHOUSE, "qualified_name": "staging.stg_leads", "name": "Leads (staging)",
        "description": "One row per person in the funnel: Salesforce leads plus Marketo leads not yet synced, "
                       "de-duplicated by lower-cased email. Salesforce wins on conflicts.",
        "owner_department": "data-platform", "steward": "devon.data",
        "classification": PII, "tags": ("pii", "gdpr", "funnel"),
        # The warehouse declares no key on its staging models (as dbt builds them): the hand-off
        # contract promises lead_id unique, and its checks find the duplicates.
        "key_fields": [], "sort_order": ["created_at"], "row_count": 455_902, "size_bytes": 96_468_992,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-03-15 09:00",
        "source_modified_at": "2025-05-31 02:14",
        "fields": [
            _f("lead_id", "varchar(24)", "Salesforce Lead Id when synced, else 'mkto-' || Marketo id.", null=False),
            _f("salesforce_lead_id", "varchar(18)", "Salesforce Lead Id; null for Marketo-only leads."),
            _f("marketo_lead_id", "varchar(16)", "Marketo lead id; null for leads created in Salesforce."),
            _f("email", "varchar(255)", "Lower-cased, trimmed email address.", owner=MARKETING, **PERSONAL),
            _f("first_name", "varchar(255)", "First name.", owner=MARKETING, **PERSONAL),
            _f("last_name", "varchar(255)", "Last name.", owner=MARKETING, **PERSONAL),
            _f("company", "varchar(255)", "Company name."),
            _f("lead_source", "varchar(64)", "First-touch channel.", owner=MARKETING),
            _f("lead_status", "varchar(32)", "State in the Lead lifecycle: raw, engaged, mql, sql, customer, "
               "disqualified.", null=False, tags=("funnel",), owner=REVOPS),
            _f("lead_score", "integer", "Marketo score; null for Salesforce-only leads.", owner=MARKETING),
            _f("is_converted", "boolean", "Converted into an account and contact.", null=False),
            _f("converted_account_id", "varchar(18)", "Salesforce Account Id after conversion."),
            _f("email_opt_out", "boolean", "Opted out of marketing email in either system.", null=False,
               tags=("gdpr",), owner=MARKETING),
            _f("created_at", "timestamp", "Earliest creation time across both systems.", null=False),
            _f("updated_at", "timestamp", "Latest change across both systems.", null=False),
        ],
    },
    # Warehouse: marts
    {
        "system": WAREHOUSE, "qualified_name": "marts.dim_account", "name": "Accounts (dimension)",
        "description": "One row per Salesforce account with firmographics, owner and whether it is a customer.",
        "owner_department": "sales", "steward": "diego.sales",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["account_key"], "sort_order": ["account_key"], "row_count": 38_604, "size_bytes": 9_437_184,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-03-15 09:00",
        "source_modified_at": "2025-05-31 02:20",
        "fields": [
            _f("account_key", "bigint", "Warehouse surrogate key.", key=True, owner=("data-platform", "devon.data")),
            _f("salesforce_account_id", "varchar(18)", "Salesforce Account Id.", null=False),
            _f("account_name", "varchar(255)", "Company name.", null=False),
            _f("account_type", "varchar(32)", "Prospect, Customer, Former Customer or Partner.", owner=REVOPS),
            _f("industry", "varchar(64)", "Industry."),
            _f("billing_country", "varchar(80)", "Country of the billing address."),
            _f("employee_count", "integer", "Headcount."),
            _f("annual_revenue_usd", "numeric(18,0)", "The company's annual revenue (firmographic).",
               classification=CONFIDENTIAL),
            _f("account_owner_id", "varchar(18)", "Salesforce User Id of the account executive.", owner=REVOPS),
            _f("netsuite_customer_id", "integer", "NetSuite customer internalId once invoiced.", owner=FINANCE),
            _f("is_customer", "boolean", "Has at least one closed-won opportunity.", null=False),
            _f("first_closed_won_at", "date", "Close date of the first won opportunity."),
            _f("updated_at", "timestamp", "When the row was last rebuilt.", null=False),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.dim_customer", "name": "Customers (dimension)",
        "description": "One row per invoiced customer from the NetSuite customer master, linked to its Salesforce "
                       "account and Stripe customer.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": PII, "tags": ("pii", "gdpr", "financial-reporting"),
        "key_fields": ["customer_key"], "sort_order": ["customer_key"], "row_count": 21_877, "size_bytes": 5_242_880,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-03-15 09:00",
        "source_modified_at": "2025-05-31 02:22",
        "fields": [
            _f("customer_key", "bigint", "Warehouse surrogate key.", key=True, owner=("data-platform", "devon.data")),
            _f("netsuite_customer_id", "integer", "NetSuite internalId (the customer id of record).", null=False),
            _f("customer_number", "varchar(83)", "Customer number shown on invoices.", null=False),
            _f("company_name", "varchar(83)", "Legal name.", null=False),
            _f("billing_email", "varchar(255)", "Lower-cased billing contact email.", **PERSONAL),
            _f("billing_phone", "varchar(64)", "Billing contact phone number.", **PERSONAL),
            _f("salesforce_account_id", "varchar(18)", "Salesforce Account Id.", owner=SALES),
            _f("stripe_customer_id", "varchar(32)", "Stripe customer id for self-serve customers."),
            _f("subsidiary", "varchar(64)", "Invoicing entity.", null=False),
            _f("currency", "char(3)", "Default invoice currency.", null=False),
            _f("payment_terms", "varchar(32)", "Payment terms."),
            _f("customer_since", "date", "Date of the first invoice."),
            _f("updated_at", "timestamp", "When the row was last rebuilt.", null=False),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_opportunities", "name": "Opportunities (fact)",
        "description": "One row per opportunity with its current stage, amount in USD and forecast category; the "
                       "basis of pipeline and bookings reporting.",
        "owner_department": "revenue-operations", "steward": "nina.revops",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["opportunity_id"], "sort_order": ["close_date"], "row_count": 52_977, "size_bytes": 12_582_912,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-03-15 09:00",
        "source_modified_at": "2025-05-31 02:25",
        "fields": [
            _f("opportunity_id", "varchar(18)", "Salesforce Opportunity Id.", key=True),
            _f("account_key", "bigint", "Account (dim_account).", null=False),
            _f("opportunity_name", "varchar(120)", "Deal name."),
            _f("opportunity_type", "varchar(32)", "New Business, Expansion or Renewal.", null=False),
            _f("stage", "varchar(32)", "Pipeline stage.", null=False),
            _f("forecast_category", "varchar(16)", "Pipeline, Best Case, Commit, Closed or Omitted."),
            _f("amount", "numeric(16,2)", "Total contract value in the deal currency.", **MONEY),
            _f("currency", "char(3)", "Deal currency.", null=False),
            _f("amount_usd", "numeric(16,2)", "Amount converted at the close-month rate.", owner=FINANCE, **MONEY),
            _f("close_date", "date", "Expected or actual close date.", null=False),
            _f("is_closed", "boolean", "Closed won or lost.", null=False),
            _f("is_won", "boolean", "Closed won.", null=False),
            _f("owner_id", "varchar(18)", "Salesforce User Id of the account executive.", null=False),
            _f("created_at", "timestamp", "When the deal was created.", null=False),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_invoices", "name": "Invoices (fact)",
        "description": "Every invoice from Stripe (self-serve) and NetSuite (sales-led) in one table, amounts in "
                       "major units and USD. Used for billings, collections and the monthly close.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": CONFIDENTIAL, "tags": ("revenue", "financial-reporting"),
        "key_fields": ["invoice_key"], "sort_order": ["invoice_date"], "row_count": 895_138,
        "size_bytes": 201_326_592,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-04-01 09:00",
        "source_modified_at": "2025-05-31 02:31",
        "fields": [
            _f("invoice_key", "varchar(40)", "source_system || ':' || source invoice id.", key=True),
            _f("source_system", "varchar(16)", "stripe or netsuite.", null=False),
            _f("source_invoice_id", "varchar(32)", "Invoice id in its source system.", null=False),
            _f("customer_key", "bigint", "Customer (dim_customer).", null=False),
            _f("invoice_number", "varchar(45)", "Customer-facing invoice number."),
            _f("invoice_date", "date", "Invoice date.", null=False),
            _f("due_date", "date", "Payment due date."),
            _f("status", "varchar(16)", "open, paid, void or uncollectible.", null=False),
            _f("currency", "char(3)", "Invoice currency.", null=False),
            _f("amount_subtotal", "numeric(16,2)", "Amount before tax.", null=False, **MONEY),
            _f("amount_tax", "numeric(16,2)", "Tax amount.", null=False, **MONEY),
            _f("amount_total", "numeric(16,2)", "Amount including tax.", null=False, **MONEY),
            _f("amount_outstanding", "numeric(16,2)", "Amount still to be paid.", null=False, **MONEY),
            _f("amount_total_usd", "numeric(16,2)", "amount_total at the invoice-month rate.", null=False, **MONEY),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_subscriptions", "name": "Subscriptions (fact)",
        "description": "One row per Stripe subscription with seats, MRR and ARR in USD.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": CONFIDENTIAL, "tags": ("revenue",),
        "key_fields": ["subscription_id"], "sort_order": ["started_at"], "row_count": 48_310, "size_bytes": 7_340_032,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-04-01 09:00",
        "source_modified_at": "2025-05-31 02:33",
        "fields": [
            _f("subscription_id", "varchar(32)", "Stripe subscription id.", key=True),
            _f("customer_key", "bigint", "Customer (dim_customer); null until the customer is in NetSuite."),
            _f("stripe_customer_id", "varchar(32)", "Stripe customer id.", null=False),
            _f("status", "varchar(16)", "trialing, active, past_due, canceled or unpaid.", null=False),
            _f("plan_id", "varchar(64)", "Stripe price id.", null=False),
            _f("seats", "integer", "Number of seats.", null=False),
            _f("mrr_usd", "numeric(12,2)", "Monthly recurring revenue in USD (yearly plans divided by 12).",
               null=False, **MONEY),
            _f("arr_usd", "numeric(14,2)", "mrr_usd × 12.", null=False, **MONEY),
            _f("current_period_start", "timestamp", "Start of the current billing period.", null=False),
            _f("current_period_end", "timestamp", "End of the current billing period.", null=False),
            _f("cancel_at_period_end", "boolean", "Cancelled, ends at period end.", null=False),
            _f("canceled_at", "timestamp", "When the subscription was cancelled."),
            _f("started_at", "timestamp", "When the subscription started.", null=False),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_tickets", "name": "Support tickets (fact)",
        "description": "One row per Zendesk ticket with its account, resolution time and satisfaction; no free "
                       "text and no requester details.",
        "owner_department": "customer-success", "steward": "omar.cs",
        "classification": INTERNAL, "tags": ("customer-support",),
        "key_fields": ["ticket_id"], "sort_order": ["created_at"], "row_count": 268_530, "size_bytes": 31_457_280,
        "source_created_at": "2021-03-01 02:00", "published_at": "2021-05-03 09:00",
        "source_modified_at": "2025-05-31 02:36",
        "fields": [
            _f("ticket_id", "bigint", "Zendesk ticket id.", key=True),
            _f("account_key", "bigint", "Account (dim_account) via the Zendesk organization's external_id."),
            _f("status", "varchar(16)", "new, open, pending, hold, solved or closed.", null=False),
            _f("priority", "varchar(16)", "low, normal, high or urgent."),
            _f("ticket_type", "varchar(16)", "problem, incident, question or task."),
            _f("channel", "varchar(16)", "email, chat, web or api.", null=False),
            _f("created_at", "timestamp", "When the ticket was opened.", null=False),
            _f("solved_at", "timestamp", "When the ticket was first solved."),
            _f("resolution_hours", "numeric(10,2)", "Business hours from opened to first solved."),
            _f("satisfaction_rating", "varchar(16)", "good, bad or offered."),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_invoices_legacy", "name": "Invoices (legacy fact)",
        "lifecycle": Lifecycle.DEPRECATED,
        "description": "Deprecated: NetSuite-only invoice fact from before Stripe. Replaced by marts.fct_invoices; "
                       "kept until the FY2025 audit closes.",
        "owner_department": "finance", "steward": "fatima.finance",
        "classification": CONFIDENTIAL, "tags": ("revenue", "financial-reporting"),
        "key_fields": ["invoice_id"], "sort_order": ["invoice_date"], "row_count": 164_093, "size_bytes": 25_165_824,
        "source_created_at": "2019-01-07 02:00", "published_at": "2019-02-01 09:00",
        "source_modified_at": "2025-05-31 02:40",
        "fields": [
            _f("invoice_id", "integer", "NetSuite internalId.", key=True),
            _f("customer_id", "integer", "NetSuite customer internalId.", null=False),
            _f("invoice_date", "date", "Invoice date.", null=False),
            _f("status", "varchar(16)", "Open, Paid In Full or Voided.", null=False),
            _f("currency", "char(3)", "Invoice currency.", null=False),
            _f("total", "numeric(16,2)", "Amount including tax.", null=False, **MONEY),
        ],
    },
    {
        "system": WAREHOUSE, "qualified_name": "marts.fct_customer_health", "name": "Customer health (fact)",
        "lifecycle": Lifecycle.DRAFT,
        "description": "Draft: weekly health score per customer from support load, satisfaction and seat "
                       "utilisation. Under review with Customer Success; not for reporting yet.",
        "owner_department": "customer-success", "steward": "omar.cs",
        "classification": INTERNAL, "tags": ("customer-support",),
        "key_fields": ["customer_key", "week_start"], "sort_order": ["week_start"], "row_count": 0,
        "source_created_at": "2025-05-12 02:00",
        "fields": [
            _f("customer_key", "bigint", "Customer (dim_customer).", key=True),
            _f("week_start", "date", "Monday of the week scored.", key=True),
            _f("open_tickets", "integer", "Tickets open at the end of the week.", null=False),
            _f("bad_ratings_90d", "integer", "Bad satisfaction ratings in the last 90 days.", null=False),
            _f("seats_used_ratio", "numeric(5,4)", "Active seats ÷ paid seats."),
            _f("health_score", "integer", "0–100; below 40 triggers a CSM review.", null=False),
        ],
    },
    # Warehouse: HR
    {
        "system": WAREHOUSE, "qualified_name": "hr.dim_employee", "name": "Employees (dimension)",
        "description": "One row per current or former employee from the HR system export: role, department, "
                       "manager and compensation. HR only.",
        "owner_department": "hr", "steward": "henrik.hr",
        "classification": RESTRICTED, "tags": ("pii", "gdpr", "hr-restricted"),
        "key_fields": ["employee_id"], "sort_order": ["employee_id"], "row_count": 612, "size_bytes": 262_144,
        "source_created_at": "2022-01-10 02:00", "published_at": "2022-02-01 09:00",
        "source_modified_at": "2025-05-31 02:05",
        "fields": [
            _f("employee_id", "integer", "HR system employee number.", key=True),
            _f("full_name", "varchar(255)", "Preferred full name.", null=False, **PERSONAL),
            _f("work_email", "varchar(255)", "Company email address.", null=False, **PERSONAL),
            _f("mobile_phone", "varchar(64)", "Mobile phone number.", **PERSONAL),
            _f("department", "varchar(120)", "Department name.", null=False),
            _f("job_title", "varchar(120)", "Job title."),
            _f("manager_employee_id", "integer", "Line manager's employee_id."),
            _f("hire_date", "date", "First day of employment.", null=False),
            _f("termination_date", "date", "Last day of employment; null while employed."),
            _f("base_salary", "numeric(12,2)", "Annual base salary in the payroll currency.",
               classification=RESTRICTED, tags=("hr-restricted",)),
            _f("work_country", "char(2)", "ISO country of the employment contract.", null=False),
        ],
    },
]


# --- Lineage ---------------------------------------------------------------------------------------------------------

# (source system, qualified name), (target system, qualified name), transformation,
# [(source field, target field, transformation), ...]
LINEAGE: list[tuple[tuple[str, str], tuple[str, str], str, list[tuple[str, str, str]]]] = [
    (("marketo", "leads"), (WAREHOUSE, "staging.stg_leads"),
     "Marketo leads not yet synced to Salesforce (sfdcLeadId is null), de-duplicated by lower(email).",
     [("id", "marketo_lead_id", "cast to text"),
      ("email", "email", "lower(trim(email))"),
      ("leadScore", "lead_score", "as is"),
      ("unsubscribed", "email_opt_out", "unsubscribed OR Salesforce HasOptedOutOfEmail")]),
    (("salesforce", "Lead"), (WAREHOUSE, "staging.stg_leads"),
     "All Salesforce leads; Salesforce wins over Marketo when both have the person.",
     [("Id", "lead_id", "as is"),
      ("Id", "salesforce_lead_id", "as is"),
      ("Email", "email", "lower(trim(Email))"),
      ("Status", "lead_status", "Open→raw, Working→engaged, MQL→mql, SQL→sql, Converted→customer, "
                                "Disqualified→disqualified"),
      ("IsConverted", "is_converted", "as is"),
      ("ConvertedAccountId", "converted_account_id", "as is")]),
    (("salesforce", "Account"), (WAREHOUSE, "marts.dim_account"),
     "One row per account; surrogate key assigned by dbt.",
     [("Id", "salesforce_account_id", "as is"),
      ("Name", "account_name", "trim(Name)"),
      ("AnnualRevenue", "annual_revenue_usd", "as is (already USD)"),
      ("NetSuite_Customer_Id__c", "netsuite_customer_id", "cast to integer")]),
    (("salesforce", "Opportunity"), (WAREHOUSE, "marts.dim_account"),
     "is_customer and first_closed_won_at from won opportunities.",
     [("CloseDate", "first_closed_won_at", "min(CloseDate) where IsWon")]),
    (("salesforce", "Opportunity"), (WAREHOUSE, "marts.fct_opportunities"),
     "One row per opportunity; amounts converted to USD at the close-month rate.",
     [("Id", "opportunity_id", "as is"),
      ("StageName", "stage", "as is"),
      ("Amount", "amount", "as is"),
      ("Amount", "amount_usd", "Amount × fx_rate(CurrencyIsoCode → USD, month of CloseDate)"),
      ("CloseDate", "close_date", "as is")]),
    ((WAREHOUSE, "marts.dim_account"), (WAREHOUSE, "marts.fct_opportunities"),
     "account_key looked up by Salesforce AccountId.", []),
    (("netsuite", "customer"), (WAREHOUSE, "marts.dim_customer"),
     "One row per NetSuite customer (the system of record for customers).",
     [("internalId", "netsuite_customer_id", "as is"),
      ("entityId", "customer_number", "as is"),
      ("email", "billing_email", "lower(trim(email))"),
      ("phone", "billing_phone", "as is"),
      ("custentity_sf_account_id", "salesforce_account_id", "as is"),
      ("custentity_stripe_customer_id", "stripe_customer_id", "as is")]),
    (("salesforce", "Account"), (WAREHOUSE, "marts.dim_customer"),
     "Cross-check: the account's NetSuite_Customer_Id__c must point back at the same customer.", []),
    (("stripe", "invoices"), (WAREHOUSE, "marts.fct_invoices"),
     "Self-serve invoices; cents converted to major units; drafts excluded.",
     [("id", "source_invoice_id", "as is"),
      ("total", "amount_total", "total / 100.0"),
      ("tax", "amount_tax", "coalesce(tax, 0) / 100.0"),
      ("amount_remaining", "amount_outstanding", "amount_remaining / 100.0")]),
    (("netsuite", "invoice"), (WAREHOUSE, "marts.fct_invoices"),
     "Sales-led invoices; Stripe mirrors (memo starting 'stripe:') excluded to avoid double counting.",
     [("internalId", "source_invoice_id", "cast to text"),
      ("total", "amount_total", "as is"),
      ("taxTotal", "amount_tax", "as is"),
      ("amountRemaining", "amount_outstanding", "as is")]),
    ((WAREHOUSE, "marts.dim_customer"), (WAREHOUSE, "marts.fct_invoices"),
     "customer_key looked up by NetSuite entity or Stripe customer id.", []),
    (("stripe", "subscriptions"), (WAREHOUSE, "marts.fct_subscriptions"),
     "One row per subscription; MRR normalised to monthly and converted to USD.",
     [("id", "subscription_id", "as is"),
      ("quantity", "seats", "as is"),
      ("price_unit_amount", "mrr_usd",
       "price_unit_amount × quantity / 100, ÷ 12 for yearly prices, × fx_rate(currency → USD)")]),
    ((WAREHOUSE, "marts.dim_customer"), (WAREHOUSE, "marts.fct_subscriptions"),
     "customer_key looked up by Stripe customer id.", []),
    (("zendesk", "tickets"), (WAREHOUSE, "marts.fct_tickets"),
     "One row per ticket; subject, description and requester details dropped.",
     [("id", "ticket_id", "as is"),
      ("status", "status", "as is"),
      ("created_at", "created_at", "as is"),
      ("solved_at", "resolution_hours", "business_hours_between(created_at, solved_at)")]),
    ((WAREHOUSE, "marts.dim_account"), (WAREHOUSE, "marts.fct_tickets"),
     "account_key looked up by the Zendesk organization's external_id (Salesforce Account Id).", []),
    (("netsuite", "invoice"), (WAREHOUSE, "marts.fct_invoices_legacy"),
     "Legacy NetSuite-only copy; no currency conversion.",
     [("internalId", "invoice_id", "as is"), ("total", "total", "as is")]),
    ((WAREHOUSE, "marts.fct_tickets"), (WAREHOUSE, "marts.fct_customer_health"),
     "Weekly open tickets and bad ratings per customer.", []),
    ((WAREHOUSE, "marts.fct_subscriptions"), (WAREHOUSE, "marts.fct_customer_health"),
     "Paid seats per customer and week.", []),
]


# --- Loading ---------------------------------------------------------------------------------------------------------

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass
class DemoLoadResult:
    """What one run of ``load_demo`` did, per kind of object ("datasets", "fields"…)."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, outcome: str, count: int = 1) -> None:
        getattr(self, outcome)[kind] += count

    def total(self, kind: str) -> int:
        return self.created[kind] + self.updated[kind] + self.unchanged[kind]

    @property
    def changed(self) -> bool:
        return bool(+self.created or +self.updated)


def _upsert(
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
    *,
    on_create: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """Create the row, or update only the attributes that differ.

    ``update_or_create`` would save (and bump ``updated_at``) on every run; this
    writes nothing when the row already matches. ``on_create`` is only set on a new row.
    """
    instance = model._default_manager.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values, **(on_create or {}))
        instance.full_clean()
        instance.save()
        return instance, CREATED
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, UNCHANGED
    for name in changed:
        setattr(instance, name, values[name])
    instance.full_clean()
    instance.save()
    return instance, UPDATED


def load_demo(*, actor) -> DemoLoadResult:
    """Load the demo company in one transaction; safe to run any number of times.

    A rerun puts back what is missing and resets demo attributes that were edited
    to their demo values; it never deletes anything (fields added to a demo dataset stay).

    ``actor`` (a user, or ``permissions.context.Actor(system=...)``: ``manage.py load_demo``
    passes its own) is who every audit record of the load names.
    """
    result = DemoLoadResult()
    with context.acting_as(actor), transaction.atomic():
        departments = _load_departments(result)
        people = _load_people(result, departments)
        tags = _load_tags(result)
        systems = _load_systems(result, departments)
        datasets = _load_datasets(result, departments, people, tags, systems, actor=actor)
        _load_lineage(result, datasets)
        _load_deny_rules(result, departments, tags)
    return result


def _load_departments(result: DemoLoadResult) -> dict[str, Department]:
    departments: dict[str, Department] = {}
    for spec in DEPARTMENTS:  # parents come before their sub-departments
        parent = departments[spec["parent"]] if spec["parent"] else None
        department, outcome = _upsert(
            Department, {"slug": spec["slug"]},
            {"name": spec["name"], "parent": parent, "description": spec["description"]},
        )
        departments[spec["slug"]] = department
        result.record("departments", outcome)
    return departments


def _load_people(result: DemoLoadResult, departments: dict[str, Department]) -> dict[str, Any]:
    user_model = get_user_model()
    people: dict[str, Any] = {}
    for username, first_name, last_name, memberships in PEOPLE:
        email = _ascii(f"{first_name}.{last_name}@{EMAIL_DOMAIN}".lower())
        user, outcome = _upsert(
            user_model, {"username": username},
            {"first_name": first_name, "last_name": last_name, "email": email, "is_active": True},
            # Demo people exist to own things; they cannot log in.
            on_create={"password": make_password(None)},
        )
        people[username] = user
        result.record("people", outcome)
        for department_slug, role in memberships:
            _, outcome = _upsert(
                DepartmentMembership, {"department": departments[department_slug], "user": user}, {"role": role}
            )
            result.record("memberships", outcome)
    return people


def _load_tags(result: DemoLoadResult) -> dict[str, Tag]:
    tags: dict[str, Tag] = {}
    for spec in TAGS:
        values = {key: value for key, value in spec.items() if key != "slug"}
        tag, outcome = _upsert(Tag, {"slug": spec["slug"]}, values)
        tags[spec["slug"]] = tag
        result.record("tags", outcome)
    return tags


def _load_systems(result: DemoLoadResult, departments: dict[str, Department]) -> dict[str, System]:
    systems: dict[str, System] = {}
    for spec in SYSTEMS:
        values = {
            "name": spec["name"], "kind": spec["kind"], "vendor": spec["vendor"], "description": spec["description"],
            "owner_department": departments[spec["owner_department"]],
            "connection_engine": spec.get("connection_engine", ConnectionEngine.NONE),
            "connection_env": spec.get("connection_env", ""),
        }
        system, outcome = _upsert(System, {"slug": spec["slug"]}, values)
        systems[spec["slug"]] = system
        result.record("systems", outcome)
    return systems


# What a harvest reads from the source (harvest.services). Once a System has been harvested the
# source is authoritative for these: a rerun of the demo keeps what the harvest found instead of
# putting the demo's values back (which the next harvest would undo), and adds no field the source
# lacks (governance.demo plants a drift that drops one).
HARVESTED_DATASET_FACTS = ("kind", "key_fields")
HARVESTED_FIELD_FACTS = ("data_type", "nullable", "is_key", "position")


def _as_harvested(
    system: System, qualified_name: str, attributes: dict[str, Any], fields: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dataset = Dataset.objects.filter(system=system, qualified_name=qualified_name).first()
    if dataset is None:
        return attributes, fields
    registered = {f.name: f for f in dataset.fields.all()}
    attributes = {**attributes, **{name: getattr(dataset, name) for name in HARVESTED_DATASET_FACTS}}
    fields = [{**spec, **{name: getattr(registered[spec["name"]], name) for name in HARVESTED_FIELD_FACTS}}
              for spec in fields if spec["name"] in registered]
    return attributes, fields


def _load_datasets(
    result: DemoLoadResult,
    departments: dict[str, Department],
    people: dict[str, Any],
    tags: dict[str, Tag],
    systems: dict[str, System],
    *,
    actor,
) -> dict[tuple[str, str], Dataset]:
    from harvest.models import HarvestRun, HarvestStatus

    harvested = set(HarvestRun.objects.filter(status__in=[HarvestStatus.SUCCEEDED, HarvestStatus.PARTIAL])
                    .values_list("system__slug", flat=True))
    datasets: dict[tuple[str, str], Dataset] = {}
    for spec in DATASETS:
        owner_department = spec["owner_department"]
        attributes = {
            "name": spec["name"],
            "kind": spec.get("kind", DatasetKind.TABLE),
            "description": spec["description"],
            "owner_department": departments[owner_department],
            "steward": people[spec["steward"]],
            "lifecycle": spec.get("lifecycle", Lifecycle.ACTIVE),
            "classification": spec["classification"],
            "key_fields": spec["key_fields"],
            "sort_order": spec["sort_order"],
            "row_count": spec["row_count"],
            "size_bytes": spec.get("size_bytes"),
            "source_created_at": _ts(spec["source_created_at"]),
            "published_at": _ts(spec["published_at"]) if spec.get("published_at") else None,
            "source_modified_at": _ts(spec["source_modified_at"]) if spec.get("source_modified_at") else None,
            "archived_at": None,
        }
        fields = []
        for field_spec in spec["fields"]:
            field_department, field_owner = field_spec["owner"] or (owner_department, spec["steward"])
            fields.append({
                **{key: value for key, value in field_spec.items() if key not in ("owner", "tags")},
                "owner": people[field_owner],
                "owner_department": departments[field_department],
                "tags": [tags[slug] for slug in field_spec["tags"]],
            })
        if spec["system"] in harvested:
            attributes, fields = _as_harvested(systems[spec["system"]], spec["qualified_name"], attributes, fields)
        registration = register_dataset(
            system=systems[spec["system"]],
            qualified_name=spec["qualified_name"],
            attributes=attributes,
            tags=[tags[slug] for slug in spec["tags"]],
            fields=fields,
            # `make run` loads the demo on every start: keep fields people added to demo datasets.
            remove_missing=False,
            actor=actor,
        )
        result.record("datasets", CREATED if registration.dataset_created else
                      UPDATED if registration.dataset_changed else UNCHANGED)
        result.record("fields", CREATED, len(registration.fields_created))
        result.record("fields", UPDATED, len(registration.fields_updated))
        result.record("fields", UNCHANGED, len(registration.fields_unchanged))
        datasets[(spec["system"], spec["qualified_name"])] = registration.dataset
    return datasets


def _load_lineage(result: DemoLoadResult, datasets: dict[tuple[str, str], Dataset]) -> None:
    for source_key, target_key, transformation, field_edges in LINEAGE:
        source, target = datasets[source_key], datasets[target_key]
        _, outcome = _upsert(
            LineageEdge, {"source": source, "target": target, "source_field": None, "target_field": None},
            {"transformation": transformation},
        )
        result.record("lineage edges", outcome)
        source_fields = {f.name: f for f in source.fields.all()}
        target_fields = {f.name: f for f in target.fields.all()}
        for source_field, target_field, field_transformation in field_edges:
            if source_field not in source_fields or target_field not in target_fields:
                continue  # a harvest found the column gone from its source
            _, outcome = _upsert(
                LineageEdge,
                {"source": source, "target": target,
                 "source_field": source_fields[source_field], "target_field": target_fields[target_field]},
                {"transformation": field_transformation},
            )
            result.record("lineage edges", outcome)


# --- The opt-out principle -------------------------------------------------------------------------------------------

# A deny rule opts everyone out of employee data, and its exception lets HR back in: HR's restricted
# data is missing for everyone else (superusers aside, whose reads of it are audited).
HR_RULE_REASON = "Employee data (compensation, personal contact details) is HR's only."
HR_EXCEPTION_REASON = "HR keeps the employee records."


def _load_deny_rules(result: DemoLoadResult, departments: dict[str, Department], tags: dict[str, Tag]) -> None:
    rule, outcome = _upsert(AccessRule, {"subject_kind": "everyone", "target_kind": "tag",
                                         "target_tag": tags["hr-restricted"]}, {"reason": HR_RULE_REASON})
    result.record("deny rules", outcome)
    _, outcome = _upsert(AccessRuleException, {"rule": rule, "subject_kind": "department",
                                               "subject_department": departments["hr"]},
                         {"reason": HR_EXCEPTION_REASON})
    result.record("deny rule exceptions", outcome)
