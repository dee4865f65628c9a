"""Every drift kind a harvest finds, classified against the active contract covering the dataset,
on a real SQLite file and a real PostgreSQL database (the throwaway cluster of scripts/pg.sh;
those cases skip on SQLite registries): datasets added, removed and restored; fields added and
removed; types widened, narrowed and changed; nullability and keys changed. Also: lineage people
drew survives a harvest, curated metadata is never overwritten, and the ``schema.drift`` payload
shows a subscriber only the fields they may see.

Each source table is rebuilt (dropped and created again) to change it, so the same statement
works on both engines."""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from catalog.models import Dataset, Field, LineageEdge, System
from catalog.models.lineage import LineageOrigin
from catalog.signals import schema_changed
from governance.models import ComplianceRun, Delivery, Incident, NotificationSubscription
from governance.models.compliance import RunTrigger
from governance.services import contracts as contract_services
from harvest import services
from harvest.models import ChangeKind, Compatibility, HarvestStatus, SchemaChange
from permissions.context import system_actor
from permissions.models import AccessRule
from tests import factories
from tests.mixins import make_user

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
BREAKING, COMPATIBLE = Compatibility.BREAKING, Compatibility.COMPATIBLE
WIDENED, NARROWED, CHANGED = ChangeKind.TYPE_WIDENED, ChangeKind.TYPE_NARROWED, ChangeKind.TYPE_CHANGED


@dataclass
class Source:
    engine: str
    system: System
    execute: object  # callable(sql script)
    schema: str = ""

    def name(self, table: str) -> str:
        """The qualified name the catalog registers for ``table``."""
        return f"{self.schema}.{table}" if self.schema else table

    def rebuild(self, table: str, columns: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.name(table)}; CREATE TABLE {self.name(table)} ({columns})")


@pytest.fixture(scope="module")
def pg_database(django_db_blocker):
    """A database of its own in the throwaway cluster, made and dropped here."""
    import psycopg

    from tests.harvest.test_postgresql_harvest import _server_dsn

    name = f"drift_src_{uuid.uuid4().hex[:8]}"
    admin_dsn = _server_dsn(settings.DATABASES["default"]["NAME"])
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _server_dsn(name)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def src(request, tmp_path, monkeypatch) -> Source:
    if request.param == "postgresql":
        if not ON_POSTGRESQL:
            pytest.skip("runs on PostgreSQL (DATABASE_URL, scripts/pg.sh)")
        import psycopg

        dsn = request.getfixturevalue("pg_database")

        def execute(script: str) -> None:
            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(script)

        execute("DROP SCHEMA IF EXISTS src CASCADE; CREATE SCHEMA src")
        monkeypatch.setenv("DRIFT_SOURCE_DSN", dsn)
        schema = "src"
    else:
        path = os.path.join(tmp_path, "source.sqlite3")

        def execute(script: str) -> None:
            db = sqlite3.connect(path)
            db.executescript(script)
            db.close()

        execute("")
        monkeypatch.setenv("DRIFT_SOURCE_DSN", f"sqlite:///{path}")
        schema = ""
    with system_actor("tests", reason="a source to harvest"):
        system = System.objects.create(name=f"Source ({request.param})", slug=f"source-{request.param}",
                                       connection_engine=request.param, connection_env="DRIFT_SOURCE_DSN")
    return Source(engine=request.param, system=system, execute=execute, schema=schema)


@pytest.fixture
def harvest(django_capture_on_commit_callbacks):
    """Harvest the source with the after-commit work (signal, checks, incident) run."""
    def run(src: Source):
        with django_capture_on_commit_callbacks(execute=True):
            done = services.harvest(src.system)
        assert done.status == HarvestStatus.SUCCEEDED, (done.errors, done.warnings)
        return done
    return run


