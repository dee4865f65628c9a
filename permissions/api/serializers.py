"""Serializer base classes shared by every app's API."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers
from rest_framework.settings import api_settings


def request_user(serializer_field) -> object | None:
    request = serializer_field.context.get("request")
    return getattr(request, "user", None)


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

    def to_internal_value(self, data):
        model_name = self.get_queryset().model._meta.verbose_name
        if isinstance(data, dict):
            data = data.get("id", data.get(self.natural_key) if self.natural_key else None)
        if isinstance(data, int) and not isinstance(data, bool):
            key, value = "id", data
        elif isinstance(data, str) and data.isascii() and data.isdigit():  # not "²" or "١"
            key, value = "id", int(data)
        elif isinstance(data, str) and data and self.natural_key:
            key, value = self.natural_key, data
        else:
            natural = f" or its {self.natural_key}" if self.natural_key else ""
            self.fail("incorrect_type", model=model_name, natural=natural)
        if key == "id" and abs(value) > 2**63 - 1:  # beyond any id column: no such object
            self.fail("does_not_exist", model=model_name, lookup=key, value=value)
        try:
            return self.get_queryset().get(**{"pk" if key == "id" else key: value})
        except ObjectDoesNotExist:
            self.fail("does_not_exist", model=model_name, lookup=key, value=value)

    def get_choices(self, cutoff=None) -> dict:
        """The browsable API's choices, by id (DRF keys them by the representation, a dict here)."""
        queryset = self.get_queryset()
        if cutoff is not None:
            queryset = queryset[:cutoff]
        return {item.pk: self.display_value(item) for item in queryset}


class BriefUserField(BriefRelatedField):
    """A person, shown as ``{"id", "username", "display_name"}``, written by id."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(brief_fields=("id", "username"), natural_key="username", **kwargs)

    def get_queryset(self):
        return self.queryset.all()

    def to_representation(self, value) -> dict:
        full_name = f"{value.first_name} {value.last_name}".strip()
        return {"id": value.id, "username": value.username, "display_name": full_name or value.username}


class AccordModelSerializer(serializers.ModelSerializer):
    """A model serializer whose validation is the model's own.

    Before anything is written, the candidate object runs the model's field
    validators, ``clean()`` and every database constraint (unique, check), so a
    violation answers 400 with the constraint's own message instead of failing in
    the database. The database constraints still stand behind it for races.
    """

    def to_internal_value(self, data):
        # A key that is no field of the object is refused rather than ignored: a misspelt
        # "classfication" would otherwise answer 200 and change nothing.
        if isinstance(data, Mapping):
            shown = getattr(self.context.get("view"), "read_only_keys", ())  # read-modify-write
            unknown = sorted(str(key) for key in data if key not in self.fields and key not in shown)
            if unknown:
                takes = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                raise serializers.ValidationError(
                    {key: [f"Not a field of this object, which takes: {takes}."] for key in unknown})
        return super().to_internal_value(data)

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
    client_request_id = serializers.CharField()
    client_ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    reason = serializers.CharField()
    prev_hash = serializers.CharField()
    record_hash = serializers.CharField()
