"""Every governance endpoint through the shared CRUD, permission and admin mixins."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.test import TestCase
from rest_framework.test import APIClient

from governance.models import (
    BusinessEntity,
    ComplianceRun,
    ContractVersion,
    DataContract,
    Delivery,
    EntityAttribute,
    Incident,
    NotificationSubscription,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
    SystemOfRecord,
)
from governance.services import contracts as contract_services
from governance.services import states as state_services
from permissions.context import Actor
from permissions.models import AccessRule
from tests import factories
from tests.mixins import PASSWORD, AdminTests, CRUDAPITests, ReadAPITests, User, make_user


def deny_for(user, obj) -> AccessRule:
    """A deny rule hiding ``obj`` (and what it contains) from ``user`` alone."""
    return AccessRule.objects.create(subject_kind="user", subject_user=user, target_kind="object",
                                     target_type=ContentType.objects.get_for_model(obj), target_id=obj.pk,
                                     reason=f"{user} may not see {obj}")


TERMS = {"schema": [{"name": "leads", "fields": [{"name": "lead_id", "type": "varchar(24)", "required": True}]}],
         "notice_period_days": 0}


class TestBusinessEntityAPI(CRUDAPITests):
    model = BusinessEntity
    basename = "businessentity"
    ordering_field = "name"
    update_payload = {"description": "Anyone we invoice."}

    @classmethod
    def setUpTestData(cls):
        cls.finance = factories.department(name="Finance", slug="finance")
        cls.table = factories.dataset(qualified_name="netsuite.customer")
        super().setUpTestData()
        cls.customer = factories.entity(name="Customer", slug="customer", bounded_context="Billing",
                                        owner_department=cls.finance)
        cls.invalid_payloads = [
            ({"name": "Customer", "slug": "customer-2", "bounded_context": "Billing"}, "non_field_errors"),
            ({"name": "X", "slug": "customer", "bounded_context": "Billing"}, "slug"),
            ({"name": "Y", "slug": "y"}, "bounded_context"),
        ]
        cls.filter_cases = [({"bounded_context": "Billing"}, [cls.customer.pk]),
                            ({"owner_department": cls.finance.pk}, [cls.customer.pk])]

    @classmethod
    def make_objects(cls, count):
        return [factories.entity() for _ in range(count)]

    def create_payloads(self):
        return [{"name": "Invoice", "slug": "invoice", "bounded_context": "Billing", "owner_department": "finance",
                 "datasets": [self.table.pk]}]


class TestEntityAttributeAPI(CRUDAPITests):
    model = EntityAttribute
    basename = "entityattribute"
    ordering_field = "name"
    update_payload = {"is_identifier": True}

    @classmethod
    def setUpTestData(cls):
        cls.customer = factories.entity(name="Customer", slug="customer")
        super().setUpTestData()
        cls.invalid_payloads = [({"entity": "customer"}, "name"), ({"entity": 999999, "name": "x"}, "entity")]

    @classmethod
    def make_objects(cls, count):
        return [EntityAttribute.objects.create(entity=factories.entity(), name=f"attr_{factories.n()}")
                for _ in range(count)]

    def create_payloads(self):
        return [{"entity": "customer", "name": "customer_id", "is_identifier": True}]


class TestSystemOfRecordAPI(CRUDAPITests):
    model = SystemOfRecord
    basename = "systemofrecord"
    update_payload = {"rationale": "Finance issues the numbers."}

    @classmethod
    def setUpTestData(cls):
        cls.netsuite = factories.system(name="NetSuite", slug="netsuite")
        cls.customers = factories.dataset(system=cls.netsuite, qualified_name="customer")
        cls.other = factories.dataset(qualified_name="elsewhere")
        cls.customer = factories.entity(name="Customer", slug="customer")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"entity": "customer", "system": "netsuite"}, "rationale"),
            ({"entity": "customer", "system": "netsuite", "dataset": cls.other.pk, "rationale": "x"}, "dataset"),
        ]
        cls.filter_cases = [({"system": cls.netsuite.pk}, lambda t: list(
            SystemOfRecord.objects.filter(system=t.netsuite).values_list("pk", flat=True)))]

    @classmethod
    def make_objects(cls, count):
        return [SystemOfRecord.objects.create(entity=factories.entity(), system=factories.system(), rationale="r")
                for _ in range(count)]

    def create_payloads(self):
        return [{"entity": "customer", "system": "netsuite", "dataset": self.customers.pk,
                 "rationale": "Finance issues customer numbers"}]

    def test_created_designation_is_only_proposed(self):
        response = self.client_for(self.editor).post(self.list_url(), self.create_payloads()[0], format="json")
        self.assertEqual(response.json()["status"], "proposed")
        self.assertEqual(response.json()["proposed_by"]["username"], self.editor.username)


class TestStateWorkflowAPI(CRUDAPITests):
    model = StateWorkflow
    basename = "stateworkflow"
    ordering_field = "name"
    update_payload = {"description": "From first touch to customer"}

    @classmethod
    def setUpTestData(cls):
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.leads = factories.dataset(qualified_name="stg_leads")
        cls.status = factories.field(dataset=cls.leads, name="lead_status")
        cls.elsewhere = factories.field(name="status")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"name": "W", "slug": "w", "owner_department": "marketing", "dataset": cls.leads.pk,
              "state_field": cls.elsewhere.pk}, "state_field"),
            ({"name": "W", "slug": "w", "owner_department": "marketing"}, "dataset"),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.workflow() for _ in range(count)]

    def create_payloads(self):
        return [{"name": "Lead lifecycle", "slug": "lead-lifecycle", "owner_department": "marketing",
                 "dataset": self.leads.pk, "state_field": self.status.pk}]


class TestStateDefinitionAPI(CRUDAPITests):
    model = StateDefinition
    basename = "statedefinition"
    ordering_field = "name"
    update_payload = {"scope": "enterprise"}

    @classmethod
    def setUpTestData(cls):
        cls.flow = factories.workflow(slug="lead-lifecycle")
        cls.sales = factories.department(name="Sales", slug="sales")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"workflow": "lead-lifecycle", "name": "MQL", "slug": "mql", "owner_department": "sales",
              "scope": "galactic"}, "scope"),
            ({"workflow": "lead-lifecycle", "name": "MQL", "owner_department": "sales"}, "slug"),
        ]

    @classmethod
    def make_objects(cls, count):
        return [factories.state() for _ in range(count)]

    def create_payloads(self):
        return [{"workflow": "lead-lifecycle", "name": "MQL", "slug": "mql", "state_value": "mql",
                 "owner_department": "sales", "scope": "enterprise", "stakeholders": ["sales"]}]


class TestStateTransitionAPI(CRUDAPITests):
    model = StateTransition
    basename = "statetransition"
    update_payload = {"description": "Accepted by an SDR"}

    @classmethod
    def setUpTestData(cls):
        cls.flow = factories.workflow(slug="lead-lifecycle")
        cls.mql = factories.state(workflow=cls.flow, slug="mql")
        cls.sql = factories.state(workflow=cls.flow, slug="sql")
        cls.foreign = factories.state()
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"workflow": "lead-lifecycle", "from_state": cls.mql.pk, "to_state": cls.mql.pk}, "non_field_errors"),
            ({"workflow": "lead-lifecycle", "from_state": cls.mql.pk, "to_state": cls.foreign.pk}, "to_state"),
        ]

    @classmethod
    def make_objects(cls, count):
        objects = []
        for _ in range(count):
            flow = factories.workflow()
            objects.append(StateTransition.objects.create(workflow=flow, from_state=factories.state(workflow=flow),
                                                          to_state=factories.state(workflow=flow)))
        return objects

    def create_payloads(self):
        return [{"workflow": "lead-lifecycle", "from_state": self.mql.pk, "to_state": self.sql.pk}]


class TestStateDefinitionVersionAPI(CRUDAPITests):
    model = StateDefinitionVersion
    basename = "statedefinitionversion"
    ordering_field = "number"
    update_payload = {"definition_text": "Reachable and engaged."}

    @classmethod
    def setUpTestData(cls):
        cls.mql = factories.state(slug="mql")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"definition": cls.mql.pk, "definition_text": "x",
              "criteria": {"field": "no_such_field", "op": "is_null"}}, "criteria.field"),
            ({"definition": 999999, "definition_text": "x"}, "definition"),
        ]

    @classmethod
    def make_objects(cls, count):
        return [state_services.create_draft(definition=factories.state(), definition_text="d", criteria={},
                                            actor=Actor(system="tests")) for _ in range(count)]

    def create_payloads(self):
        return [{"definition": self.mql.pk, "definition_text": "A reachable person with a score of 60",
                 "criteria": {"all": [{"field": "email", "op": "is_not_null"},
                                      {"field": "score", "op": "gte", "value": 60}]}}]


class TestDataContractAPI(CRUDAPITests):
    model = DataContract
    basename = "datacontract"
    ordering_field = "name"
    update_payload = {"description": "Leads handed to Sales"}

    @classmethod
    def setUpTestData(cls):
        cls.marketing = factories.department(name="Marketing", slug="marketing")
        cls.sales = factories.department(name="Sales", slug="sales")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"name": "C", "slug": "c", "producer": "marketing", "consumers": ["marketing"]}, "consumers"),
            ({"name": "C", "slug": "c", "producer": "marketing", "consumers": []}, "consumers"),
            ({"name": "C", "slug": "c", "consumers": ["sales"]}, "producer"),
        ]
        cls.filter_cases = [({"producer": cls.marketing.pk}, [])]

    @classmethod
    def make_objects(cls, count):
        return [factories.contract() for _ in range(count)]

    def create_payloads(self):
        return [{"name": "Lead hand-off", "slug": "lead-handoff", "producer": "marketing", "consumers": ["sales"]}]


class TestContractVersionAPI(CRUDAPITests):
    model = ContractVersion
    basename = "contractversion"
    ordering_field = "id"
    update_payload = {"terms": {**TERMS, "support_channel": "#leads"}}

    @classmethod
    def setUpTestData(cls):
        cls.handoff = factories.contract(slug="lead-handoff")
        super().setUpTestData()
        cls.invalid_payloads = [
            ({"contract": "lead-handoff", "version": "one", "terms": TERMS}, "version"),
            ({"contract": "lead-handoff", "version": "1.0.0", "terms": {"schedule": "sometimes"}},
             "terms.schedule"),
        ]

    @classmethod
    def make_objects(cls, count):
        return [contract_services.create_version(contract=factories.contract(), version="1.0.0", terms=TERMS,
                                                 actor=Actor(system="tests")) for _ in range(count)]

    def create_payloads(self):
        return [{"contract": "lead-handoff", "version": "1.0.0", "terms": TERMS}]


# --- admin ---------------------------------------------------------------------------------------


class TestBusinessEntityAdmin(AdminTests):
    model = BusinessEntity
    search_term = "Entity"

    @classmethod
    def make_objects(cls, count):
        return [factories.entity() for _ in range(count)]


class TestEntityAttributeAdmin(AdminTests):
    model = EntityAttribute
    search_term = "attr"

    @classmethod
    def make_objects(cls, count):
        return [EntityAttribute.objects.create(entity=factories.entity(), name=f"attr_{factories.n()}")
                for _ in range(count)]


class TestSystemOfRecordAdmin(AdminTests):
    model = SystemOfRecord
    search_term = "Entity"

    @classmethod
    def make_objects(cls, count):
        return [SystemOfRecord.objects.create(entity=factories.entity(), system=factories.system(), rationale="r")
                for _ in range(count)]


class TestStateWorkflowAdmin(AdminTests):
    model = StateWorkflow
    search_term = "Workflow"

    @classmethod
    def make_objects(cls, count):
        return [factories.workflow() for _ in range(count)]


class TestStateDefinitionAdmin(AdminTests):
    model = StateDefinition
    search_term = "State"

    @classmethod
    def make_objects(cls, count):
        return [factories.state() for _ in range(count)]


class TestStateTransitionAdmin(AdminTests):
    model = StateTransition
    search_term = "Workflow"

    @classmethod
    def make_objects(cls, count):
        return TestStateTransitionAPI.make_objects(count)


class TestStateDefinitionVersionAdmin(AdminTests):
    model = StateDefinitionVersion
    search_term = "State"

    @classmethod
    def make_objects(cls, count):
        return TestStateDefinitionVersionAPI.make_objects(count)

    def test_pending_and_diff_pages(self):
        self.assertEqual(self.client.get("/admin/governance/statedefinitionversion/pending/").status_code, 200)
        version = self.objects_[0]
        self.assertEqual(self.client.get(f"/admin/governance/statedefinitionversion/{version.pk}/diff/")
                         .status_code, 200)


class TestDataContractAdmin(AdminTests):
    model = DataContract
    search_term = "Contract"

    @classmethod
    def make_objects(cls, count):
        return [factories.contract() for _ in range(count)]


class TestContractVersionAdmin(AdminTests):
    model = ContractVersion
    search_term = "Contract"

    @classmethod
    def make_objects(cls, count):
        return TestContractVersionAPI.make_objects(count)


# --- restricted inlines --------------------------------------------------------------------------


def make_run(**kw):
    """A finished run of a new contract's version (with the results given as dicts)."""
    import datetime

    from django.utils import timezone

    from governance.models import CheckResult, ComplianceRun

    version = kw.pop("contract_version", None) or TestContractVersionAPI.make_objects(1)[0]
    results = kw.pop("results", [])
    run = ComplianceRun.objects.create(
        contract_version=version, scheduled_for=timezone.now() - datetime.timedelta(minutes=factories.n()),
        trigger="scheduled", status="completed", outcome="fail", **kw)
    for result in results:
        CheckResult.objects.create(run=run, **{"kind": "data", "rule": "not_null", "status": "fail", **result})
    return run


