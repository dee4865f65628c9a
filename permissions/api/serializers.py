"""Serializer base classes shared by every app's API."""

from __future__ import annotations

import copy
import datetime
import operator

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.settings import api_settings


def request_user(serializer_field) -> object | None:
    request = serializer_field.context.get("request")
    return getattr(request, "user", None)


@extend_schema_field(OpenApiTypes.OBJECT)
class BriefRelatedField(serializers.RelatedField):
    """A related object shown briefly (``{"id": 3, "name": "Sales", …}``) and
    written by id (``3`` or ``{"id": 3}``).

    The choices are the objects the requesting user may view, and an id the user
    may not view gets exactly the same error as an id that does not exist.
    """

    default_error_messages = {
        "does_not_exist": "No {model} with {lookup} {value!r} exists.",
        "incorrect_type": "Give the {model} as its id{natural}, or an object with an id.",
    }

    def __init__(self, brief_fields: tuple[str, ...] = ("id", "name"), natural_key: str | None = None, **kwargs):
        self.brief_fields = brief_fields
        self.natural_key = natural_key
        super().__init__(**kwargs)

    def use_pk_only_optimization(self) -> bool:
        return False

    def get_queryset(self):
        queryset = super().get_queryset()
        if hasattr(queryset, "visible_to"):
            queryset = queryset.visible_to(request_user(self))
        return queryset

    def to_representation(self, value) -> dict:
        return {name: getattr(value, name) for name in self.brief_fields}

    # Reading the brief object from a ``.values()`` row (permissions.api.rows), where the
    # related object's columns are named ``<prefix><column>``.

    def row_columns(self, prefix: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f"{prefix}{name}" for name in ("id", *self.brief_fields)))

    def row_getter(self, prefix: str):
        keys = [(name, f"{prefix}{name}") for name in self.brief_fields]
        id_key = f"{prefix}id"

        def get(row) -> dict | None:
            return None if row[id_key] is None else {name: row[key] for name, key in keys}

        return get

    def to_internal_value(self, data):
        model_name = self.get_queryset().model._meta.verbose_name
        if isinstance(data, dict):
            data = data.get("id", data.get(self.natural_key) if self.natural_key else None)
        if isinstance(data, int) and not isinstance(data, bool):
            key, value = "id", data
        elif isinstance(data, str) and data.isdigit():
            key, value = "id", int(data)
        elif isinstance(data, str) and data and self.natural_key:
            key, value = self.natural_key, data
        else:
            natural = f" or its {self.natural_key}" if self.natural_key else ""
            self.fail("incorrect_type", model=model_name, natural=natural)
        try:
            return self.get_queryset().get(**{"pk" if key == "id" else key: value})
        except ObjectDoesNotExist:
            self.fail("does_not_exist", model=model_name, lookup=key, value=value)


