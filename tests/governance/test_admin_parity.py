"""The admin offers nothing the service and the API would refuse.

One fixed world (a few objects of every model the admin registers for governance, the catalog and
the permissions) and one person per role: a superuser, a council member, the lead of the owning
department, a dataset's steward and a plain reader (all staff; those outside the council hold the
view permissions only, so every admin page opens for them). For each registered admin model, each
object of it and each person:

* a delete the admin offers (the delete button: ``has_delete_permission`` with the confirmation
  page neither protected nor missing a permission) is a DELETE the API answers 204;
* a change the admin offers (``has_change_permission`` and a form with something editable) is a
  PATCH the API accepts;
* each action of the change list, run through the admin on that one object, succeeds exactly when
  the API's call for it succeeds, and writes the same semantic audit records (the same service
  acted); an action without an API counterpart in ``API_ACTIONS`` fails the test.

Every API answer and every action is taken in a savepoint that is rolled back, so the cases do not
depend on each other.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import RequestFactory, TestCase
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.api.urls import router as catalog_router
from governance.api.urls import router as governance_router
from governance.models import (
    CheckResult,
    ComplianceRun,
    ContractVersion,
    Delivery,
    EntityAttribute,
    NotificationSubscription,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    SystemOfRecord,
)
from governance.services import compliance
from governance.services import contracts as contract_services
from governance.services import entities as entity_services
from governance.services import states as state_services
from permissions.api.urls import router as permissions_router
from permissions.context import Actor, system_actor
from permissions.models import AccessRule, AccessRuleException, AuditAction, AuditRecord
from permissions.services import create_token
from tests import factories
from tests.mixins import make_user

APPS = ("governance", "catalog", "permissions")
#: Objects looked at per model: the world holds fewer of most, and the ones that matter come first.
PER_MODEL = 4
TERMS = {
    "schema": [{"name": "campaign_budget", "physical_name": "crm.campaign_budget",
                "fields": [{"name": "amount", "type": "numeric(12,2)", "required": True}]}],
    "notice_period_days": 0,
}
TERMS_1_1 = {**TERMS, "schema": [{**TERMS["schema"][0], "fields": [
    *TERMS["schema"][0]["fields"], {"name": "currency", "type": "varchar(3)"}]}]}


def _routes() -> dict[type, str]:
    """Model → its API list path."""
    routes = {}
    for router in (governance_router, catalog_router, permissions_router):
        for prefix, viewset, _basename in router.registry:
            routes.setdefault(viewset.queryset.model, f"/api/v1/{prefix}/")
    return routes


def _approve_any(test, user, version: StateDefinitionVersion) -> bool:
    """The API's approve is per department; the admin approves for every department the user may."""
    return any(test.api_succeeds(user, "post", f"/api/v1/state-definition-versions/{version.pk}/approve/",
                                 {"department": department.slug})
               for department in state_services.pending_departments(version))


#: (model name, admin action) → how the API does the same for one object: (method, path, body), or a
#: function answering whether the API lets ``user`` do it.
API_ACTIONS: dict[tuple[str, str], tuple | Callable] = {
    ("systemofrecord", "approve_selected"): ("post", "systems-of-record/{pk}/approve/", {"reason": "agreed"}),
    ("statedefinitionversion", "propose_selected"): ("post", "state-definition-versions/{pk}/propose/", None),
    ("statedefinitionversion", "approve_selected"): _approve_any,
    ("contractversion", "propose_selected"): ("post", "contract-versions/{pk}/propose/", None),
    ("datacontract", "run_checks_now"): ("post", "contracts/{pk}/check/", None),
    ("incident", "acknowledge_selected"): ("post", "incidents/{pk}/acknowledge/", None),
    ("incident", "resolve_selected"): ("post", "incidents/{pk}/resolve/", {"note": "backfilled"}),
    ("delivery", "resend_selected"): ("post", "deliveries/{pk}/redeliver/", None),
    ("apitoken", "revoke_selected"): ("delete", "tokens/{pk}/", None),
}
#: Actions that open a form instead of acting: their form is compared with the API in
#: tests/governance/test_admin_signing.py (the offered parties are those the API's sign accepts).
FORM_ACTIONS = {("contractversion", "sign_one")}