def contract_over(src: Source, table: str, fields: list[dict], slug: str = "drift") -> object:
    """An active contract (Marketing → Sales) whose schema terms name ``fields`` of ``table``."""
    dataset = Dataset.objects.get(system=src.system, qualified_name=src.name(table))
    marketing = factories.department(name=f"Marketing {slug}", slug=f"marketing-{slug}")
    sales = factories.department(name=f"Sales {slug}", slug=f"sales-{slug}")
    maria, sofia = make_user(f"maria-{slug}"), make_user(f"sofia-{slug}")
    factories.membership(maria, department=marketing, role="lead")
    factories.membership(sofia, department=sales, role="lead")
    contract = factories.contract(slug=slug, name=f"Contract {slug}", producer=marketing, consumers=[sales],
                                  datasets=[dataset])
    terms = {"schema": [{"name": table, "physical_name": dataset.qualified_name, "fields": fields}],
             "notice_period_days": 0}
    version = contract_services.create_version(contract=contract, version="1.0.0", terms=terms, actor=maria)
    contract_services.propose(version, actor=maria)
    contract_services.sign(version, department=marketing, actor=maria)
    contract_services.sign(version, department=sales, actor=sofia)
    version.refresh_from_db()
    assert version.status == "active"
    return contract


def changes(run) -> dict[tuple[str, str], SchemaChange]:
    found = {}
    for change in SchemaChange.objects.filter(run=run).select_related("dataset"):
        key = (change.dataset.qualified_name, change.field_name)
        assert (key, change.kind) not in {(k, c.kind) for k, c in found.items()}, f"{key} twice"
        found.setdefault(key, change)
    return found


def drift_incidents(contract):
    return Incident.objects.filter(contract=contract, title__startswith="Breaking schema drift")


# --- datasets --------------------------------------------------------------------------------------


def test_a_new_dataset_is_recorded_without_classification_noise(src, harvest):
    src.rebuild("first", "id integer")
    harvest(src)
    signals = []

    def receiver(sender, dataset, changes, **kwargs):
        signals.append(dataset.qualified_name)

    src.rebuild("second", "id integer, name text")
    schema_changed.connect(receiver)
    try:
        run = harvest(src)
    finally:
        schema_changed.disconnect(receiver)
    [added] = SchemaChange.objects.filter(run=run)
    assert (added.dataset.qualified_name, added.kind, added.field_name, added.before, added.after) == (
        src.name("second"), ChangeKind.DATASET_ADDED, "", None, None)
    assert (added.compatibility, added.contracts) == (COMPATIBLE, [])
    assert signals == []  # no drift announced: nothing covered it
    assert not ComplianceRun.objects.exists() and not Incident.objects.exists()


def test_dataset_removed_is_breaking_when_contracted_and_compatible_when_not(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255)")
    src.rebuild("scratch", "id integer")
    harvest(src)
    contract = contract_over(src, "leads", [{"name": "id", "type": "integer", "required": True}])
    src.execute(f"DROP TABLE {src.name('leads')}; DROP TABLE {src.name('scratch')}")
    run = harvest(src)
    found = {key: (c.kind, c.compatibility, c.contracts) for key, c in changes(run).items()}
    assert found == {(src.name("leads"), ""): (ChangeKind.DATASET_REMOVED, BREAKING, [contract.pk]),
                     (src.name("scratch"), ""): (ChangeKind.DATASET_REMOVED, COMPATIBLE, [])}
    leads = Dataset.objects.get(qualified_name=src.name("leads"))
    assert leads.removed_from_source_at is not None and leads.fields.count() == 2  # kept, not deleted
    incident = drift_incidents(contract).get()
    assert incident.title == f"Breaking schema drift: {contract.name}"
    assert incident.summary["breaking_changes"] == [
        {"kind": ChangeKind.DATASET_REMOVED, "field": "", "before": None, "after": None}]
    assert ComplianceRun.objects.filter(contract_version__contract=contract, trigger=RunTrigger.SCHEMA_DRIFT).exists()


