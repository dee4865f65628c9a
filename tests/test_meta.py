"""Meta-tests: every model and endpoint is covered by the shared test mixins."""

from __future__ import annotations

import importlib
import pkgutil

from django.apps import apps
from django.contrib import admin
from django.urls import get_resolver

import tests
from tests.mixins import AdminTests, ReadAPITests, WriteAPITests

DOMAIN_APPS = ("permissions", "catalog", "governance", "harvest", "ingest")

# Rows maintained by the system, never edited by people.
INTERNAL = {
    "catalog.DatasetUserObjectPermission", "catalog.DatasetGroupObjectPermission",
    "catalog.FieldUserObjectPermission", "catalog.FieldGroupObjectPermission",
    "catalog.SystemUserObjectPermission", "catalog.SystemGroupObjectPermission",
    "permissions.AuditChainHead",  # the audit chain's tip, moved by every append; tests/permissions/test_audit.py
    # Audit bookkeeping read through the audit endpoints (repeats/, verify/, checkpoint/);
    # tests/permissions/test_audit_checkpoints.py
    "permissions.AuditEventWindow", "permissions.AuditCheckpoint",
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


def _nested_models() -> set[type]:
    """Models shown only inside their parent's admin page (an inline) and API representation:
    approvals, signatures, check results."""
    return {inline.model for _, model_admin in _domain_admins() for inline in model_admin.inlines
            if not admin.site.is_registered(inline.model)}


def _domain_models():
    nested = _nested_models()
    return [
        model for model in apps.get_models()
        if model._meta.app_label in DOMAIN_APPS and not model._meta.auto_created
        and model._meta.label not in INTERNAL and model not in nested
    ]


def _api_viewsets():
    """Every viewset routed under /api/v1/ (by model)."""
    found = {}
    for _, view in _api_routes():
        queryset = getattr(view, "queryset", None)
        if queryset is not None:
            found[queryset.model] = view
    return found


def test_every_domain_model_has_admin_api_and_tests():
    """Every model has an admin page and an endpoint, and both are tested through the mixins:
    reads (hidden rows included) for every endpoint, writes where the endpoint writes."""
    from permissions.api.viewsets import AccordModelViewSet

    _import_all_tests()
    read_tested = {cls.model for cls in _subclasses(ReadAPITests) if "model" in cls.__dict__}
    write_tested = {cls.model for cls in _subclasses(WriteAPITests) if "model" in cls.__dict__}
    admin_tested = {cls.model for cls in _subclasses(AdminTests) if "model" in cls.__dict__}
    routed = _api_viewsets()
    problems = []
    for model in _domain_models():
        name = model._meta.label
        if not admin.site.is_registered(model):
            problems.append(f"{name} is not registered in the admin")
        if model not in routed:
            problems.append(f"{name} has no REST endpoint under /api/v1/")
        if model not in read_tested:
            problems.append(f"{name} has no API test case built on tests.mixins.ReadAPITests (or CRUDAPITests)")
        if model in routed and issubclass(routed[model], AccordModelViewSet) and model not in write_tested:
            problems.append(f"{name} is written through the API but has no test case built on "
                            "tests.mixins.CRUDAPITests")
        if model not in admin_tested:
            problems.append(f"{name} has no admin test case built on tests.mixins.AdminTests")
    assert not problems, "\n".join(problems)


def _api_routes(patterns=None, prefix=""):
    """(route, view class) for every URL pattern under /api/v1/, included ones too."""
    from django.urls import URLResolver

    if patterns is None:
        patterns = [p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/"]
        prefix = "api/v1/"
        patterns = [sub for p in patterns for sub in p.url_patterns]
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            callback = pattern.callback
            yield prefix + str(pattern.pattern), getattr(callback, "cls", None) or getattr(callback, "view_class",
                                                                                          callback)


def test_every_api_route_reads_through_a_restricting_base():
    from permissions.api.viewsets import RestrictedAPIView, RestrictedViewSetMixin

    problems = sorted({
        f"{route}: {getattr(view, '__name__', view)} derives from neither RestrictedViewSetMixin "
        f"(AccordModelViewSet, AccordReadOnlyModelViewSet) nor RestrictedAPIView"
        for route, view in _api_routes()
        if not (isinstance(view, type) and issubclass(view, (RestrictedViewSetMixin, RestrictedAPIView)))
    })
    assert not problems, "\n".join(problems)


def _domain_admins():
    return [(model, admin.site.get_model_admin(model)) for model in apps.get_models()
            if model._meta.app_label in DOMAIN_APPS and admin.site.is_registered(model)]


def test_every_admin_and_inline_restricts_through_the_base_classes():
    from permissions.admin_base import AccordInline, AccordModelAdmin

    problems = []
    for model, model_admin in _domain_admins():
        if not isinstance(model_admin, AccordModelAdmin):
            problems.append(f"{type(model_admin).__name__} for {model._meta.label} is not an AccordModelAdmin")
        for inline in model_admin.inlines:
            if not issubclass(inline, AccordInline):
                problems.append(f"{inline.__name__} in {type(model_admin).__name__} is not an AccordInline")
    assert not problems, "\n".join(problems)


def _filtersets():
    """(where, filterset class) for every filterset a routed viewset or one of its actions uses,
    those the backend builds from ``filterset_fields`` included."""
    from rest_framework.generics import GenericAPIView

    from permissions.filtersets import AccordFilterBackend

    backend = AccordFilterBackend()
    seen = set()
    for _, view in _api_routes():
        if not (isinstance(view, type) and issubclass(view, GenericAPIView)) or view in seen:
            continue
        seen.add(view)
        variants = [{}] + [action.kwargs for action in getattr(view, "get_extra_actions", list)()]
        for kwargs in variants:
            instance = view(**{k: v for k, v in kwargs.items() if k in ("filterset_class", "filterset_fields")})
            filterset = backend.get_filterset_class(instance, view.queryset)
            if filterset is not None:
                yield view.__name__, filterset


def test_every_filter_on_a_related_id_is_a_restricted_id_filter():
    import django_filters
    from django_filters.utils import get_model_field

    from permissions.filtersets import RestrictedChoices

    problems = set()
    for where, filterset in _filtersets():
        model = filterset._meta.model
        for name, declared in filterset.base_filters.items():
            field = get_model_field(model, declared.field_name) if declared.field_name else None
            names_a_relation = field is not None and field.is_relation and declared.lookup_expr != "isnull"
            takes_objects = isinstance(declared, (django_filters.ModelChoiceFilter,
                                                  django_filters.ModelMultipleChoiceFilter))
            if (names_a_relation or takes_objects) and not isinstance(declared, RestrictedChoices):
                problems.add(f"{where}: {filterset.__name__}.{name} ({type(declared).__name__}) filters on a "
                             "related id but is not a restricted id filter (permissions.filtersets)")
    assert not problems, "\n".join(sorted(problems))


def test_every_domain_model_uses_the_restricted_manager():
    for model in apps.get_models():
        if model._meta.app_label not in DOMAIN_APPS or model._meta.auto_created or model._meta.label in INTERNAL:
            continue
        assert hasattr(model.objects, "visible_to"), f"{model._meta.label}.objects has no visible_to()"