class Rollback(Exception):
    pass


class ParityWorld(TestCase):
    @classmethod
    def setUpTestData(cls):
        with system_actor("tests", reason="the admin parity world"):
            cls._build()

    @classmethod
    def _build(cls):
        sales = factories.department(name="Sales", slug="sales")
        finance = factories.department(name="Finance", slug="finance")
        view_all = Permission.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_")
        cls.root = make_user("root", is_staff=True, is_superuser=True)
        cls.chair = make_user("chair", is_staff=True)
        cls.chair.groups.add(Group.objects.get(name=settings.ACCORD_COUNCIL_GROUP))
        cls.lead = make_user("lead", is_staff=True)
        cls.steward = make_user("steward", is_staff=True)
        cls.reader = make_user("reader", is_staff=True)
        for user in (cls.lead, cls.steward, cls.reader):
            user.user_permissions.add(*view_all)
        factories.membership(cls.lead, department=sales, role="lead")
        factories.membership(cls.steward, department=sales, role="steward")
        factories.membership(cls.reader, department=finance)
        cls.roles = {"superuser": cls.root, "council": cls.chair, "lead": cls.lead, "steward": cls.steward,
                     "reader": cls.reader}

        system = factories.system(name="Warehouse", slug="warehouse", owner_department=sales)
        dataset = factories.dataset(system=system, qualified_name="crm.campaign_budget", name="Campaign budget",
                                    owner_department=sales, steward=cls.steward)
        factories.field(dataset=dataset, name="amount", data_type="numeric(12,2)")
        factories.lineage(source=factories.dataset(system=system, owner_department=finance), target=dataset)
        factories.tag()

        # Designations: one active (history), one proposed; an entity with nothing approved.
        entity = factories.entity(name="Campaign", slug="campaign", owner_department=sales)
        attribute = EntityAttribute.objects.create(entity=entity, name="campaign_id", is_identifier=True)
        active = entity_services.propose_system_of_record(entity=entity, attribute=None, system=system,
                                                          rationale="Budgets are planned there", actor=cls.lead)
        entity_services.approve_system_of_record(active, actor=cls.root)
        entity_services.propose_system_of_record(entity=entity, attribute=attribute, system=system,
                                                 rationale="Ids are issued there", actor=cls.lead)
        factories.entity(name="Lead", slug="lead", owner_department=sales)

        # States: "Approved" approved and relied on by the active contract; "Open" only drafted.
        workflow = factories.workflow(name="Budget approval", slug="budget-approval", owner_department=sales,
                                      dataset=dataset)
        approved = factories.state(workflow=workflow, name="Approved", slug="approved", position=2, scope="domain")
        drafted = factories.state(workflow=workflow, name="Open", slug="open", position=1, scope="domain")
        StateTransition.objects.create(workflow=workflow, from_state=drafted, to_state=approved)
        v1 = state_services.create_draft(definition=approved, definition_text="Signed off",
                                         criteria={"field": "amount", "op": "gte", "value": 0}, actor=cls.lead)
        state_services.propose(v1, actor=cls.lead)
        state_services.approve(v1, department=sales, actor=cls.lead)
        v2 = state_services.create_draft(definition=approved, definition_text="Signed off, positive",
                                         criteria={"field": "amount", "op": "gt", "value": 0}, actor=cls.lead)
        state_services.propose(v2, actor=cls.lead)
        state_services.create_draft(definition=drafted, definition_text="Entered", criteria={}, actor=cls.lead)
        factories.workflow(name="Empty", slug="empty", owner_department=sales)

        # Contracts: one with an active (signed) and a proposed version, one with a draft, one bare.
        contract = factories.contract(name="Campaign budget feed", slug="campaign-budget-feed", producer=sales,
                                      consumers=[finance], datasets=[dataset])
        first = contract_services.create_version(contract=contract, version="1.0.0", terms=TERMS,
                                                 state_definitions=[approved], actor=cls.lead)
        contract_services.propose(first, actor=cls.lead)
        contract_services.sign(first, department=sales, actor=cls.lead)
        contract_services.sign(first, department=finance, actor=cls.root)
        second = contract_services.create_version(contract=contract, version="1.1.0", terms=TERMS_1_1,
                                                  state_definitions=[approved], actor=cls.lead)
        contract_services.propose(second, actor=cls.lead)
        drafted_contract = factories.contract(name="Campaign spend feed", slug="campaign-spend-feed",
                                              producer=sales, consumers=[finance])
        contract_services.create_version(contract=drafted_contract, version="1.0.0", terms=TERMS, actor=cls.lead)
        factories.contract(name="Campaign plan feed", slug="campaign-plan-feed", producer=sales,
                           consumers=[finance])

        finished = timezone.now() - datetime.timedelta(hours=1)
        run = ComplianceRun.objects.create(
            contract_version=first, scheduled_for=finished, trigger="scheduled", status="completed",
            outcome="fail", started_at=finished, finished_at=finished, attempts=1,
            summary={"pass": 0, "fail": 1, "error": 0})
        CheckResult.objects.create(run=run, key="data:campaign_budget:amount:not_null:0", kind="data",
                                   rule="not_null", dataset=dataset, field="amount", status="fail", violations=3,
                                   threshold="= 0", message="3 rows have no amount.")
        compliance.open_incident(contract, run, actor=Actor(system="tests"))

        subscription = NotificationSubscription.objects.create(
            name="Budget alerts", owner=cls.lead, url="https://hooks.example.com/accord", event_types=[])
        Delivery.objects.create(subscription=subscription, event_id="evt_" + "0" * 32, event_type="incident.opened",
                                status="failed", attempts=3, last_status_code=502, payload={})
        from governance.models import CouncilMeeting, ScorecardSnapshot

        CouncilMeeting.objects.create(held_on=datetime.date(2026, 11, 30), notes="Monthly review")
        ScorecardSnapshot.objects.create(day=datetime.date(2026, 11, 30), department=finance, facts={"datasets": 1},
                                         computed_at=timezone.now())
        for user in (cls.lead, cls.reader):
            create_token(user=user, name="laptop", actor=user)
        rule = AccessRule.objects.create(
            subject_kind="department", subject_department=finance, target_kind="object",
            target_type=ContentType.objects.get_for_model(dataset), target_id=dataset.pk,
            reason="Budgets stay with Sales")
        AccessRuleException.objects.create(rule=rule, subject_kind="user", subject_user=cls.steward,
                                           reason="The steward of the budget reads it anyway")

    # --- helpers ---------------------------------------------------------------------------------

    def request_for(self, user):
        request = RequestFactory().get("/admin/")
        request.user = user
        return request

    def api_succeeds(self, user, method: str, path: str, body=None) -> bool:
        return self._in_savepoint(lambda: self._api(user, method, path, body))[0] < 300

    def _api(self, user, method, path, body):
        client = APIClient()
        client.force_authenticate(user)
        response = getattr(client, method)(path, body, format="json")
        return response.status_code

    def _in_savepoint(self, call):
        """``(call(), the semantic audit records it wrote)``, with everything it wrote rolled back."""
        last = AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        outcome = {}
        try:
            with transaction.atomic():
                outcome["value"] = call()
                outcome["records"] = set(
                    AuditRecord.objects.filter(seq__gt=last)
                    .exclude(action__in=[AuditAction.READ_RESTRICTED, AuditAction.CREATE, AuditAction.UPDATE,
                                         AuditAction.DELETE])
                    .values_list("action", "object_type", "object_id"))
                raise Rollback
        except Rollback:
            pass
        return outcome["value"], outcome["records"]

    def objects_of(self, model) -> list:
        return list(model._base_manager.order_by("pk")[:PER_MODEL])

    def shown(self, model_admin, request) -> list:
        """The walk's objects of the admin's model that ``request.user`` sees there, as the admin reads them."""
        pks = [obj.pk for obj in self.objects_of(model_admin.model)]
        return list(model_admin.get_queryset(request).filter(pk__in=pks).order_by("pk"))

    def registered(self):
        return [(model, model_admin) for model, model_admin in admin.site._registry.items()
                if model._meta.app_label in APPS]


