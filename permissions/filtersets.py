"""Filter base classes.

Filters on related objects take ids (``?system=3&system=5`` or ``?system=3,5``) and are
restricted id filters (``RestrictedIdFilter``): each id is checked against the related
rows the requesting user may view, so an id of a hidden object and an id that does not
exist get the same answer, a 400 naming the filter. (Matching nothing for a missing id
but something for a hidden one would tell the two apart: ``contracts/?dataset=<hidden>``
would list the contracts of a dataset the reader may not know of.) FilterSets built by
the backend from ``filterset_fields`` use them for relations too, and tests/test_meta.py
fails for a filter on a related id that is not one.
"""

from __future__ import annotations

import datetime
import decimal

import django_filters
from django import forms
from django.db import models
from django.db.models import Q
from django_filters import fields as filter_fields
from django_filters import rest_framework
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import get_model_field
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from permissions.visibility import can_read_catalog

#: The largest id a database column holds (a signed 64-bit integer); a larger number would
#: reach the database and overflow there.
MAX_ID = 2**63 - 1


def _checked_id(value):
    """Ids are plain ASCII digits: ``int()`` would also take ``"١"`` or ``" 7"``."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_ID):
        raise forms.ValidationError(f"“{value}” is not an id.", code="invalid_pk_value")
    return text


class _Ids(forms.Field):
    """Ids given comma-separated (the listed rows' own: ``?id=3,4``)."""

    widget = forms.TextInput

    def clean(self, value):
        if value in self.empty_values:
            return None
        return [int(_checked_id(part)) for part in str(value).split(",") if part.strip()] or None


class IdListFilter(django_filters.Filter):
    """``?id=3,4``; matches any of the ids (of the listed rows themselves: filters on
    related objects are ``RestrictedIdFilter``). Ids are ASCII digits (``0.5``, ``-1`` and
    ``²`` are 400s)."""

    field_class = _Ids

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)
        extend_schema_field(OpenApiTypes.INT)(self)


class _IdsInput(forms.TextInput):
    """A text box rather than a list of every visible object (the browsable API's filter form)."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def format_value(self, value):
        return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


class _VisibleIds(filter_fields.ModelMultipleChoiceField):
    """Ids given repeated or comma-separated, each of a row in the (restricted) queryset."""

    widget = _IdsInput

    def clean(self, value):
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = [_checked_id(part) for item in value for part in str(item).split(",") if part.strip()]
        return super().clean(value)


class _VisibleId(filter_fields.ModelChoiceField):
    widget = forms.TextInput
    def to_python(self, value):
        if value in self.empty_values:
            return None
        return super().to_python(_checked_id(value))


class RestrictedChoices(django_filters.filters.QuerySetRequestMixin):
    """The choices of a filter on related objects: the rows of the related model the
    requesting user may view (``visible_to``). People and groups are never hidden by
    rules, so for them every row is a choice for a reader of the catalog.

    ``model`` names the related model where ``field_name`` does not lead to it (a
    filter with its own ``method``)."""

    def __init__(self, *args, model: type[models.Model] | None = None, **kwargs):
        self.related_model = model
        super().__init__(*args, **kwargs)
        extend_schema_field(OpenApiTypes.INT)(self)  # ids, also where a method does the filtering

    def get_queryset(self, request):
        model = self.related_model or get_model_field(self.model, self.field_name).related_model
        user = getattr(request, "user", None)
        manager = model._default_manager
        if hasattr(manager, "visible_to"):
            return manager.visible_to(user) if user is not None else manager.none()
        return manager.all() if can_read_catalog(user) else manager.none()


class RestrictedIdFilter(RestrictedChoices, django_filters.ModelMultipleChoiceFilter):
    """``?owner_department=3,4`` or repeated: rows related to any of these objects.

    An id the user may not view is refused like one that does not exist (400). Pass
    ``distinct=True`` when the path crosses a to-many relation."""

    field_class = _VisibleIds

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        qs = self.get_method(qs)(**{f"{self.field_name}__in": [obj.pk for obj in value]})
        return qs.distinct() if self.distinct else qs


class RestrictedSingleIdFilter(RestrictedChoices, django_filters.ModelChoiceFilter):
    """One id of an object the user may view (400 otherwise), for filters with a ``method``."""

    field_class = _VisibleId


def _restricted_relations(defaults: dict) -> dict:
    """django-filter's defaults by model field, with restricted id filters for relations."""
    return {
        **defaults,
        models.ForeignKey: {"filter_class": RestrictedIdFilter},
        models.OneToOneField: {"filter_class": RestrictedIdFilter},
        models.ManyToManyField: {"filter_class": RestrictedIdFilter, "extra": lambda f: {"distinct": True}},
        models.ManyToOneRel: {"filter_class": RestrictedIdFilter, "extra": lambda f: {"distinct": True}},
        models.OneToOneRel: {"filter_class": RestrictedIdFilter},
        models.ManyToManyRel: {"filter_class": RestrictedIdFilter, "extra": lambda f: {"distinct": True}},
    }