def test_a_removed_dataset_named_by_a_contract_without_fields_is_still_breaking(src, harvest):
    src.rebuild("leads", "id integer")
    harvest(src)
    contract = contract_over(src, "leads", [])
    src.execute(f"DROP TABLE {src.name('leads')}")
    [removed] = changes(harvest(src)).values()
    assert (removed.kind, removed.compatibility, removed.contracts) == (
        ChangeKind.DATASET_REMOVED, BREAKING, [contract.pk])


def test_a_dataset_that_comes_back_is_restored_with_its_history_contracts_and_curation(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255)")
    added_run = harvest(src)
    contract = contract_over(src, "leads", [{"name": "id", "type": "integer", "required": True}])
    curated = _curate(Dataset.objects.get(qualified_name=src.name("leads")))
    src.execute(f"DROP TABLE {src.name('leads')}")
    removed_run = harvest(src)
    src.rebuild("leads", "id integer NOT NULL, email varchar(255)")
    run = harvest(src)
    [restored] = changes(run).values()
    assert (restored.kind, restored.compatibility, restored.contracts) == (
        ChangeKind.DATASET_RESTORED, COMPATIBLE, [])
    leads = Dataset.objects.get(qualified_name=src.name("leads"))
    assert leads.removed_from_source_at is None
    assert list(leads.schema_changes.order_by("id").values_list("run", "kind")) == [
        (added_run.pk, ChangeKind.DATASET_ADDED), (removed_run.pk, ChangeKind.DATASET_REMOVED),
        (run.pk, ChangeKind.DATASET_RESTORED)]
    assert list(leads.contracts.values_list("pk", flat=True)) == [contract.pk]
    assert _curation(leads) == curated


# --- fields ----------------------------------------------------------------------------------------


def test_field_added_is_compatible_and_field_removed_breaks_only_a_contracted_one(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255), notes text")
    harvest(src)
    contract = contract_over(src, "leads", [{"name": "id", "type": "integer"}, {"name": "email"}])
    types = dict(Field.objects.filter(dataset__qualified_name=src.name("leads")).values_list("name", "data_type"))
    src.rebuild("leads", "id integer NOT NULL, region varchar(8)")
    run = harvest(src)
    found = {key[1]: (c.kind, c.before, c.after, c.compatibility, c.contracts) for key, c in changes(run).items()}
    region = Field.objects.get(dataset__qualified_name=src.name("leads"), name="region").data_type
    assert found == {
        "email": (ChangeKind.FIELD_REMOVED, {"data_type": types["email"], "nullable": True}, None, BREAKING,
                  [contract.pk]),
        "notes": (ChangeKind.FIELD_REMOVED, {"data_type": types["notes"], "nullable": True}, None, COMPATIBLE, []),
        "region": (ChangeKind.FIELD_ADDED, None, {"data_type": region, "nullable": True}, COMPATIBLE, []),
    }
    incident = drift_incidents(contract).get()
    assert [c["field"] for c in incident.summary["breaking_changes"]] == ["email"]


# Each type change appears twice: on a contracted column (c_…, breaking exactly when narrowed or
# changed) and on one no contract names (u_…, always compatible).
TYPE_CASES = [
    # name, before, after, kind, engines (None: both)
    ("varchar_longer", "varchar(20)", "varchar(50)", WIDENED, None),
    ("int_to_bigint", "integer", "bigint", WIDENED, None),
    ("varchar_to_text", "varchar(50)", "text", WIDENED, None),
    ("numeric_more_digits", "numeric(10,2)", "numeric(12,2)", WIDENED, None),
    ("numeric_more_scale_same_integers", "numeric(10,2)", "numeric(12,4)", WIDENED, None),
    ("int_to_wide_numeric", "integer", "numeric(12,2)", WIDENED, None),
    ("timestamp_precision_up", "timestamp(3)", "timestamp(6)", WIDENED, None),
    ("array_element_wider", "integer[]", "bigint[]", WIDENED, {"postgresql"}),
    ("varchar_shorter", "varchar(50)", "varchar(20)", NARROWED, None),
    ("bigint_to_int", "bigint", "integer", NARROWED, None),
    ("text_to_varchar", "text", "varchar(20)", NARROWED, None),
    ("numeric_less_scale", "numeric(10,2)", "numeric(10,1)", NARROWED, None),
    ("numeric_fewer_integers", "numeric(10,2)", "numeric(10,4)", NARROWED, None),
    ("int_to_narrow_numeric", "integer", "numeric(5,2)", NARROWED, None),
    ("timestamp_precision_down", "timestamp(6)", "timestamp(0)", NARROWED, None),
    ("text_to_int", "text", "integer", CHANGED, None),
    ("timestamp_to_timestamptz", "timestamp", "timestamptz", CHANGED, None),
    ("date_to_text", "date", "text", CHANGED, None),
]


