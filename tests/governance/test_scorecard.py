"""The scorecard: its numbers, counted through the viewer's visibility; snapshots; the API, CSV and admin pages."""

from __future__ import annotations

import csv
import datetime
import io

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, Field
from governance import scorecard
from governance.models import (
    ContractVersion,
    CouncilMeeting,
    Incident,
    ScorecardSnapshot,
    StateDefinitionVersion,
    SystemOfRecord,
)
from governance.services import schedules
from governance.tasks import take_scorecard_snapshot
from harvest.models import HarvestRun
from permissions.models import AccessRule, AuditRecord
from tests import factories
from tests.governance.leak_world import HIDDEN_WORDS, GovernanceLeakWorld
from tests.mixins import AdminTests, CRUDAPITests, ReadAPITests, make_user

SCORECARD = "/api/v1/scorecard/"


def _comparable(card: dict) -> dict:
    """What must be equal between two viewers' scorecards: every number and list, not the time it was
    counted nor the trends (which only a viewer who sees everything gets)."""
    def scope(data):
        return {"facts": data["facts"], "contracts": data["contracts"],
                "metrics": [{k: v for k, v in m.items() if k not in ("trend", "change_since_meeting")}
                            for m in data["metrics"]],
                **{k: data[k] for k in ("maturity", "consumers_without_contract", "slug") if k in data}}
    return {"organisation": scope(card["organisation"]), "departments": [scope(d) for d in card["departments"]]}


