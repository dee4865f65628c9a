"""Meta-tests: every model and endpoint is covered by the shared test mixins."""

from __future__ import annotations

import importlib
import pkgutil

from django.apps import apps
from django.contrib import admin
from django.urls import get_resolver

import tests
from tests.mixins import AdminTests, CRUDAPITests

DOMAIN_APPS = ("permissions", "catalog", "governance")

# Models that are not served by the generic CRUD endpoint, each with where it is tested instead.
NOT_CRUD = {
    "permissions.AuditRecord": "append-only; read-only API and admin, tests/permissions/test_audit.py",
    "permissions.ApiToken": "create/revoke only; tests/permissions/test_tokens.py",
    "governance.ComplianceRun": "written by the checks, read-only API; tests/governance/test_compliance.py",
    "governance.Incident": "opened by the checks; acknowledge/resolve actions; tests/governance/test_compliance.py",
    "governance.NotificationSubscription": "owner-scoped; tests/governance/test_notifications.py",
    "governance.Delivery": "written by events, read-only with re-send; tests/governance/test_notifications.py",
}
# Rows written only by a workflow action and shown inside their parent (API and admin inline).
NESTED_ONLY = {
    "governance.StateApproval": "written by the approve action; tests/governance/test_workflows.py",
    "governance.ContractSignature": "written by the sign action; tests/governance/test_workflows.py",
    "governance.CheckResult": "written by a run, shown in the run's detail; tests/governance/test_compliance.py",
}
# Rows maintained by the system, never edited by people.
INTERNAL = {
    "catalog.DatasetUserObjectPermission", "catalog.DatasetGroupObjectPermission",
    "catalog.FieldUserObjectPermission", "catalog.FieldGroupObjectPermission",
    "catalog.SystemUserObjectPermission", "catalog.SystemGroupObjectPermission",
    "permissions.AuditChainHead",  # the audit chain's tip, moved by every append; tests/permissions/test_audit.py
}


def _import_all_tests() -> None:
    for module in pkgutil.walk_packages(tests.__path__, "tests."):
        importlib.import_module(module.name)


def _subclasses(cls) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


def _domain_models():
    return [
        model for model in apps.get_models()
        if model._meta.app_label in DOMAIN_APPS and not model._meta.auto_created
        and model._meta.label not in INTERNAL and model._meta.label not in NESTED_ONLY
    ]


def _api_viewsets():
    """Every viewset routed under /api/v1/ (by model)."""
    found = {}
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        for sub in pattern.url_patterns:
            view = getattr(sub.callback, "cls", None)
            queryset = getattr(view, "queryset", None)
            if queryset is not None:
                found[queryset.model] = view
    return found


def test_every_domain_model_has_admin_api_and_tests():
    _import_all_tests()
    api_tested = {cls.model for cls in _subclasses(CRUDAPITests) if hasattr(cls, "model")}
    admin_tested = {cls.model for cls in _subclasses(AdminTests) if hasattr(cls, "model")}
    routed = _api_viewsets()
    problems = []
    for model in _domain_models():
        name = model._meta.label
        if not admin.site.is_registered(model):
            problems.append(f"{name} is not registered in the admin")
        if model not in routed:
            problems.append(f"{name} has no REST endpoint under /api/v1/")
        if model not in api_tested and name not in NOT_CRUD:
            problems.append(f"{name} has no API test case built on tests.mixins.CRUDAPITests")
        if model not in admin_tested and name not in NOT_CRUD:
            problems.append(f"{name} has no admin test case built on tests.mixins.AdminTests")
    assert not problems, "\n".join(problems)


def test_every_routed_viewset_restricts_through_the_base_class():
    from permissions.api.viewsets import AccordModelViewSet

    for model, view in _api_viewsets().items():
        if model._meta.label in NOT_CRUD:
            continue
        assert issubclass(view, AccordModelViewSet), f"{view.__name__} for {model.__name__} bypasses AccordModelViewSet"


def test_every_domain_model_uses_the_restricted_manager():
    for model in _domain_models():
        if model._meta.label in NOT_CRUD:
            continue
        assert hasattr(model.objects, "visible_to"), f"{model._meta.label}.objects has no visible_to()"