def test_types_widened_narrowed_and_changed_break_exactly_the_contracted_narrowed_or_changed(src, harvest):
    cases = [case for case in TYPE_CASES if case[4] is None or src.engine in case[4]]

    def columns(i: int) -> str:  # 0: the types before, 1: after
        return ", ".join(f"{p}_{name} {case[i]}" for name, *case in cases for p in ("c", "u"))

    src.rebuild("typed", "id integer NOT NULL, " + columns(0))
    harvest(src)
    contract = contract_over(src, "typed", [{"name": f"c_{name}", "type": before} for name, before, *_ in cases])
    registered = dict(Field.objects.filter(dataset__qualified_name=src.name("typed")).values_list("name", "data_type"))
    src.rebuild("typed", "id integer NOT NULL, " + columns(1))
    run = harvest(src)
    after = dict(Field.objects.filter(dataset__qualified_name=src.name("typed")).values_list("name", "data_type"))
    found = {key[1]: (c.kind, c.before, c.after, c.compatibility, c.contracts) for key, c in changes(run).items()}
    expected = {}
    for name, _, _, kind, _ in cases:
        breaking = kind in (NARROWED, CHANGED)
        expected[f"c_{name}"] = (kind, registered[f"c_{name}"], after[f"c_{name}"],
                                 BREAKING if breaking else COMPATIBLE, [contract.pk] if breaking else [])
        expected[f"u_{name}"] = (kind, registered[f"u_{name}"], after[f"u_{name}"], COMPATIBLE, [])
    wrong = {name: (found.get(name), want) for name, want in expected.items() if found.get(name) != want}
    assert not wrong, wrong
    assert set(found) == set(expected)
    assert {c["field"] for c in drift_incidents(contract).get().summary["breaking_changes"]} == {
        f"c_{name}" for name, _, _, kind, _ in cases if kind != WIDENED}


