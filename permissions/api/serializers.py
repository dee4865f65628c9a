"""Serializer base classes shared by every app's API."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q, UniqueConstraint
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS, ManyRelatedField
from rest_framework.settings import api_settings

from permissions.access import spec_for
from permissions.api.strict import loose_json_errors
from permissions.visibility import visibility_filter


def request_user(serializer_field) -> object | None:
    request = serializer_field.context.get("request")
    return getattr(request, "user", None)


def can_be_hidden(model: type[models.Model]) -> bool:
    """Whether some deny rule (or the row's privacy) could hide rows of ``model`` from somebody."""
    if getattr(model, "private_to", None):
        return True
    if not hasattr(model, "access"):
        return False
    spec = spec_for(model)
    if spec.targetable or spec.classification or spec.tags:
        return True
    return any(can_be_hidden(model._meta.get_field(name).related_model) for name in spec.containers)


class ReaderVisibility:
    """Which of the rows a response refers to its reader may see: one query per model for
    a whole response, however many objects it renders.

    Serializers *note* the references of every object they are about to render
    (``note``), then ask (``visible_ids``, ``is_visible``); the first question about a
    model resolves everything noted for it in one query. Answers are kept for the rest
    of the response. ``user`` None is a system component, which sees everything.
    ``governance.redaction.Redactor`` extends it with the governance documents.
    """

    def __init__(self, user):
        self.user = user
        self._known: dict[type[models.Model], dict[int, bool]] = {}
        self._pending: dict[type[models.Model], set[int]] = {}

    @property
    def sees_everything(self) -> bool:
        return self.user is None or bool(getattr(self.user, "is_superuser", False))

    def note(self, model: type[models.Model], ids) -> None:
        """Remember ids of ``model`` to resolve with the next question about ``model``."""
        if self.sees_everything or not can_be_hidden(model):
            return
        known = self._known.get(model, {})
        wanted = {pk for pk in ids if pk is not None and pk not in known}
        if wanted:
            self._pending.setdefault(model, set()).update(wanted)

    def visible_ids(self, model: type[models.Model], ids) -> set[int]:
        """The ids among ``ids`` naming rows of ``model`` the reader may see (a missing id is not visible)."""
        ids = {pk for pk in ids if pk is not None}
        if self.sees_everything or not can_be_hidden(model):
            return ids
        self.note(model, ids)
        pending = self._pending.pop(model, set())
        known = self._known.setdefault(model, {})
        if pending:
            condition = visibility_filter(model, self.user)
            seen = set(model._base_manager.filter(Q(pk__in=pending) & condition).values_list("pk", flat=True))
            known.update({pk: pk in seen for pk in pending})
        return {pk for pk in ids if known.get(pk)}

    def is_visible(self, model: type[models.Model], pk) -> bool:
        return pk in self.visible_ids(model, {pk})


def reader_visibility(context: dict) -> ReaderVisibility:
    """The ``ReaderVisibility`` of the response a serializer context belongs to (made on first use)."""
    found = context.get("reader_visibility")
    if found is None:
        request = context.get("request")
        found = context["reader_visibility"] = ReaderVisibility(getattr(request, "user", None))
    return found


def note_brief_references(serializer: serializers.Serializer, instances) -> None:
    """Note, for ``reader_visibility``, every catalog reference the serializer's brief related
    fields will render for ``instances`` (foreign keys by their ``*_id``, many-to-many from the
    prefetched rows): the batch behind a list's fixed number of queries."""
    visibility = reader_visibility(serializer.context)
    if visibility.sees_everything:
        return
    for field in serializer.fields.values():
        many = isinstance(field, BriefManyRelatedField)
        relation = field.child_relation if many else field
        if not isinstance(relation, BriefRelatedField) or field.write_only or not field.source_attrs:
            continue
        model = relation.related_model()
        if model is None or not can_be_hidden(model) or relation.renders_container():
            continue
        for instance in instances:
            owner = instance
            for attr in field.source_attrs[:-1]:
                owner = getattr(owner, attr, None)
            if owner is None:
                continue
            name = field.source_attrs[-1]
            if many:
                related = getattr(owner, name, None)
                if related is not None and hasattr(related, "all"):
                    visibility.note(model, (row.pk for row in related.all()))
            else:
                visibility.note(model, [getattr(owner, f"{name}_id", None)])


class BriefRelatedField(serializers.RelatedField):
    """A related object shown briefly (``{"id": 3, "name": "Sales", …}``) and
    written by id (``3`` or ``{"id": 3}``).

    The choices are the objects the requesting user may view, and an id the user
    may not view gets exactly the same error as an id that does not exist. A related
    object the reader may not see is never rendered: a single reference shows as
    ``null``, a list leaves it out, and a write of the list keeps it
    (``BriefManyRelatedField``). See docs/permissions.md, "What a partly restricted
    reader sees".
    """

    default_error_messages = {
        "does_not_exist": "No {model} with {lookup} {value!r} exists.",
        "incorrect_type": "Give the {model} as its id{natural}, or an object with an id.",
    }

    def __init__(self, brief_fields: tuple[str, ...] = ("id", "name"), natural_key: str | None = None, **kwargs):
        self.brief_fields = brief_fields
        self.natural_key = natural_key
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS})
        return BriefManyRelatedField(**list_kwargs)

    def use_pk_only_optimization(self) -> bool:
        return False

    def get_queryset(self):
        queryset = super().get_queryset()
        if hasattr(queryset, "visible_to"):
            queryset = queryset.visible_to(request_user(self))
        return queryset

    def _declared_on(self) -> tuple[type[models.Model] | None, str | None]:
        """The model of the serializer declaring this field, and the model field it renders."""
        field = self.parent if isinstance(self.parent, ManyRelatedField) else self
        model = getattr(getattr(field.parent, "Meta", None), "model", None)
        if model is None or len(field.source_attrs) != 1:
            return None, None
        return model, field.source_attrs[0]

    def related_model(self) -> type[models.Model] | None:
        if self.queryset is not None:
            return self.queryset.model
        model, name = self._declared_on()
        try:
            return model._meta.get_field(name).related_model if model is not None else None
        except FieldDoesNotExist:
            return None

    def renders_container(self) -> bool:
        """Whether the reference is a container of the row rendered (``AccessSpec.containers``):
        a row the reader sees has visible containers, so nothing needs checking."""
        model, name = self._declared_on()
        return model is not None and name in spec_for(model).containers

    def shown(self, value) -> bool:
        """Whether the reader may see ``value`` (always, for rows nobody can be opted out of)."""
        if self.renders_container():
            return True
        return reader_visibility(self.context).is_visible(type(value), value.pk)

    def to_representation(self, value) -> dict | None:
        if not self.shown(value):
            return None
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