class TestRestrictedInlines(TestCase):
    """An admin inline lists only the rows its reader may see, like the API."""

    @classmethod
    def setUpTestData(cls):
        cls.reader = make_user("inline-reader", is_staff=True, perms=(
            "governance.view_compliancerun", "governance.view_checkresult", "governance.view_notificationsubscription",
            "governance.view_delivery"))
        cls.superuser = User.objects.create_superuser("inline-admin", "a@example.com", PASSWORD)
        shown = factories.dataset(qualified_name="crm.leads")
        factories.field(dataset=shown, name="amount")
        secret_field = factories.field(dataset=shown, name="tax_ref")
        secret_dataset = factories.dataset(qualified_name="deals.targets")
        for target in (secret_field, secret_dataset):
            deny_for(cls.reader, target)
        cls.checked_run = make_run(results=[
            {"key": "data:shown:amount", "dataset": shown, "field": "amount"},
            {"key": "data:shown:tax_ref", "dataset": shown, "field": "tax_ref"},
            {"key": "data:targets:id", "dataset": secret_dataset, "field": "id"},
            {"key": "metadata:signed", "kind": "metadata", "rule": "signed"},
        ])
        cls.shown_keys = {"data:shown:amount", "metadata:signed"}
        cls.hidden_keys = {"data:shown:tax_ref", "data:targets:id"}

    def page(self, user, url) -> str:
        self.client.force_login(user)
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_a_runs_page_lists_only_the_results_its_reader_may_see(self):
        url = f"/admin/governance/compliancerun/{self.checked_run.pk}/change/"
        mine = self.page(self.reader, url)
        self.assertEqual({key for key in self.shown_keys | self.hidden_keys if key in mine}, self.shown_keys)
        everything = self.page(self.superuser, url)
        self.assertEqual({key for key in self.shown_keys | self.hidden_keys if key in everything},
                         self.shown_keys | self.hidden_keys)

    def test_a_runs_detail_lists_the_same_results(self):
        client = APIClient()
        client.force_authenticate(self.reader)
        body = client.get(f"/api/v1/compliance-runs/{self.checked_run.pk}/").json()
        self.assertEqual({r["key"] for r in body["results"]}, self.shown_keys)

    def test_a_subscriptions_deliveries_are_its_owners(self):
        from governance.models import Delivery, NotificationSubscription

        theirs = NotificationSubscription.objects.create(name="Theirs", owner=self.superuser,
                                                         url="https://hooks.example/theirs")
        mine = NotificationSubscription.objects.create(name="Mine", owner=self.reader,
                                                       url="https://hooks.example/mine")
        for subscription in (theirs, mine):
            Delivery.objects.create(subscription=subscription, event_id=f"evt_{subscription.name.lower()}",
                                    event_type="incident.opened", payload={})
        own_page = self.page(self.reader, f"/admin/governance/notificationsubscription/{mine.pk}/change/")
        self.assertTrue("evt_mine" in own_page and "evt_theirs" not in own_page)
        self.client.force_login(self.reader)
        response = self.client.get(f"/admin/governance/notificationsubscription/{theirs.pk}/change/")
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)  # as for a missing one
        deliveries = self.page(self.reader, "/admin/governance/delivery/")
        self.assertTrue("evt_mine" in deliveries and "evt_theirs" not in deliveries)