@pytest.mark.parametrize(("before", "after", "kind"), [
    ("character varying(20)", "text", WIDENED), ("character varying", "text", WIDENED),
    ("character varying(20)", "character varying", WIDENED), ("character varying", "character varying(20)", NARROWED),
    ("text", "character varying", WIDENED), ("character(2)", "character(3)", WIDENED),
    ("char(2)", "character(3)", WIDENED), ("character(2)", "character varying(2)", CHANGED),
    ("numeric(10,2)", "numeric(12,2)", WIDENED), ("numeric(10,2)", "numeric(10,1)", NARROWED),
    ("numeric(10,2)", "numeric(10,4)", NARROWED), ("numeric(10,2)", "numeric", WIDENED),
    ("numeric", "numeric(10,2)", NARROWED), ("numeric(10)", "numeric(10,2)", NARROWED),
    ("numeric(10)", "numeric(12,2)", WIDENED), ("decimal(10,2)", "numeric(12,2)", WIDENED),
    ("integer", "numeric", WIDENED), ("integer", "numeric(10)", WIDENED), ("integer", "numeric(9)", NARROWED),
    ("bigint", "numeric(19,0)", WIDENED), ("smallint", "integer", WIDENED), ("integer", "smallint", NARROWED),
    ("real", "double precision", WIDENED), ("double precision", "real", NARROWED),
    ("integer", "double precision", WIDENED), ("bigint", "double precision", NARROWED),
    ("integer", "real", NARROWED), ("smallint", "real", WIDENED), ("numeric(10,2)", "integer", NARROWED),
    ("double precision", "bigint", NARROWED),
    ("timestamp(3) without time zone", "timestamp without time zone", WIDENED),
    ("timestamp without time zone", "timestamp(3) without time zone", NARROWED),
    ("timestamp(3) with time zone", "timestamp(6) with time zone", WIDENED),
    ("time(6) without time zone", "time(0) without time zone", NARROWED),
    ("timestamp without time zone", "timestamp with time zone", CHANGED),
    ("timestamp with time zone", "timestamp without time zone", CHANGED),
    ("integer[]", "bigint[]", WIDENED), ("bigint[]", "integer[]", NARROWED), ("integer[]", "integer", CHANGED),
    ("character varying(20)[]", "text[]", WIDENED),
    # The same type spelled another way loses nothing: not breaking.
    ("int", "integer", WIDENED), ("TEXT", "text", WIDENED), ("int8", "bigint", WIDENED),
    ("double", "double precision", WIDENED), ("timestamptz", "timestamp with time zone", WIDENED),
    ("text", "integer", CHANGED), ("jsonb", "json", CHANGED), ("uuid", "text", CHANGED),
])
def test_type_change_classifies_the_spellings_each_engine_reports(before, after, kind):
    assert services.type_change(before, after) == kind


def test_nullability_both_ways(src, harvest):
    src.rebuild("people", "id integer NOT NULL, required_now_null text NOT NULL, optional_now_null text NOT NULL, "
                          "required_now_not_null text")
    harvest(src)
    contract = contract_over(src, "people", [
        {"name": "required_now_null", "required": True}, {"name": "optional_now_null", "required": False},
        {"name": "required_now_not_null", "required": True}])
    src.rebuild("people", "id integer NOT NULL, required_now_null text, optional_now_null text, "
                          "required_now_not_null text NOT NULL")
    run = harvest(src)
    found = {key[1]: (c.kind, c.before, c.after, c.compatibility, c.contracts) for key, c in changes(run).items()}
    assert found == {
        "required_now_null": (ChangeKind.NULLABILITY_CHANGED, False, True, BREAKING, [contract.pk]),
        "optional_now_null": (ChangeKind.NULLABILITY_CHANGED, False, True, COMPATIBLE, []),
        "required_now_not_null": (ChangeKind.NULLABILITY_CHANGED, True, False, COMPATIBLE, []),
    }
    assert drift_incidents(contract).get().summary["breaking_changes"][0]["field"] == "required_now_null"


def test_key_changed_breaks_a_contracted_primary_key_and_a_new_key_is_compatible(src, harvest):
    src.rebuild("accounts", "id integer NOT NULL, code text NOT NULL, PRIMARY KEY (id)")
    harvest(src)
    contract = contract_over(src, "accounts", [{"name": "id", "primary_key": True, "required": True},
                                               {"name": "code", "required": True}])
    src.rebuild("accounts", "id integer NOT NULL, code text NOT NULL, PRIMARY KEY (code)")
    run = harvest(src)
    found = {key[1]: (c.kind, c.before, c.after, c.compatibility, c.contracts) for key, c in changes(run).items()}
    assert found == {"id": (ChangeKind.KEY_CHANGED, True, False, BREAKING, [contract.pk]),
                     "code": (ChangeKind.KEY_CHANGED, False, True, COMPATIBLE, [])}
    assert Dataset.objects.get(qualified_name=src.name("accounts")).key_fields == ["code"]
    assert drift_incidents(contract).get().summary["breaking_changes"][0]["field"] == "id"


