"""The demo company (`manage.py load_demo`) and the first superuser (`manage.py ensure_admin`)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import F, Q
from django.test import TestCase

from catalog.choices import DepartmentRole, Lifecycle, SystemKind
from catalog.demo import load_demo
from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from permissions.context import Actor
from permissions.models import AuditRecord

User = get_user_model()
pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "violet-Harbour-lantern-93"
DEMO = Actor(system="load_demo")

EXPECTED_DATASETS = {
    ("marketo", "leads"),
    ("salesforce", "Lead"),
    ("salesforce", "Account"),
    ("salesforce", "Contact"),
    ("salesforce", "Opportunity"),
    ("zendesk", "tickets"),
    ("stripe", "invoices"),
    ("stripe", "subscriptions"),
    ("netsuite", "customer"),
    ("netsuite", "invoice"),
    ("analytics-warehouse", "staging.stg_leads"),
    ("analytics-warehouse", "marts.dim_account"),
    ("analytics-warehouse", "marts.dim_customer"),
    ("analytics-warehouse", "marts.fct_opportunities"),
    ("analytics-warehouse", "marts.fct_invoices"),
    ("analytics-warehouse", "marts.fct_subscriptions"),
    ("analytics-warehouse", "marts.fct_tickets"),
}


def _run(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def _snapshot() -> dict[str, list]:
    """Every demo row with its updated_at (or, for users, every column), and the tag links."""
    snapshot = {
        model.__name__: list(model.objects.order_by("pk").values_list("pk", "updated_at"))
        for model in (Department, DepartmentMembership, System, Tag, Dataset, Field, LineageEdge)
    }
    snapshot["User"] = list(User.objects.order_by("pk").values())
    snapshot["dataset tags"] = list(Dataset.tags.through.objects.order_by("pk").values_list())
    snapshot["field tags"] = list(Field.tags.through.objects.order_by("pk").values_list())
    return snapshot


# --- load_demo ------------------------------------------------------------------------------------------------------

def test_second_run_changes_nothing():
    first = load_demo(actor=DEMO)
    assert first.changed
    before = _snapshot()

    second = load_demo(actor=DEMO)

    assert not second.changed
    assert not +second.created and not +second.updated
    assert _snapshot() == before


def test_rerun_repairs_what_was_edited_or_deleted_and_keeps_additions():
    load_demo(actor=DEMO)
    lead = Dataset.objects.get(system__slug="salesforce", qualified_name="Lead")
    Dataset.objects.filter(pk=lead.pk).update(description="Scratch")
    Field.objects.filter(dataset=lead, name="Email").delete()
    Field.objects.create(dataset=lead, name="Rating", data_type="picklist", position=99)

    result = load_demo(actor=DEMO)

    lead.refresh_from_db()
    assert lead.description.startswith("Leads worked by SDRs")
    email = lead.fields.get(name="Email")
    assert email.classification == "pii" and email.owner.username == "sam.marketing"
    assert lead.fields.filter(name="Rating").exists()
    assert result.updated["datasets"] == 1 and result.created["fields"] == 1
    # The field-level lineage of the re-created field is back too.
    assert LineageEdge.objects.filter(source_field=email, target_field__name="email").exists()


def test_command_summarises_acts_as_a_named_system_actor_and_a_rerun_writes_no_audit_record():
    from ingest.demo import demo_dbt_tables
    from ingest.models import IngestionRun

    first = _run("load_demo")
    assert first.startswith("Demo company loaded:")
    dbt_built = list(demo_dbt_tables())  # the demo's dbt project's models, ingested after the load
    assert f"{Dataset.objects.exclude(qualified_name__in=dbt_built).count()} datasets" in first
    demo_records = AuditRecord.objects.filter(object_type__startswith="catalog.")
    assert demo_records.exists()
    ingestion = f"system:{IngestionRun.objects.get().actor_name}"
    assert set(demo_records.values_list("actor_name", flat=True)) == {"system:load_demo", ingestion}
    audit_count = AuditRecord.objects.count()

    second = _run("load_demo")

    assert "nothing changed" in second
    assert f"{Field.objects.exclude(dataset__qualified_name__in=dbt_built).count()} fields" in second
    assert AuditRecord.objects.count() == audit_count


class TestDemoContent(TestCase):
    """What the demo company contains (loaded once for the class)."""

    @classmethod
    def setUpTestData(cls):
        load_demo(actor=DEMO)

    def test_departments_and_people(self):
        names = set(Department.objects.values_list("name", flat=True))
        assert {"Marketing", "Sales", "Customer Success", "Finance", "HR"} <= names
        assert Department.objects.get(slug="revenue-operations").parent.slug == "sales"
        for department in Department.objects.all():
            roles = set(department.memberships.values_list("role", flat=True))
            assert {DepartmentRole.LEAD, DepartmentRole.STEWARD} <= roles, department.name
        maria = User.objects.get(username="maria.marketing")
        assert DepartmentMembership.objects.get(user=maria, department__slug="marketing").role == DepartmentRole.LEAD
        # Demo people own things but cannot log in.
        demo_people = User.objects.filter(department_memberships__isnull=False).distinct()
        assert demo_people.count() >= 10
        assert not any(person.has_usable_password() for person in demo_people)
        assert not demo_people.filter(is_superuser=True).exists()
        # Leads and stewards are staff through their role (permissions.council); members are not.
        assert set(demo_people.filter(is_staff=True)) == set(demo_people.filter(
            department_memberships__role__in=[DepartmentRole.LEAD, DepartmentRole.STEWARD]))

    def test_six_systems_with_their_kinds(self):
        kinds = dict(System.objects.values_list("name", "kind"))
        assert kinds == {
            "Salesforce": SystemKind.CRM,
            "Marketo": SystemKind.MARKETING_AUTOMATION,
            "Zendesk": SystemKind.SUPPORT,
            "Stripe": SystemKind.BILLING,
            "NetSuite": SystemKind.ERP,
            "Analytics warehouse": SystemKind.WAREHOUSE,
        }
        warehouse = System.objects.get(kind=SystemKind.WAREHOUSE)
        assert (warehouse.connection_engine, warehouse.connection_env) == ("sqlite", "ACCORD_DEMO_WAREHOUSE_DSN")
        assert not System.objects.filter(owner_department=None).exists()

    def test_datasets_are_described_owned_and_have_fields(self):
        registered = set(Dataset.objects.values_list("system__slug", "qualified_name"))
        assert EXPECTED_DATASETS <= registered
        for dataset in Dataset.objects.select_related("owner_department", "steward"):
            assert dataset.description, dataset
            assert dataset.owner_department and dataset.steward, dataset
            # The warehouse declares no key on its staging model (the contract's checks find its duplicates).
            assert dataset.key_fields or dataset.qualified_name == "staging.stg_leads", dataset
            assert dataset.row_count is not None, dataset
            field_names = set(dataset.fields.values_list("name", flat=True))
            assert len(field_names) >= 5, dataset
            assert set(dataset.key_fields) <= field_names, dataset
            assert set(dataset.fields.filter(is_key=True).values_list("name", flat=True)) == set(dataset.key_fields)
            # The steward stewards (or leads) the owning department.
            assert DepartmentMembership.objects.filter(
                department=dataset.owner_department, user=dataset.steward,
                role__in=[DepartmentRole.STEWARD, DepartmentRole.LEAD],
            ).exists(), dataset
            if dataset.lifecycle != Lifecycle.DRAFT:
                assert dataset.published_at is not None, dataset
        active = Dataset.objects.filter(lifecycle=Lifecycle.ACTIVE).count()
        assert active > Dataset.objects.count() * 0.8
        assert Dataset.objects.get(system__slug="salesforce", qualified_name="Lead").tags.filter(slug="pii").exists()
        assert Dataset.objects.get(qualified_name="marts.fct_invoices").tags.filter(slug="revenue").exists()

    def test_emails_and_phone_numbers_are_pii(self):
        contact_fields = Field.objects.filter(Q(name__icontains="email") | Q(name__icontains="phone"))
        # Opt-out flags are about email, not email addresses.
        contact_fields = contact_fields.exclude(Q(name__icontains="opt") | Q(name__icontains="unsubscribed"))
        assert contact_fields.count() >= 15
        assert set(contact_fields.values_list("classification", flat=True)) == {"pii"}
        assert not contact_fields.exclude(tags__slug="pii").exists()
        # A dataset holding personal data is classified (and tagged) at least PII.
        for field in Field.objects.filter(classification="pii").select_related("dataset"):
            assert field.dataset.classification in ("pii", "restricted"), field
            assert field.dataset.tags.filter(slug="pii").exists(), field

    def test_every_field_has_an_owner_who_belongs_to_its_department(self):
        assert Field.objects.exists()
        assert not Field.objects.filter(Q(owner=None) | Q(owner_department=None)).exists()
        memberships = set(DepartmentMembership.objects.values_list("user_id", "department_id"))
        owners = set(Field.objects.values_list("owner_id", "owner_department_id"))
        assert owners <= memberships
        # Some fields are owned outside their dataset's department (e.g. the lead status by Revenue Operations).
        assert Field.objects.exclude(owner_department=F("dataset__owner_department")).exists()

    def test_lineage_flows_from_sources_into_warehouse_models(self):
        into_warehouse = LineageEdge.objects.filter(target__system__kind=SystemKind.WAREHOUSE).exclude(
            source__system__kind=SystemKind.WAREHOUSE
        )
        sources = set(into_warehouse.values_list("source__system__slug", flat=True))
        assert sources == {"marketo", "salesforce", "zendesk", "stripe", "netsuite"}
        warehouse_models = [name for system, name in EXPECTED_DATASETS if system == "analytics-warehouse"]
        for qualified_name in warehouse_models:
            assert LineageEdge.objects.filter(target__qualified_name=qualified_name, source_field=None).exists()

        email = LineageEdge.objects.get(
            source__system__slug="salesforce", source_field__name="Email", target_field__name="email",
            target__qualified_name="staging.stg_leads",
        )
        assert email.source_field.dataset_id == email.source_id
        assert email.target_field.dataset_id == email.target_id
        assert "lower" in email.transformation
        assert not LineageEdge.objects.filter(transformation="").exists()
        field_edges = LineageEdge.objects.exclude(source_field=None)
        assert field_edges.count() >= 20
        for edge in field_edges.select_related("source_field", "target_field"):
            assert edge.source_field.dataset_id == edge.source_id and edge.target_field.dataset_id == edge.target_id


# --- ensure_admin ---------------------------------------------------------------------------------------------------

@pytest.fixture
def admin_env(monkeypatch):
    for name in ("ACCORD_ADMIN_USERNAME", "ACCORD_ADMIN_EMAIL", "ACCORD_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_ensure_admin_creates_a_superuser_with_the_password_from_the_environment(admin_env):
    admin_env.setenv("ACCORD_ADMIN_PASSWORD", STRONG_PASSWORD)
    admin_env.setenv("ACCORD_ADMIN_EMAIL", "council@example.com")

    output = _run("ensure_admin")

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active
    assert admin.email == "council@example.com"
    assert admin.check_password(STRONG_PASSWORD)
    assert STRONG_PASSWORD not in output
    assert STRONG_PASSWORD not in admin.password
    created = AuditRecord.objects.get(object_type="auth.user", object_id=str(admin.pk))
    assert created.actor_name == "system:ensure_admin"
    assert STRONG_PASSWORD not in str(created.changes) and admin.password not in str(created.changes)


def test_ensure_admin_is_idempotent_and_never_changes_the_password(admin_env):
    admin_env.setenv("ACCORD_ADMIN_USERNAME", "council")
    admin_env.setenv("ACCORD_ADMIN_PASSWORD", STRONG_PASSWORD)
    _run("ensure_admin")
    stored = User.objects.get(username="council").password

    admin_env.setenv("ACCORD_ADMIN_PASSWORD", "another-Strong-passphrase-71")
    output = _run("ensure_admin")

    assert User.objects.filter(is_superuser=True).count() == 1
    assert User.objects.get(username="council").password == stored
    assert "already exists" in output and "unchanged" in output
    assert "passphrase" not in output and STRONG_PASSWORD not in output


def test_ensure_admin_without_a_password_prints_a_generated_one_once(admin_env):
    first = _run("ensure_admin")
    second = _run("ensure_admin")

    matches = re.findall(r"Admin login: admin / (\S+)", first)
    assert len(matches) == 1
    password = matches[0]
    assert len(password) >= 20
    assert User.objects.get(username="admin").check_password(password)
    assert password not in second
    assert "unchanged" in second


def test_ensure_admin_refuses_a_weak_password_and_creates_nothing(admin_env):
    admin_env.setenv("ACCORD_ADMIN_PASSWORD", "admin")
    with pytest.raises(CommandError, match="ACCORD_ADMIN_PASSWORD"):
        _run("ensure_admin")
    assert not User.objects.filter(username="admin").exists()
