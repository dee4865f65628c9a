"""Filter base classes.

Filters on related objects take ids (``?system=3&system=5``) and simply match
nothing for an id the user may not see: they never validate an id against a
choice list, because "not a valid choice" would tell a hidden id from a missing one.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q


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