class AdminParity(ParityWorld):
    """The walk over every admin model, object and role."""


    def test_every_admin_model_has_an_api_to_compare_with(self):
        routes = _routes()
        missing = [model._meta.label for model, _ in self.registered() if model not in routes]
        self.assertEqual(missing, [], "admin models without an API endpoint: the walk cannot compare them")

    def test_world_has_every_registered_model(self):
        empty = [model._meta.label for model, _ in self.registered() if not self.objects_of(model)]
        self.assertEqual(empty, [])

    def test_a_delete_the_admin_offers_is_one_the_api_allows(self):
        routes, offered, wrong = _routes(), 0, []
        for role, user in self.roles.items():
            request = self.request_for(user)
            for model, model_admin in self.registered():
                for obj in self.shown(model_admin, request):
                    if not model_admin.has_delete_permission(request, obj):
                        continue
                    _, _, perms_needed, protected = model_admin.get_deleted_objects([obj], request)
                    if perms_needed or protected:
                        continue  # the confirmation page refuses
                    offered += 1
                    if not self.api_succeeds(user, "delete", f"{routes[model]}{obj.pk}/"):
                        wrong.append(f"{role} may delete {model._meta.label} #{obj.pk} ({obj}) in the admin only")
        self.assertEqual(wrong, [])
        self.assertGreater(offered, 10)  # the walk saw deletions the admin offers

    def test_a_change_the_admin_offers_is_one_the_api_allows(self):
        routes, offered, wrong = _routes(), 0, []
        for role, user in self.roles.items():
            request = self.request_for(user)
            for model, model_admin in self.registered():
                for obj in self.shown(model_admin, request):
                    if not model_admin.has_change_permission(request, obj):
                        continue
                    fields = flatten_fieldsets(model_admin.get_fieldsets(request, obj))
                    readonly = set(model_admin.get_readonly_fields(request, obj))
                    if not [name for name in fields if name not in readonly]:
                        continue  # nothing to save: a read-only page
                    offered += 1
                    if not self.api_succeeds(user, "patch", f"{routes[model]}{obj.pk}/", {}):
                        wrong.append(f"{role} may change {model._meta.label} #{obj.pk} ({obj}) in the admin only")
        self.assertEqual(wrong, [])
        self.assertGreater(offered, 10)

    def test_history_offers_no_delete_and_the_api_refuses_it(self):
        from governance.models import BusinessEntity, DataContract, Incident, StateWorkflow

        request, routes = self.request_for(self.root), _routes()
        history = [
            SystemOfRecord.objects.get(status="active"),
            BusinessEntity.objects.get(slug="campaign"),  # its active designation
            StateDefinitionVersion.objects.get(status="approved"),
            StateDefinition.objects.get(slug="approved"),  # its approved version, the contracts' reference
            StateWorkflow.objects.get(slug="budget-approval"),  # its states' versions
            ContractVersion.objects.get(status="active"),
            DataContract.objects.get(slug="campaign-budget-feed"),  # its signed versions
            ComplianceRun.objects.get(), Incident.objects.get(), Delivery.objects.get(),
        ]
        for obj in history:
            model_admin = admin.site._registry[type(obj)]
            with self.subTest(obj=f"{type(obj).__name__} {obj}"):
                self.assertFalse(model_admin.has_delete_permission(request, obj))
                answer = self._in_savepoint(lambda o=obj: self._api(self.root, "delete",
                                                                    f"{routes[type(o)]}{o.pk}/", None))[0]
                self.assertIn(answer, (405, 409))

    def test_history_pages_are_read_only_where_the_api_refuses_changes(self):
        from governance.models import Incident

        request = self.request_for(self.root)
        for obj in (SystemOfRecord.objects.get(status="active"), StateDefinitionVersion.objects.get(status="approved"),
                    ContractVersion.objects.get(status="active"), ComplianceRun.objects.get(), Incident.objects.get(),
                    Delivery.objects.get()):
            with self.subTest(obj=f"{type(obj).__name__} {obj}"):
                self.assertFalse(admin.site._registry[type(obj)].has_change_permission(request, obj))

    def test_no_bulk_delete_where_rows_are_history(self):
        from governance.models import DataContract, Incident, StateWorkflow

        request = self.request_for(self.root)
        for model in (SystemOfRecord, StateWorkflow, StateDefinition, StateDefinitionVersion, DataContract,
                      ContractVersion, ComplianceRun, Incident, Delivery):
            with self.subTest(model=model.__name__):
                self.assertNotIn("delete_selected", admin.site._registry[model].get_actions(request))

    def test_each_action_the_admin_offers_does_what_the_api_does(self):
        client, compared, unknown, wrong = self.client, 0, set(), []
        for role, user in self.roles.items():
            request = self.request_for(user)
            client.force_login(user)
            for model, model_admin in self.registered():
                name = model._meta.model_name
                actions = [a for a in model_admin.get_actions(request) if a != "delete_selected"]
                shown = self.shown(model_admin, request)
                for action in actions:
                    if (name, action) in FORM_ACTIONS:
                        continue
                    if (name, action) not in API_ACTIONS:
                        unknown.add((name, action))
                        continue
                    for obj in shown:
                        compared += 1
                        by_admin, admin_records = self._in_savepoint(
                            lambda m=model, a=action, o=obj: self._admin_action(client, m, a, o))
                        by_api, api_records = self._api_action(user, name, action, obj)
                        if by_admin != by_api or (by_admin and api_records is not None
                                                  and admin_records != api_records):
                            wrong.append(f"{role}: {name}.{action} on #{obj.pk} ({obj}): admin "
                                         f"{'did' if by_admin else 'refused'} {sorted(admin_records)}, API "
                                         f"{'did' if by_api else 'refused'} {sorted(api_records or [])}")
        self.assertEqual(unknown, set(), "admin actions with no API counterpart in API_ACTIONS")
        self.assertEqual(wrong, [])
        self.assertGreater(compared, 20)

    def _admin_action(self, client, model, action, obj) -> bool:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        client.cookies.pop("messages", None)  # the earlier actions' messages were never shown: not this one's
        response = client.post(url, {"action": action, "_selected_action": [obj.pk], "confirmed": "yes",
                                     "note": "backfilled", "index": 0})
        levels = {message.level for message in get_messages(response.wsgi_request)}
        assert response.status_code == 302, (action, response.status_code)
        # Done: told so (success, or info for the permissions admin's own messages), and nothing refused.
        return bool(levels & {message_levels.SUCCESS, message_levels.INFO}) and not (
            levels & {message_levels.WARNING, message_levels.ERROR})

    def _api_action(self, user, name, action, obj) -> tuple[bool, set | None]:
        how = API_ACTIONS[(name, action)]
        if callable(how):
            return how(self, user, obj), None  # several calls: their records are not the admin's one batch
        method, path, body = how
        status, records = self._in_savepoint(
            lambda: self._api(user, method, "/api/v1/" + path.format(pk=obj.pk), body))
        return status < 300, records