class BriefManyRelatedField(ManyRelatedField):
    """A list of brief related objects: only those the reader may see are listed, and a
    write of the list keeps the related objects the writer may not see (they cannot name
    them, so leaving them out is not a request to remove them)."""

    def to_representation(self, iterable) -> list:
        rows = list(iterable)
        if self.child_relation.renders_container():
            return [self.child_relation.to_representation(row) for row in rows]
        visible = reader_visibility(self.context).visible_ids(type(rows[0]), {row.pk for row in rows}) if rows \
            else set()
        return [self.child_relation.to_representation(row) for row in rows if row.pk in visible]

    def to_internal_value(self, data) -> list:
        chosen = super().to_internal_value(data)
        instance = getattr(self.parent, "instance", None)
        model = self.child_relation.related_model()
        if instance is None or model is None or not can_be_hidden(model) or len(self.source_attrs) != 1:
            return chosen
        user = request_user(self)
        if user is None or user.is_superuser:
            return chosen
        relation = type(instance)._meta.get_field(self.source_attrs[0])
        related = model._base_manager.filter(**{relation.related_query_name(): instance.pk})
        # Not ``exclude(visibility_filter(...))``: for a writer no rule applies to, the filter is an
        # empty Q, and excluding an empty Q excludes nothing (every related row would be kept).
        visible = related.filter(visibility_filter(model, user)).values("pk")
        kept = related.exclude(pk__in=visible).exclude(pk__in=[row.pk for row in chosen])
        return [*chosen, *kept]