@extend_schema_field(OpenApiTypes.OBJECT)
class BriefUserField(BriefRelatedField):
    """A person, shown as ``{"id", "username", "display_name"}``, written by id."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(brief_fields=("id", "username"), natural_key="username", **kwargs)

    def get_queryset(self):
        return self.queryset.all()

    def to_representation(self, value) -> dict:
        return brief_user(value.id, value.username, value.first_name, value.last_name)

    def row_columns(self, prefix: str) -> tuple[str, ...]:
        return tuple(f"{prefix}{name}" for name in ("id", "username", "first_name", "last_name"))

    def row_getter(self, prefix: str):
        id_key, username_key, first_key, last_key = self.row_columns(prefix)

        def get(row) -> dict | None:
            user_id = row[id_key]
            if user_id is None:
                return None
            return brief_user(user_id, row[username_key], row[first_key], row[last_key])

        return get


def brief_user(user_id: int, username: str, first_name: str, last_name: str) -> dict:
    full_name = f"{first_name} {last_name}".strip()
    return {"id": user_id, "username": username, "display_name": full_name or username}


_UTC = datetime.UTC
_AS_IS = (
    serializers.CharField, serializers.IntegerField, serializers.BigIntegerField, serializers.BooleanField,
    serializers.FloatField,
    serializers.ChoiceField, serializers.JSONField, serializers.ReadOnlyField,
)


def iso_datetime(value: datetime.datetime | None) -> str | None:
    """A timestamp as DRF's DateTimeField writes it by default (ISO 8601, UTC as ``Z``)."""
    if value is None:
        return None
    text = value.astimezone(_UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def writes_default_iso(field) -> bool:
    """Whether a serializer field writes timestamps as ``iso_datetime`` does."""
    return isinstance(field, serializers.DateTimeField) and \
        getattr(field, "format", serializers.empty) is serializers.empty and \
        api_settings.DATETIME_FORMAT == "iso-8601"


def _datetime_getter(source: str):
    def get(instance):
        return iso_datetime(getattr(instance, source))

    return get


def _related_getter(source: str, field):
    def get(instance):
        value = getattr(instance, source)
        return None if value is None else field.to_representation(value)

    return get


def _many_getter(source: str, child):
    prefetched = f"prefetched_{source}"

    def get(instance):
        # Views prefetch into a plain list (Prefetch(..., to_attr="prefetched_<name>")),
        # which spares Django a queryset per row; a freshly saved object has none.
        values = getattr(instance, prefetched, None)
        if values is None:
            values = getattr(instance, source)
            if hasattr(values, "all"):
                values = values.all()
        return [child.to_representation(value) for value in values]

    return get


def _generic_getter(field):
    def get(instance):
        attribute = field.get_attribute(instance)
        return None if attribute is None else field.to_representation(attribute)

    return get


class AccordModelSerializer(serializers.ModelSerializer):
    """A model serializer whose validation is the model's own.

    Before anything is written, the candidate object runs the model's field
    validators, ``clean()`` and every database constraint (unique, check), so a
    violation answers 400 with the constraint's own message instead of failing in
    the database. The database constraints still stand behind it for races.
    """

    def to_representation(self, instance) -> dict:
        """DRF's representation, computed from a plan built once per serializer.

        A list of 100 datasets would otherwise go through DRF's generic field
        machinery a few thousand times per request; the plan reads plain values
        directly and keeps DRF's own formatting (ISO 8601 with ``Z`` for UTC).
        Fields the plan does not know fall back to DRF.
        """
        plan = type(self).__dict__.get("_class_read_plan") or self.__dict__.get("_read_plan")
        if plan is None:
            fields = list(self._readable_fields)
            plan = self.__dict__["_read_plan"] = [(f.field_name, _getter_for(f)) for f in fields]
            if all(_context_free(f) for f in fields):
                # Nothing in it depends on the request: every later instance of this
                # serializer reuses it and never builds its fields to read.
                type(self)._class_read_plan = plan
        representation = {}
        for name, get in plan:
            try:
                representation[name] = get(instance)
            except SkipField:  # DRF leaves out a read-only attribute the object lacks
                continue
        return representation

    def get_validators(self) -> list:
        # Uniqueness comes from the model's constraints in validate() below, with
        # their human messages; DRF's generated duplicates would only shadow them.
        return []

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        model = self.Meta.model
        candidate = copy.copy(self.instance) if self.instance is not None else model()
        concrete = {field.name: field for field in model._meta.concrete_fields}
        for name, value in attrs.items():
            if name in concrete:
                setattr(candidate, name, value)
        many_to_many = [field.name for field in model._meta.many_to_many]
        try:
            candidate.full_clean(exclude=many_to_many, validate_unique=True, validate_constraints=True)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(drf_errors(exc)) from exc
        return attrs


def drf_errors(exc: DjangoValidationError) -> dict:
    """A Django ValidationError as DRF's ``{field: [messages]}``."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    errors: dict[str, list[str]] = {}
    for field, messages in exc.message_dict.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        errors.setdefault(key, []).extend(messages)
    return errors


def concrete_field_names(model: type[models.Model]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields]


class AuditRecordSerializer(serializers.Serializer):
    """An audit record as stored (read-only)."""

    seq = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    action = serializers.CharField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_name = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    parent_type = serializers.CharField()
    parent_id = serializers.CharField()
    changes = serializers.JSONField()
    details = serializers.JSONField()
    request_id = serializers.CharField()
    client_ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    reason = serializers.CharField()
    prev_hash = serializers.CharField()
    record_hash = serializers.CharField()


_CONTEXT_FREE = (*_AS_IS, serializers.DateTimeField)


def _context_free(field) -> bool:
    if isinstance(field, serializers.ManyRelatedField):
        return isinstance(field.child_relation, BriefRelatedField)
    if isinstance(field, serializers.ListSerializer):
        return isinstance(field.child, AccordModelSerializer)
    return isinstance(field, BriefRelatedField) or type(field) in _CONTEXT_FREE


def _getter_for(field):
    simple_source = len(field.source_attrs) == 1 and field.source != "*"
    source = field.source_attrs[0] if simple_source else None
    if simple_source and writes_default_iso(field):
        return _datetime_getter(source)
    if simple_source and type(field) in _AS_IS and not field.read_only:
        return operator.attrgetter(source)
    if simple_source and isinstance(field, BriefRelatedField):
        return _related_getter(source, field)
    if simple_source and isinstance(field, serializers.ManyRelatedField) and isinstance(
            field.child_relation, BriefRelatedField):
        return _many_getter(source, field.child_relation)
    if simple_source and isinstance(field, serializers.ListSerializer) and isinstance(
            field.child, AccordModelSerializer):
        return _many_getter(source, field.child)
    return _generic_getter(field)