class HistoryIsKept(ParityWorld):
    """The issue's cases, as a user meets them in the admin and the API."""

    def test_the_admin_does_not_delete_an_approved_designation(self):
        designation = SystemOfRecord.objects.get(status="active")
        self.client.force_login(self.root)
        url = reverse("admin:governance_systemofrecord_delete", args=[designation.pk])
        self.assertEqual(self.client.post(url, {"post": "yes"}).status_code, 403)
        self.assertTrue(SystemOfRecord.objects.filter(pk=designation.pk, status="active").exists())
        api = APIClient()
        api.force_authenticate(self.root)
        self.assertEqual(api.get(f"/api/v1/business-entities/{designation.entity_id}/authoritative/").status_code, 200)

    def test_a_state_definition_with_an_approved_version_is_not_deleted(self):
        state = StateDefinition.objects.get(slug="approved")
        api = APIClient()
        api.force_authenticate(self.root)
        answer = api.delete(f"/api/v1/state-definitions/{state.pk}/")
        self.assertEqual(answer.status_code, 409, answer.content)
        self.assertIn("history", answer.json()["detail"])
        self.client.force_login(self.root)
        refused = self.client.post(reverse("admin:governance_statedefinition_delete", args=[state.pk]), {"post": "yes"})
        self.assertEqual(refused.status_code, 403)
        active = ContractVersion.objects.get(status="active")
        self.assertEqual(list(active.state_definitions.all()), [state])  # the contract still relies on it
        self.assertTrue(StateDefinitionVersion.objects.filter(definition=state, status="approved").exists())

    def test_a_state_definition_with_drafts_only_is_still_deleted(self):
        state = StateDefinition.objects.get(slug="open")
        api = APIClient()
        api.force_authenticate(self.lead)
        self.assertEqual(api.delete(f"/api/v1/state-definitions/{state.pk}/").status_code, 204)

    def test_the_workflows_inline_does_not_delete_an_approved_state(self):
        from governance.models import StateWorkflow

        workflow = StateWorkflow.objects.get(slug="budget-approval")
        self.client.force_login(self.root)
        url = reverse("admin:governance_stateworkflow_change", args=[workflow.pk])
        page = self.client.get(url)
        data = _form_data(page.context["adminform"].form)
        for inline in page.context["inline_admin_formsets"]:
            data.update(_form_data(inline.formset.management_form))
            for form in inline.formset.forms:
                data.update(_form_data(form))
        states = next(f for f in page.context["inline_admin_formsets"] if f.formset.model is StateDefinition)
        approved = next(f for f in states.formset.forms if f.instance.slug == "approved")
        data[approved.add_prefix("DELETE")] = "on"
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 200)  # the form again, with the refusal next to the row
        errors = [str(error) for inline in response.context["inline_admin_formsets"]
                  for error in inline.formset.non_form_errors()]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("never deleted", errors[0])
        self.assertTrue(StateDefinition.objects.filter(slug="approved").exists())

    def test_bulk_delete_refuses_a_selection_holding_history(self):
        from governance.models import BusinessEntity

        self.client.force_login(self.root)
        url = reverse("admin:governance_businessentity_changelist")
        selected = list(BusinessEntity.objects.values_list("pk", flat=True))
        confirmation = self.client.post(url, {"action": "delete_selected", "_selected_action": selected})
        self.assertIn("never deleted", str(confirmation.context["protected"]))
        self.client.post(url, {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
        self.assertEqual(BusinessEntity.objects.count(), len(selected))


def _form_data(form) -> dict:
    """What a browser would post back for ``form`` as rendered (its bound fields' current values)."""
    data = {}
    for bound in form:
        value = bound.value()
        if value is None or value is False:
            continue
        data[bound.html_name] = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
    return data


class ActionsForWhoMayAct(ParityWorld):
    def test_only_the_council_is_offered_to_approve_designations(self):
        model_admin = admin.site._registry[SystemOfRecord]
        offered = {role for role, user in self.roles.items()
                   if "approve_selected" in model_admin.get_actions(self.request_for(user))}
        self.assertEqual(offered, {"superuser", "council"})