class BriefUserField(BriefRelatedField):
    """A person, shown as ``{"id", "username", "display_name"}``, written by id."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(brief_fields=("id", "username"), natural_key="username", **kwargs)

    def get_queryset(self):
        return self.queryset.all()

    def shown(self, value) -> bool:
        return True  # people are never hidden

    def to_representation(self, value) -> dict:
        full_name = f"{value.first_name} {value.last_name}".strip()
        return {"id": value.id, "username": value.username, "display_name": full_name or value.username}


class AccordListSerializer(serializers.ListSerializer):
    """A page of objects: their references are noted together before any is rendered, so
    checking what the reader may see costs one query per referenced model, not per object."""

    def to_representation(self, data) -> list:
        rows = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        self.child.note_references(rows)
        return super().to_representation(rows)


class AccordModelSerializer(serializers.ModelSerializer):
    """A model serializer whose validation is the model's own.

    Before anything is written, the candidate object runs the model's field
    validators, ``clean()`` and every database constraint (unique, check), so a
    violation answers 400 with the constraint's own message instead of failing in
    the database. The database constraints still stand behind it for races.

    A uniqueness violation on a model whose rows can be hidden from somebody answers
    the same for a duplicate the writer sees and one they do not: "This <field> is not
    available…", naming no object (docs/permissions.md).

    Rendering notes the references of every object first (``note_references``; a list
    does it for the whole page), so what the reader may see is decided in one query
    per referenced model.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("Meta")
        if meta is not None and "list_serializer_class" not in vars(meta):
            meta.list_serializer_class = AccordListSerializer

    def note_references(self, instances: list) -> None:
        """Note what the objects about to be rendered refer to (``reader_visibility``)."""
        note_brief_references(self, instances)

    def to_representation(self, instance):
        self.note_references([instance])
        return super().to_representation(instance)

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
        loose = loose_json_errors(self, data)
        if loose:
            raise serializers.ValidationError(loose)
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
            candidate.full_clean(exclude=many_to_many, validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(drf_errors(exc)) from exc
        errors = unique_errors(candidate, exclude=many_to_many)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def unique_errors(candidate: models.Model, *, exclude: list[str]) -> dict[str, list[str]]:
    """The uniqueness and constraint violations of ``candidate`` as DRF errors.

    For a model whose rows some deny rule could hide, a duplicate is refused in words that
    name nothing and read the same whether the writer may see the duplicate or not."""
    model = type(candidate)
    try:
        candidate.validate_unique(exclude=exclude)
        candidate.validate_constraints(exclude=exclude)
    except DjangoValidationError as exc:
        if not can_be_hidden(model):
            return drf_errors(exc)
    else:
        return {}
    errors: dict[str, list[str]] = {}
    for field in model._meta.concrete_fields:
        if field.unique and not field.primary_key and field.name not in exclude:
            value = getattr(candidate, field.attname)
            if value is not None and model._base_manager.filter(**{field.attname: value}).exclude(
                    pk=candidate.pk).exists():
                errors.setdefault(field.name, []).append(f"This {field.verbose_name} is not available; choose another.")
    for constraint in model._meta.constraints:
        try:
            constraint.validate(model, candidate, exclude=set(exclude))
        except DjangoValidationError as exc:
            if isinstance(constraint, UniqueConstraint) and constraint.fields:
                names = [str(model._meta.get_field(name).verbose_name) for name in constraint.fields]
                if len(names) == 1:
                    message = f"This {names[0]} is not available; choose another."
                elif len(names) == 2:
                    message = f"This {names[1]} is not available in this {names[0]}; choose another."
                else:
                    message = f"This combination of {', '.join(names[:-1])} and {names[-1]} is not available."
                errors.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).append(message)
            else:
                errors.update({key: errors.get(key, []) + value for key, value in drf_errors(exc).items()})
    return errors


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


class RunMessagesMixin:
    """A run's ``warnings`` and ``errors`` as the requesting user may read them (the model's
    ``messages_for``: a harvest's or an ingestion's quote its source)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        user = request_user(self)
        for name in ("warnings", "errors"):
            data[name] = instance.messages_for(user, name)
        return data