# --- lineage and curation --------------------------------------------------------------------------


def test_lineage_people_drew_survives_and_harvested_edges_are_replaced(src, harvest):
    for table in ("orders", "refunds", "crm_accounts"):
        src.rebuild(table, "id integer, amount numeric(10,2)")
    src.execute(f"CREATE VIEW {src.name('totals')} AS SELECT id, amount FROM {src.name('orders')}")
    harvest(src)
    datasets = {d.qualified_name: d for d in Dataset.objects.filter(system=src.system)}
    totals = datasets[src.name("totals")]
    with system_actor("tests", reason="a steward draws lineage"):
        drawn = LineageEdge.objects.create(source=datasets[src.name("crm_accounts")], target=totals,
                                           transformation="Joined in the BI tool")
    src.execute(f"DROP VIEW {src.name('totals')}; "
                f"CREATE VIEW {src.name('totals')} AS SELECT id, amount FROM {src.name('refunds')}")
    run = harvest(src)
    edges = {(e.source.qualified_name, e.source_field and e.source_field.name, e.origin)
             for e in LineageEdge.objects.filter(target=totals).select_related("source", "source_field")}
    parsed = LineageOrigin.VIEW_DEFINITION
    assert edges == {(src.name("refunds"), None, parsed), (src.name("refunds"), "id", parsed),
                     (src.name("refunds"), "amount", parsed), (src.name("crm_accounts"), None, "")}
    drawn.refresh_from_db()
    assert (drawn.origin, drawn.transformation) == ("", "Joined in the BI tool")
    assert run.counts["lineage"]["removed"] == 3 and run.counts["lineage"]["added"] == 3


def _curate(dataset: Dataset) -> dict:
    department = factories.department(name="Curators", slug="curators")
    tag = factories.tag(name="Finance", slug="finance")
    steward = make_user("curating-steward")
    with system_actor("tests", reason="people curate"):
        dataset.name, dataset.description = "Leads", "Everyone who asked for a demo."
        dataset.owner_department, dataset.steward = department, steward
        dataset.classification, dataset.lifecycle = "confidential", "active"
        dataset.save()
        dataset.tags.set([tag])
    return _curation(Dataset.objects.get(pk=dataset.pk))


def _curation(dataset: Dataset) -> dict:
    return {"name": dataset.name, "description": dataset.description, "owner": dataset.owner_department_id,
            "steward": dataset.steward_id, "classification": dataset.classification,
            "lifecycle": dataset.lifecycle, "tags": sorted(dataset.tags.values_list("pk", flat=True))}


def test_curated_metadata_is_never_overwritten_by_a_harvest(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255)")
    if src.engine == "postgresql":
        src.execute("COMMENT ON TABLE src.leads IS 'Raw leads'; COMMENT ON COLUMN src.leads.email IS 'Login'")
    harvest(src)
    leads = Dataset.objects.get(qualified_name=src.name("leads"))
    curated = _curate(leads)
    email = leads.fields.get(name="email")
    with system_actor("tests", reason="people curate"):
        email.description = "Where we write to."
        email.save()
    src.rebuild("leads", "id bigint NOT NULL, email varchar(255) NOT NULL, phone text")
    if src.engine == "postgresql":
        src.execute("COMMENT ON TABLE src.leads IS 'Leads, deduplicated'")
    harvest(src)
    leads.refresh_from_db()
    assert _curation(leads) == curated
    assert leads.fields.get(name="email").description == "Where we write to."
    if src.engine == "postgresql":
        assert leads.source_description == "Leads, deduplicated"  # the source's own comment is the source's
    assert leads.fields.get(name="id").data_type == "bigint"


# --- notifications ---------------------------------------------------------------------------------