class TestIdFiltersAnswerHiddenLikeMissing(TestCase):
    """A filter given the id of an object its reader may not see answers exactly as for an id
    of nothing (400, naming the filter), not with the rows related to the hidden object."""

    @classmethod
    def setUpTestData(cls):
        from governance.models import Delivery, NotificationSubscription

        cls.reader = make_user("filter-reader")
        cls.colleague = make_user("filter-colleague")
        cls.hidden = factories.dataset(qualified_name="deals.targets")
        deny_for(cls.reader, cls.hidden)
        cls.contract = factories.contract(datasets=[cls.hidden])
        cls.entity = factories.entity(name="Target", slug="target")
        cls.entity.datasets.set([cls.hidden])
        cls.own = NotificationSubscription.objects.create(name="Own", owner=cls.reader, url="https://hooks.example/a")
        cls.theirs = NotificationSubscription.objects.create(name="Theirs", owner=cls.colleague,
                                                             url="https://hooks.example/b")
        for subscription in (cls.own, cls.theirs):
            Delivery.objects.create(subscription=subscription, event_id=f"evt_{subscription.pk}",
                                    event_type="incident.opened", payload={})

    def get(self, user, url, **params):
        client = APIClient()
        client.force_authenticate(user)
        return client.get(url, params)

    def assertAnswersLikeMissing(self, url, name, hidden_id, missing_id):  # noqa: N802 - unittest naming
        hidden = self.get(self.reader, url, **{name: hidden_id})
        missing = self.get(self.reader, url, **{name: missing_id})
        self.assertEqual(hidden.status_code, 400, hidden.content)
        self.assertEqual(list(hidden.json()["errors"]), [name])
        self.assertEqual(hidden.content.decode().replace(str(hidden_id), "ID"),
                         missing.content.decode().replace(str(missing_id), "ID"))

    def test_contracts_and_entities_by_a_hidden_dataset(self):
        from catalog.models import Dataset

        missing = Dataset.objects.order_by("-pk").first().pk + 1000
        for url, row in (("/api/v1/contracts/", self.contract), ("/api/v1/business-entities/", self.entity)):
            with self.subTest(url=url):
                self.assertAnswersLikeMissing(url, "dataset", self.hidden.pk, missing)
                found = self.get(self.colleague, url, dataset=self.hidden.pk).json()["results"]
                self.assertEqual([r["id"] for r in found], [row.pk])

    def test_deliveries_by_another_persons_subscription(self):
        self.assertAnswersLikeMissing("/api/v1/deliveries/", "subscription", self.theirs.pk, self.theirs.pk + 1000)
        own = self.get(self.reader, "/api/v1/deliveries/", subscription=self.own.pk).json()["results"]
        self.assertEqual([d["event_id"] for d in own], [f"evt_{self.own.pk}"])