class TestScorecardThroughVisibility(GovernanceLeakWorld):
    """A contractor opted out by rules of every kind — an object (dataset, field, system), a
    classification level, a tag — for subjects of several kinds (their department, themselves):
    every number equals the number a colleague counts in the world without the hidden objects."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        secret = factories.tag(name="board only", slug="board-only")
        cls.ledger = factories.dataset(system=cls.warehouse, qualified_name="finance.board_ledger", name="Ledger",
                                       owner_department=cls.sales, description="Board ledger", tags=[secret],
                                       lifecycle="active")
        factories.field(dataset=cls.ledger, name="amount", description="Amount", classification="confidential")
        cls.passport = factories.field(dataset=cls.accounts, name="passport_no", classification="restricted",
                                       description="Passport number")
        cls.email = factories.field(dataset=cls.accounts, name="email", classification="pii", description="Email")
        Field.objects.filter(pk=cls.salary_band.pk).update(classification="pii")
        # Lineage across departments: to a dataset hidden from contractors, to one they see, from a hidden one.
        cls.pipeline = factories.dataset(system=cls.warehouse, qualified_name="deals.pipeline", name="Pipeline",
                                         owner_department=cls.contractors)
        factories.lineage(source=cls.accounts, target=cls.targets)
        factories.lineage(source=cls.accounts, target=cls.pipeline)
        factories.lineage(source=cls.ledger, target=cls.pipeline)
        # Harvests: the hidden system's and a visible one's.
        from catalog.models import System

        System.objects.filter(pk__in=[cls.warehouse.pk, cls.workday.pk]).update(
            connection_engine="postgresql", connection_env="SOME_DSN")
        for system in (cls.warehouse, cls.workday):
            HarvestRun.objects.create(system=system, trigger="manual", scheduled_for=timezone.now(),
                                      status="succeeded", finished_at=timezone.now())
        # Incidents with their own times.
        opened = timezone.now() - datetime.timedelta(hours=10)
        closed = Incident.objects.create(contract=cls.contract, opened_by_run=cls.compliance_run, title="Earlier",
                                         status="resolved", acknowledged_at=opened + datetime.timedelta(hours=1),
                                         resolved_at=opened + datetime.timedelta(hours=4))
        Incident.objects.filter(pk=closed.pk).update(created_at=opened)
        # An intern is kept from the e-mail column: a deny rule covers that PII field (for everyone's count).
        intern = make_user("intern")
        AccessRule.objects.create(subject_kind="user", subject_user=intern, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(Field), target_id=cls.email.pk,
                                  reason="Interns do not read e-mail addresses")
        AccessRule.objects.create(subject_kind="department", subject_department=cls.contractors,
                                  target_kind="classification", classification="restricted",
                                  reason="Restricted data stays with employees")
        AccessRule.objects.create(subject_kind="user", subject_user=cls.opted_out, target_kind="tag",
                                  target_tag=secret, reason="Board papers")

    def world_without_hidden_objects(self):
        outer = super().world_without_hidden_objects()

        class _World:
            def __enter__(inner):
                outer.__enter__()
                Dataset._base_manager.filter(pk=self.ledger.pk).delete()
                Field._base_manager.filter(pk=self.passport.pk).delete()

            def __exit__(inner, *exc):
                return outer.__exit__(*exc)
        return _World()

    def test_every_number_equals_the_world_without_the_hidden_objects(self):
        card = scorecard.scorecard(self.opted_out)
        self.assertFalse(card["trends_shown"])
        with self.world_without_hidden_objects():
            expected = scorecard.scorecard(self.colleague)
        self.assertEqual(_comparable(card), _comparable(expected))

    def test_the_hidden_objects_are_counted_for_those_who_see_them(self):
        mine = scorecard.scorecard(self.opted_out)["organisation"]["facts"]
        theirs = scorecard.scorecard(self.colleague)["organisation"]["facts"]
        for fact in ("datasets", "fields", "cross_edges", "connected_systems", "rules", "fields_needing_rule"):
            with self.subTest(fact=fact):
                self.assertLess(mine[fact], theirs[fact])
        self.assertEqual(theirs["fields_needing_rule_covered"], 3)  # email (intern), salary band, passport

    def test_no_hidden_name_reaches_the_api_or_its_csv(self):
        client = self.client_for(self.opted_out)
        for params in ({}, {"format": "csv"}):
            response = client.get(SCORECARD, params)
            self.assertEqual(response.status_code, 200, response.content)
            body = response.content.decode()
            for word in (*HIDDEN_WORDS, "ledger", "passport"):
                self.assertNotIn(word.lower(), body.lower())

    def test_snapshots_are_withheld_from_whoever_some_rule_opts_out(self):
        scorecard.take_snapshots()
        self.assertEqual(ScorecardSnapshot.objects.visible_to(self.opted_out).count(), 0)
        self.assertGreater(ScorecardSnapshot.objects.visible_to(self.colleague).count(), 0)
        self.assertEqual(self.client_for(self.opted_out).get("/api/v1/scorecard-snapshots/").json()["results"], [])
        card = self.client_for(self.opted_out).get(SCORECARD).json()
        self.assertTrue(all(m["trend"] is None and m["change_since_meeting"] is None
                            for m in card["organisation"]["metrics"]))
        colleague = self.client_for(self.colleague).get(SCORECARD).json()
        self.assertTrue(all(len(m["trend"]) == 1 for m in colleague["organisation"]["metrics"]))


class TestScorecardNumbers(TestCase):
    """A small world counted by hand."""

    @classmethod
    def setUpTestData(cls):
        cls.viewer = make_user("viewer")
        cls.lead = make_user("sales-lead")
        cls.sales = factories.department(name="Sales", slug="sales")
        cls.finance = factories.department(name="Finance", slug="finance")
        factories.membership(cls.lead, department=cls.sales, role="lead")
        system = factories.system(owner_department=cls.sales)
        cls.leads_table = factories.dataset(system=system, owner_department=cls.sales, steward=cls.lead,
                                            description="Leads")
        cls.accounts = factories.dataset(system=system, owner_department=cls.sales)
        factories.dataset(system=system, owner_department=cls.sales, lifecycle="retired")  # not counted
        cls.invoices = factories.dataset(system=system, owner_department=cls.finance)
        factories.field(dataset=cls.leads_table, owner=cls.lead, owner_department=cls.sales, description="x",
                        classification="pii")
        factories.field(dataset=cls.leads_table)
        factories.field(dataset=cls.accounts, classification="public")
        entity = factories.entity(owner_department=cls.sales)
        covered, cls.disputed, _ = (entity.attributes.create(name=n) for n in ("id", "email", "name"))
        SystemOfRecord.objects.create(entity=entity, attribute=covered, system=system, status="active", rationale="x")
        other = factories.system(owner_department=cls.finance)
        SystemOfRecord.objects.create(entity=entity, attribute=cls.disputed, system=system, status="active",
                                      rationale="x")
        SystemOfRecord.objects.create(entity=entity, attribute=cls.disputed, system=other, status="proposed",
                                      rationale="y")
        workflow = factories.workflow(owner_department=cls.sales, dataset=cls.leads_table)
        approved, waiting, stale = (factories.state(workflow=workflow) for _ in range(3))
        StateDefinitionVersion.objects.create(definition=approved, number=1, status="approved", definition_text="a")
        StateDefinitionVersion.objects.create(definition=waiting, number=1, status="proposed", definition_text="b")
        old = StateDefinitionVersion.objects.create(definition=stale, number=1, status="draft", definition_text="c")
        StateDefinitionVersion.objects.filter(pk=old.pk).update(updated_at=timezone.now() - datetime.timedelta(days=45))
        # Two edges from Sales to Finance; one covered by an active contract.
        factories.lineage(source=cls.leads_table, target=cls.invoices)
        factories.lineage(source=cls.accounts, target=cls.invoices)
        contract = factories.contract(producer=cls.sales, consumers=[cls.finance], datasets=[cls.leads_table])
        version = ContractVersion.objects.create(contract=contract, version="1.0.0", status="active", terms={})
        ContractVersion.objects.filter(pk=version.pk).update(producer=cls.sales)
        version.consumers.set([cls.finance])
        version.datasets.set([cls.leads_table])

    def test_counts(self):
        card = scorecard.scorecard(self.viewer)
        sales = next(d for d in card["departments"] if d["slug"] == "sales")
        facts = sales["facts"]
        self.assertEqual((facts["datasets"], facts["datasets_with_steward"], facts["datasets_described"]), (2, 1, 1))
        self.assertEqual((facts["fields"], facts["fields_owned"], facts["fields_described"],
                          facts["fields_classified"], facts["fields_needing_rule"]), (3, 1, 1, 2, 1))
        self.assertEqual((facts["attributes"], facts["attributes_with_sor"], facts["sor_conflicts"]), (3, 2, 1))
        self.assertEqual((facts["states"], facts["states_approved"], facts["states_waiting"],
                          facts["states_stale_drafts"]), (3, 1, 1, 1))
        self.assertEqual((facts["cross_edges"], facts["cross_edges_covered"]), (2, 1))
        self.assertEqual(sales["consumers_without_contract"], ["Finance"])
        self.assertEqual(sales["maturity"]["stage"], 1)
        self.assertIn("every attribute of its entities has an active system of record",
                      sales["maturity"]["missing_for_next"])
        metric = {m["key"]: m for m in sales["metrics"]}
        self.assertEqual(metric["ownership.datasets"]["value"], 50.0)
        self.assertEqual(metric["contracts.coverage"]["value"], 50.0)
        self.assertEqual(metric["compliance.score"]["band"], "not measured")
        self.assertEqual(card["organisation"]["facts"]["datasets"], 3)

    def test_a_fixed_number_of_queries_whatever_the_size(self):
        self.client.force_login(self.viewer)
        self.client.get(SCORECARD)  # the deny rules compiled once
        counts = []
        for extra in (0, 20):
            for _ in range(extra):
                dataset = factories.dataset(owner_department=self.finance)
                factories.field(dataset=dataset)
                factories.lineage(source=dataset, target=self.leads_table)
            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(self.client.get(SCORECARD).status_code, 200)
            counts.append(len(queries.captured_queries))
        self.assertEqual(counts[0], counts[1])
        # A dozen grouped aggregates, the departments, the council meeting, the snapshots, the session's.
        self.assertLessEqual(counts[0], 25)

    def test_maturity_stages_follow_each_other(self):
        facts = dict.fromkeys(scorecard.FACT_KEYS, 0)
        self.assertEqual(scorecard.maturity(facts)["stage"], 0)
        facts.update(datasets=1, leads=1)
        self.assertEqual(scorecard.maturity(facts)["stage"], 1)
        facts.update(attributes=2, attributes_with_sor=2, states=1, states_approved=1)
        self.assertEqual(scorecard.maturity(facts)["stage"], 2)
        facts.update(datasets_with_steward=1, datasets_described=1, fields=10, fields_owned=9, fields_described=8,
                     fields_classified=8)
        self.assertEqual(scorecard.maturity(facts)["stage"], 3)
        facts.update(active_contracts=1, active_contracts_fresh=1, cross_edges=3, cross_edges_covered=3)
        self.assertEqual(scorecard.maturity(facts)["stage"], 4)
        facts.update(rules=20, rules_passing=19)
        self.assertEqual(scorecard.maturity(facts)["stage"], 5)
        facts.update(sor_conflicts=1)  # a lower stage lost: the higher ones do not count
        self.assertEqual(scorecard.maturity(facts)["stage"], 1)

    def test_bands(self):
        self.assertEqual([scorecard.band_for(v) for v in (100, 95, 94.9, 80, 79.9, 0, None)],
                         ["good", "good", "warning", "warning", "poor", "poor", "not measured"])


class TestSnapshots(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.department = factories.department(slug="ops")
        factories.dataset(owner_department=cls.department)
        cls.viewer = make_user("trend-viewer")

    def test_the_task_is_idempotent_per_day_and_prunes(self):
        stale = ScorecardSnapshot.objects.create(day=timezone.localdate() - datetime.timedelta(days=500),
                                                 facts={}, computed_at=timezone.now())
        self.assertEqual(take_scorecard_snapshot(), 2)  # the organisation and the department
        factories.dataset(owner_department=self.department)
        take_scorecard_snapshot()
        today = ScorecardSnapshot.objects.filter(day=timezone.localdate())
        self.assertEqual(today.count(), 2)
        self.assertEqual(today.get(department=self.department).facts["datasets"], 2)  # the rerun's count
        self.assertFalse(ScorecardSnapshot.objects.filter(pk=stale.pk).exists())

    def test_the_task_is_registered_with_beat(self):
        self.assertIn("governance.tasks.take_scorecard_snapshot", [task for _, task, _ in schedules.HOUSEKEEPING])

    def test_trend_and_change_since_the_last_meeting(self):
        today = timezone.localdate()
        for days_ago, datasets in ((30, 0), (10, 4), (5, 9)):
            ScorecardSnapshot.objects.create(day=today - datetime.timedelta(days=days_ago), department=None,
                                             facts={"datasets": datasets, "datasets_with_steward": 0},
                                             computed_at=timezone.now())
        CouncilMeeting.objects.create(held_on=today - datetime.timedelta(days=8))
        CouncilMeeting.objects.create(held_on=today + datetime.timedelta(days=7))  # not held yet
        card = scorecard.scorecard(self.viewer)
        self.assertEqual(card["last_council_meeting"], (today - datetime.timedelta(days=8)).isoformat())
        metric = next(m for m in card["organisation"]["metrics"] if m["key"] == "incidents.open")
        self.assertEqual(len(metric["trend"]), 3)
        # open incidents now 0, at the meeting (the snapshot 10 days ago) 0
        self.assertEqual(metric["change_since_meeting"], 0)


class TestScorecardAPI(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.viewer = make_user("api-viewer")
        cls.department = factories.department(name="Marketing", slug="marketing")
        factories.dataset(owner_department=cls.department)

    def setUp(self):
        self.client.force_login(self.viewer)

    def test_organisation_and_departments(self):
        body = self.client.get(SCORECARD).json()
        self.assertEqual([d["slug"] for d in body["departments"]], ["marketing"])
        self.assertEqual(body["organisation"]["facts"]["datasets"], 1)
        self.assertEqual({m["key"] for m in body["organisation"]["metrics"]}, set(scorecard.METRIC_KEYS))

    def test_one_department(self):
        body = self.client.get(f"{SCORECARD}departments/marketing/").json()
        self.assertNotIn("organisation", body)
        self.assertEqual(body["departments"][0]["facts"]["datasets"], 1)
        missing = self.client.get(f"{SCORECARD}departments/nobody/")
        self.assertEqual(missing.status_code, 404)
        self.assertEqual(missing["Content-Type"], "application/json")

    def test_unknown_parameter_is_a_400_naming_it(self):
        response = self.client.get(SCORECARD, {"department": "x"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()["errors"]), ["department"])

    def test_anonymous_is_401(self):
        self.client.logout()
        self.assertEqual(self.client.get(SCORECARD).status_code, 401)

    def test_csv(self):
        response = self.client.get(SCORECARD, {"format": "csv"})
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertIn("attachment", response["Content-Disposition"])
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        self.assertEqual(rows[0][:4], ["scope", "department", "group", "metric"])
        self.assertEqual(len(rows), 1 + 2 * len(scorecard.METRICS))
        datasets = [r for r in rows if r[0] == "department" and r[3] == "ownership.datasets"]
        self.assertEqual(datasets[0][7:9], ["0", "1"])

    def test_schema_documents_the_endpoints(self):
        schema = self.client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        for path in ("/api/v1/scorecard/", "/api/v1/scorecard/departments/{slug}/", "/api/v1/scorecard-snapshots/",
                     "/api/v1/council-meetings/"):
            self.assertIn(path, schema["paths"])


class TestScorecardAdminPage(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.superuser = make_user("sc-admin", is_staff=True, is_superuser=True)
        cls.reader = make_user("sc-reader", is_staff=True)
        cls.department = factories.department(name="Support", slug="support")
        cls.hidden = factories.dataset(owner_department=cls.department, qualified_name="support.secret_tickets")
        factories.dataset(owner_department=cls.department)
        AccessRule.objects.create(subject_kind="user", subject_user=cls.reader, target_kind="object",
                                  target_type=ContentType.objects.get_for_model(Dataset), target_id=cls.hidden.pk,
                                  reason="tests")

    def _page(self, user, **params):
        self.client.force_login(user)
        return self.client.get(reverse("admin:governance_scorecard"), params)

    def test_page_counts_what_each_may_see(self):
        full = self._page(self.superuser)
        self.assertEqual(full.status_code, 200)
        self.assertEqual(full.context["card"]["organisation"]["facts"]["datasets"], 2)
        restricted = self._page(self.reader)
        self.assertEqual(restricted.context["card"]["organisation"]["facts"]["datasets"], 1)
        self.assertContains(restricted, 'id="trends-withheld"')
        self.assertNotContains(restricted, "secret_tickets")

    def test_department_and_printable_pages(self):
        page = self._page(self.superuser, department="support")
        self.assertContains(page, "Maturity stage")
        self.assertEqual(self._page(self.superuser, department="nobody").status_code, 404)
        self.client.force_login(self.superuser)
        printable = self.client.get(reverse("admin:governance_scorecard_print"))
        self.assertContains(printable, "@media print")

    def test_admin_home_links_to_it(self):
        self.client.force_login(self.superuser)
        self.assertContains(self.client.get(reverse("admin:index")), reverse("admin:governance_scorecard"))


# --- the models through the shared mixins ------------------------------------------------------------------------


def _snapshot(index: int) -> ScorecardSnapshot:
    department = factories.department()
    return ScorecardSnapshot.objects.create(day=timezone.localdate() - datetime.timedelta(days=index),
                                            department=department, facts={"datasets": index},
                                            computed_at=timezone.now())


def _hide_every_snapshot(testcase, user) -> None:
    """Snapshots are withheld from anyone some deny rule applies to (any rule)."""
    dataset = factories.dataset()
    AccessRule.objects.create(subject_kind="user", subject_user=user, target_kind="object",
                              target_type=ContentType.objects.get_for_model(Dataset), target_id=dataset.pk,
                              reason="tests: somebody opted out of something")


class TestScorecardSnapshotAPI(ReadAPITests):
    model = ScorecardSnapshot
    basename = "scorecardsnapshot"
    ordering_field = "day"
    filter_cases = [({"organisation": "true"}, [])]

    @classmethod
    def make_objects(cls, count):
        return [_snapshot(i) for i in range(count)]

    def hide(self, obj):
        _hide_every_snapshot(self, self.employee)


class TestScorecardSnapshotAdmin(AdminTests):
    model = ScorecardSnapshot
    can_add = False
    search_term = "Department"

    @classmethod
    def make_objects(cls, count):
        return [_snapshot(i) for i in range(count)]

    def hide(self, obj):
        _hide_every_snapshot(self, self.reader)

    def listed_text(self, obj):
        return obj.department.name


def _meeting(index: int) -> CouncilMeeting:
    i = factories.n()  # a day of its own, however many the mixins make
    return CouncilMeeting.objects.create(held_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=i),
                                         notes=f"Meeting {i}")


class TestCouncilMeetingAPI(CRUDAPITests):
    model = CouncilMeeting
    basename = "councilmeeting"
    ordering_field = "held_on"
    update_payload = {"notes": "Reviewed the scorecard"}
    invalid_payloads = [({"held_on": "not a date"}, "held_on"), ({"notes": "no day"}, "held_on")]
    filter_cases = [({"since": "2026-01-01"}, lambda self: [m.pk for m in self.objects_]),
                    ({"until": "2025-12-31"}, [])]

    @classmethod
    def make_objects(cls, count):
        return [_meeting(i) for i in range(count)]

    def create_payloads(self):
        return [{"held_on": f"2026-0{month}-02", "notes": "Monthly review"} for month in (5, 6, 7)]


class TestCouncilMeetingAdmin(AdminTests):
    model = CouncilMeeting
    search_term = "Meeting"

    @classmethod
    def make_objects(cls, count):
        return [_meeting(i) for i in range(count)]

    def listed_text(self, obj):
        return obj.held_on.strftime("%b. %-d, %Y")[:3]


class TestCouncilMeetingIsAudited(TestCase):
    def test_a_council_member_sets_a_meeting_in_the_admin_audited(self):
        from django.conf import settings
        from django.contrib.auth.models import Group

        council = make_user("council-member", is_staff=True)
        council.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        self.client.force_login(council)
        response = self.client.post(reverse("admin:governance_councilmeeting_add"),
                                    {"held_on": "2026-12-01", "notes": "Q4 review"})
        self.assertEqual(response.status_code, 302, response.content[:500])
        meeting = CouncilMeeting.objects.get()
        records = AuditRecord.objects.filter(object_type="governance.councilmeeting", object_id=str(meeting.pk))
        self.assertEqual([(r.action, r.actor_id) for r in records], [("create", council.pk)])
        reader = make_user("plain-reader", is_staff=True)
        self.client.force_login(reader)
        self.assertEqual(self.client.get(reverse("admin:governance_councilmeeting_add")).status_code, 403)
