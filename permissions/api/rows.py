"""Reading a serializer's representation from ``.values()`` rows instead of model instances.

A list of 100 datasets built as model instances costs several hundred objects (the
datasets, their systems, departments, stewards and tags) before any JSON is written.
A ``RowPlan`` reads the same representation from plain dicts: the row's own columns
and its brief related objects' columns (joined, as ``select_related`` does) in one
statement, and each many-valued field (tags, a dataset's fields) in one more statement
for all the rows, as ``prefetch_related`` does.

The plan is derived from the serializer's own fields, and each many-valued field is
read through the queryset the view already prefetches it with (``Prefetch(…,
queryset=…)``), so what the user may see (``visible_to``) and the order stay the
view's. A serializer with a field the plan cannot read this way (a method field, a
dotted source, a request-dependent field, an overridden ``to_representation``) has
no plan, and the view keeps its ordinary serializer path. ``tests/catalog/test_rows.py``
compares both paths' JSON.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F, Prefetch, QuerySet
from rest_framework import serializers

from permissions.api.serializers import (
    _AS_IS,
    AccordModelSerializer,
    BriefRelatedField,
    _context_free,
    iso_datetime,
    writes_default_iso,
)

PARENT = "_row_parent"  # the column naming a many-valued row's parent


@dataclass(frozen=True)
class _Many:
    """A many-valued field: brief related objects (``tags``) or nested serializers (``fields``)."""

    name: str
    source: str
    columns: tuple[str, ...]
    brief: Callable[[dict], dict] | None  # a brief object's representation…
    child: RowPlan | None  # …or the nested serializer's plan


class RowPlan:
    """How one serializer class's representation is read from rows; built once per class."""

    _plans: dict[type, RowPlan | None] = {}

    def __init__(self, model: type[models.Model], columns: list[str], steps: list, many: list[_Many]):
        self.model = model
        self.columns = columns  # for .values(); annotations are checked against the queryset
        self.steps = steps  # (name, get(row) or None for a many-valued field)
        self.many = many

    @classmethod
    def for_serializer(cls, serializer_class: type) -> RowPlan | None:
        if serializer_class not in cls._plans:
            cls._plans[serializer_class] = cls._build(serializer_class)
        return cls._plans[serializer_class]

    @classmethod
    def _build(cls, serializer_class: type) -> RowPlan | None:
        if not issubclass(serializer_class, AccordModelSerializer) or \
                serializer_class.to_representation is not AccordModelSerializer.to_representation:
            return None
        fields = list(serializer_class()._readable_fields)
        if not all(_context_free(field) for field in fields):
            return None
        model = serializer_class.Meta.model
        pk = model._meta.pk.name
        columns, steps, many = [pk], [], []
        for field in fields:
            if len(field.source_attrs) != 1 or field.source == "*":
                return None
            source = field.source
            model_field = _model_field(model, source)
            if isinstance(field, serializers.ListSerializer):
                child = cls.for_serializer(type(field.child))
                if child is None:
                    return None
                many.append(_Many(field.field_name, source, tuple(child.columns), None, child))
                steps.append((field.field_name, None))
            elif isinstance(field, serializers.ManyRelatedField):
                brief = field.child_relation
                many.append(_Many(field.field_name, source, brief.row_columns(""), brief.row_getter(""), None))
                steps.append((field.field_name, None))
            elif isinstance(field, BriefRelatedField):
                if model_field is None or not model_field.many_to_one:
                    return None
                prefix = f"{source}__"
                columns.extend(field.row_columns(prefix))
                steps.append((field.field_name, field.row_getter(prefix)))
            elif model_field is not None and model_field.is_relation:
                return None
            else:
                # A column or an annotation (checked when the plan reads a queryset).
                columns.append(source)
                steps.append((field.field_name, _value_getter(field, source)))
        return cls(model, list(dict.fromkeys(columns)), steps, many)

    # --- reading ---------------------------------------------------------------------------

    def read(self, queryset: QuerySet, extra: Iterable[str] = ()) -> RowRead | None:
        """How to read ``queryset`` as rows, or None when this queryset cannot be read so
        (a column that is neither a field nor an annotation, a many-valued field reached
        through no relation). ``extra`` columns (the pagination's ordering) are added
        when the queryset has them."""
        known = {f.name for f in self.model._meta.concrete_fields} | set(queryset.query.annotations)
        if any(column.split("__", 1)[0] not in known for column in self.columns):
            return None
        prefetches = prefetch_map(queryset)
        if not self._reachable(prefetches):
            return None
        extra = [name for name in extra if name.split("__", 1)[0] in known and name not in self.columns]
        return RowRead(self, queryset.prefetch_related(None).values(*self.columns, *extra), prefetches)

    def _reachable(self, prefetches: dict) -> bool:
        for many in self.many:
            found = _many_queryset(self.model, many.source, prefetches)
            if found is None or (many.child is not None and not many.child._reachable(prefetch_map(found[0]))):
                return False
        return True

    def represent(self, rows: list[dict], prefetches: dict[str, Prefetch], built: dict | None = None) -> list[dict]:
        """Each row's representation; ``prefetches`` (the queryset's, by the attribute each
        fills) say through which queryset each many-valued field is read. ``built`` keeps the
        many-valued fields' row querysets for the next call with the same prefetches."""
        pk = self.model._meta.pk.name
        ids = [row[pk] for row in rows]
        grouped = {many.name: self._read_many(many, ids, prefetches, built) for many in self.many}
        result = []
        for row in rows:
            representation = {}
            for name, get in self.steps:
                representation[name] = get(row) if get is not None else grouped[name].get(row[pk], [])
            result.append(representation)
        return result

    def _read_many(self, many: _Many, ids: list, prefetches: dict, built: dict | None) -> dict:
        if not ids:
            return {}
        queryset, relation = _many_queryset(self.model, many.source, prefetches)
        parent = {PARENT: F(relation)}
        if _model_field(queryset.model, relation).many_to_one:
            # Building the row queryset (its columns, their joins) costs more than filtering it:
            # kept in ``built`` with the queryset it reads (a kept read's prefetches are the same
            # objects). Only through a foreign key: a filter on a many-to-many relation after
            # .values() would join the relation a second time.
            kept = built.get(many) if built is not None else None
            if kept is None or kept[0] is not queryset:
                kept = (queryset, queryset.prefetch_related(None).values(*many.columns, **parent),
                        prefetch_map(queryset), {})
                if built is not None:
                    built[many] = kept
            _, values, child_prefetches, child_built = kept
            rows = list(values.filter(**{f"{relation}__in": ids}))
        else:
            rows = list(queryset.filter(**{f"{relation}__in": ids}).prefetch_related(None)
                        .values(*many.columns, **parent))
            child_prefetches, child_built = prefetch_map(queryset), None
        if many.child is None:
            representations = [many.brief(row) for row in rows]
        else:
            representations = many.child.represent(rows, child_prefetches, child_built)
        by_parent: dict = {}
        for representation, row in zip(representations, rows, strict=True):
            by_parent.setdefault(row[PARENT], []).append(representation)
        return by_parent