# --- compliance and notifications: read-only and private rows through the same mixins -------------


class TestComplianceRunAPI(ReadAPITests):
    model = ComplianceRun
    basename = "compliancerun"
    ordering_field = "scheduled_for"

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]


class TestIncidentAPI(ReadAPITests):
    model = Incident
    basename = "incident"

    @classmethod
    def make_objects(cls, count):
        return [make_incident() for _ in range(count)]


def make_incident():
    run = make_run()
    return Incident.objects.create(contract=run.contract_version.contract, opened_by_run=run,
                                   title=f"Breach {factories.n()}")


class TestSubscriptionAPI(CRUDAPITests):
    model = NotificationSubscription
    basename = "notificationsubscription"
    ordering_field = "name"
    update_payload = {"is_active": False}
    invalid_payloads = [
        ({"name": "x", "url": "ftp://hooks.example.com/x"}, "url"),
        ({"name": "x", "url": "https://hooks.example.com/x", "event_types": ["nope"]}, "event_types"),
    ]

    @classmethod
    def make_objects(cls, count):
        return [make_subscription(cls.employee) for _ in range(count)]

    def create_payloads(self):
        return [{"name": "Sales alerts", "url": "https://hooks.example.com/sales", "event_types": ["incident.opened"]}]


def make_subscription(owner):
    return NotificationSubscription.objects.create(name=f"Alerts {factories.n():05d}", owner=owner,
                                                   url="https://hooks.example.com/accord")