def test_the_drift_payload_shows_a_subscriber_only_the_fields_they_may_see(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255), salary integer, notes text")
    harvest(src)
    contract = contract_over(src, "leads", [{"name": "id"}, {"name": "email"}, {"name": "salary"}])
    salary = Field.objects.get(dataset__qualified_name=src.name("leads"), name="salary")
    outsider, insider = make_user("outsider"), make_user("insider")
    AccessRule.objects.create(subject_kind="user", subject_user=outsider, target_kind="object",
                              target_type=ContentType.objects.get_for_model(Field), target_id=salary.pk,
                              reason="pay is private")
    for user in (outsider, insider):
        NotificationSubscription.objects.create(name=f"drift for {user}", owner=user, url="http://127.0.0.1:9/hook",
                                                event_types=["schema.drift"])
    src.rebuild("leads", "id integer NOT NULL, email varchar(20), salary bigint")
    harvest(src)

    def details(user):
        [delivery] = Delivery.objects.filter(subscription__owner=user, event_type="schema.drift")
        return delivery.payload["data"]["details"]

    seen = details(outsider)
    assert seen["updated"] == ["email"]
    assert {c["field"] for c in seen["changes"]} == {"email", "notes"}, seen["changes"]
    assert "salary" not in str(seen)
    assert seen["removed"] == ["notes"]  # a removed field is shown to whoever sees the dataset, as in the API
    everything = details(insider)
    assert everything["updated"] == ["email", "salary"]
    assert {c["field"] for c in everything["changes"]} == {"email", "salary", "notes"}
    assert contract.pk == Delivery.objects.filter(subscription__owner=insider).get().payload["data"]["contract"]["id"]


def test_only_an_active_contract_makes_drift_breaking(src, harvest):
    src.rebuild("leads", "id integer NOT NULL, email varchar(255)")
    harvest(src)
    dataset = Dataset.objects.get(qualified_name=src.name("leads"))
    maria = make_user("maria-draft")
    marketing = factories.department(name="Marketing draft", slug="marketing-draft")
    factories.membership(maria, department=marketing, role="lead")
    contract = factories.contract(slug="proposed", producer=marketing, datasets=[dataset])
    version = contract_services.create_version(contract=contract, version="1.0.0", actor=maria, terms={
        "schema": [{"name": "leads", "physical_name": dataset.qualified_name, "fields": [{"name": "email"}]}]})
    contract_services.propose(version, actor=maria)  # proposed, not signed: not in force
    src.rebuild("leads", "id integer NOT NULL")
    [removed] = changes(harvest(src)).values()
    assert (removed.kind, removed.compatibility, removed.contracts) == (ChangeKind.FIELD_REMOVED, COMPATIBLE, [])
    assert not Incident.objects.exists()


def test_a_drift_incident_shows_a_reader_only_the_breaking_changes_of_fields_they_may_see(src, harvest):
    from rest_framework.test import APIClient

    src.rebuild("leads", "id integer NOT NULL, email varchar(255), salary integer")
    harvest(src)
    contract = contract_over(src, "leads", [{"name": "id"}, {"name": "email"}, {"name": "salary"}])
    salary = Field.objects.get(dataset__qualified_name=src.name("leads"), name="salary")
    outsider = make_user("incident-outsider")
    AccessRule.objects.create(subject_kind="user", subject_user=outsider, target_kind="object",
                              target_type=ContentType.objects.get_for_model(Field), target_id=salary.pk,
                              reason="pay is private")
    src.rebuild("leads", "id integer NOT NULL, email varchar(20), salary smallint")
    harvest(src)
    incident = drift_incidents(contract).get()
    assert {c["field"] for c in incident.summary["breaking_changes"]} == {"email", "salary"}
    client = APIClient()
    client.force_authenticate(outsider)
    summary = client.get(f"/api/v1/incidents/{incident.pk}/").json()["summary"]
    assert [c.get("field") for c in summary["breaking_changes"]] == ["email", None], summary
    assert summary["breaking_changes"][-1] == {"hidden": 1}
    assert "salary" not in str(summary) and "smallint" not in str(summary)