class RowRead:
    """A queryset read as rows: ``rows`` to paginate, then ``represent`` the page.

    A read may be kept and used again by later requests that would build the same querysets
    (``AccordModelViewSet.keep_row_reads``): each use takes a ``fresh`` copy, whose ``rows`` is
    a new queryset (so no request's results stay cached in it), and the many-valued fields'
    row querysets are built once for all of them."""

    def __init__(self, plan: RowPlan, rows: QuerySet, prefetches: dict[str, Prefetch], built: dict | None = None):
        self.plan = plan
        self.rows = rows
        self.prefetches = prefetches
        self.built = {} if built is None else built

    def fresh(self) -> RowRead:
        return RowRead(self.plan, self.rows.all(), self.prefetches, self.built)

    def represent(self, rows: Iterable[dict]) -> list[dict]:
        return self.plan.represent(list(rows), self.prefetches, self.built)


def prefetch_map(queryset: QuerySet) -> dict[str, Prefetch]:
    """A queryset's prefetches by the attribute each fills (``to_attr`` or the lookup)."""
    result = {}
    for lookup in queryset._prefetch_related_lookups:
        if isinstance(lookup, Prefetch):
            result[lookup.prefetch_to] = lookup
        else:
            result[lookup] = Prefetch(lookup)
    return result


def _many_queryset(model, source: str, prefetches: dict) -> tuple[QuerySet, str] | None:
    """The queryset of a many-valued field's rows (the view's prefetch, else the related
    model's default manager, as the ORM would read it) and the lookup back to the parent."""
    prefetch = prefetches.get(source) or prefetches.get(f"prefetched_{source}")
    through = prefetch.prefetch_through if prefetch is not None else source
    relation = _model_field(model, through)
    if relation is None or not (relation.many_to_many or relation.one_to_many) or "__" in through:
        return None
    queryset = prefetch.queryset if prefetch is not None and prefetch.queryset is not None else None
    if queryset is None:
        queryset = relation.related_model._default_manager.all()
    if relation.auto_created:  # a reverse relation: the child's field points at the parent
        back = relation.field.name
    else:
        back = relation.related_query_name()
    return queryset, back


def _model_field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation or an attribute
        return None


def _value_getter(field, source: str) -> Callable[[dict], object]:
    """The value as AccordModelSerializer's read plan gives it (DRF's formatting)."""
    if writes_default_iso(field):
        def get_datetime(row):
            return iso_datetime(row[source])

        return get_datetime
    if type(field) in _AS_IS and not field.read_only:
        return operator.itemgetter(source)
    to_representation = field.to_representation

    def get(row):
        value = row[source]
        return None if value is None else to_representation(value)

    return get