class TestDeliveryAPI(ReadAPITests):
    model = Delivery
    basename = "delivery"

    @classmethod
    def make_objects(cls, count):
        subscription = make_subscription(cls.employee)
        return [make_delivery(subscription) for _ in range(count)]


def make_delivery(subscription):
    return Delivery.objects.create(subscription=subscription, event_id=f"evt_{factories.n():032d}",
                                   event_type="incident.opened", payload={})


class TestComplianceRunAdmin(AdminTests):
    model = ComplianceRun
    can_add = False

    @classmethod
    def make_objects(cls, count):
        return [make_run() for _ in range(count)]

    def listed_text(self, obj):
        return str(obj.contract_version)


class TestIncidentAdmin(AdminTests):
    model = Incident
    can_add = False
    search_term = "Breach"

    @classmethod
    def make_objects(cls, count):
        return [make_incident() for _ in range(count)]


class TestSubscriptionAdmin(AdminTests):
    model = NotificationSubscription
    search_term = "Alerts"

    @classmethod
    def make_objects(cls, count):
        return [make_subscription(cls.reader) for _ in range(count)]


class TestDeliveryAdmin(AdminTests):
    model = Delivery
    can_add = False
    search_term = "evt_"

    @classmethod
    def make_objects(cls, count):
        subscription = make_subscription(cls.reader)
        return [make_delivery(subscription) for _ in range(count)]
