"""Filter base classes.

Filters on related objects take ids (``?system=3&system=5``) and simply match
nothing for an id the user may not see: they never validate an id against a
choice list, because "not a valid choice" would tell a hidden id from a missing one.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.settings import api_settings


class IdListFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    """``?owner_department=3,4`` or repeated; matches any of the ids."""


class AccordFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Text contained in the name or description")
    id = IdListFilter(field_name="id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    q_fields: tuple[str, ...] = ("name", "description")

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.q_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class AccordFilterBackend(DjangoFilterBackend):
    """django-filter's backend, without the filter form when the request names no filter.

    Building and validating the form costs about a millisecond on every list and detail
    read; when the only query parameters are the pagination's, the ordering's and the
    format's, every filter would leave the queryset as it is (none is required).
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        filters = filterset_class.base_filters
        passive = _passive_params(view)
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