_BOOLEANS = {"", "true", "false", "1", "0"}


class StrictInputMixin:
    """What django-filter takes silently or passes on to the database, refused or made safe:

    * a boolean that is neither ``true`` nor ``false`` (``1``/``0`` too) is a 400, not
      "no filter";
    * a date-time's offset goes from -15:59 to +15:59 (PostgreSQL refuses larger ones), and
      the value is compared in UTC; one that leaves the calendar in UTC
      (``0001-01-01T00:00+01:00``) is a 400.
    """

    def is_valid(self):
        valid = super().is_valid()
        form = self.form
        for name, filter_ in self.filters.items():
            raw = self.data.get(name) if hasattr(self.data, "get") else None
            if isinstance(filter_, django_filters.BooleanFilter) and raw is not None \
                    and str(raw).lower() not in _BOOLEANS:
                form.add_error(name, "Give true or false.")
                valid = False
        for name, value in list(getattr(form, "cleaned_data", {}).items()):
            if isinstance(value, decimal.Decimal) and _is_integer_filter(self.filters[name]) and not (
                    value == value.to_integral_value() and abs(value) <= MAX_ID):
                form.add_error(name, "Give a whole number.")
                valid = False
            elif isinstance(value, datetime.datetime) and value.tzinfo is not None:
                if abs(value.utcoffset()) >= datetime.timedelta(hours=16):
                    form.add_error(name, "Time zone offsets go from -15:59 to +15:59.")
                    valid = False
                    continue
                try:
                    form.cleaned_data[name] = value.astimezone(datetime.UTC)
                except OverflowError:
                    form.add_error(name, "This date and time is out of range.")
                    valid = False
        return valid


def _is_integer_filter(filter_) -> bool:
    return isinstance(get_model_field(filter_.model, filter_.field_name), models.IntegerField)


class RestrictedFilterSet(StrictInputMixin, rest_framework.FilterSet):
    """The FilterSet the backend builds from ``filterset_fields``: relations become
    restricted id filters."""

    FILTER_DEFAULTS = _restricted_relations(rest_framework.FilterSet.FILTER_DEFAULTS)


class AccordFilterSet(StrictInputMixin, django_filters.FilterSet):
    FILTER_DEFAULTS = _restricted_relations(django_filters.FilterSet.FILTER_DEFAULTS)

    q = django_filters.CharFilter(method="filter_q", label="Text contained in the name or description")
    id = IdListFilter(field_name="id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    #: The text columns ``q`` looks in; by default those of ``name`` and ``description`` the
    #: model has (a state definition has no description).
    q_fields: tuple[str, ...] = ("name", "description")

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        own = {field.name for field in queryset.model._meta.get_fields()}
        for field in self.q_fields:
            if "__" not in field and field not in own:
                continue
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class AccordFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing unknown parameters, and without the filter form
    when the request names no filter.

    A list or a detail answers a query parameter that is neither one of its filters
    (which narrow a detail too) nor the pagination's, the ordering's or the format's with a
    400 naming it: ``?lifecycel=active`` would otherwise list everything. A view or action
    accepting more declares them in ``query_params_accepted``.

    Building and validating the form costs about a millisecond on every list and detail
    read; when the only query parameters are the pagination's, the ordering's and the
    format's, every filter would leave the queryset as it is (none is required).
    """

    filterset_base = RestrictedFilterSet

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        filters = filterset_class.base_filters if filterset_class is not None else {}
        passive = _passive_params(view)
        if filterset_class is not None or getattr(view, "action", None) in ("list", "retrieve"):
            refuse_unknown_params(request, {*filters, *passive, *getattr(view, "query_params_accepted", ())})
        if filterset_class is None:
            return queryset
        if all(name in passive and name not in filters for name in request.query_params) and not any(
                f.extra.get("required") for f in filters.values()):
            return queryset
        return super().filter_queryset(request, queryset, view)


def _passive_params(view) -> set[str]:
    names = {api_settings.ORDERING_PARAM, api_settings.URL_FORMAT_OVERRIDE}
    paginator = getattr(view, "paginator", None)
    for attribute in ("cursor_query_param", "page_query_param", "page_size_query_param", "limit_query_param",
                      "offset_query_param"):
        names.add(getattr(paginator, attribute, None))
    return names


def refuse_unknown_params(request, accepted: set[str]) -> None:
    """A 400 naming every query parameter of ``request`` that is not ``accepted``."""
    unknown = sorted(set(request.query_params) - accepted)
    if unknown:
        takes = ", ".join(sorted(name for name in accepted if name)) or "no parameters"
        message = f"Not a parameter of this endpoint, which takes: {takes}."
        raise ValidationError({name: [message] for name in unknown})
