"""JSON input taken as the OpenAPI schema describes it.

DRF coerces what a JSON body sends: ``0`` becomes ``False`` for a boolean, ``5`` becomes
``"5"`` for a string, ``{}`` an empty list for a many-relation. A client whose body does
not match the schema should hear so (a 400 naming the field), not have its value
reinterpreted. Form bodies (the browsable API) keep DRF's coercion: every form value is a
string.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import fields, relations, serializers

# (DRF field class, JSON types it takes, what to say); the first match wins.
_JSON_TYPES: list[tuple[type, tuple[type, ...], str]] = [
    (fields.BooleanField, (bool,), "true or false"),
    (fields.JSONField, (object,), ""),
    (fields.MultipleChoiceField, (list,), "a list"),
    (fields.ChoiceField, (str,), "one of the choices, as a string"),
    (fields.IntegerField, (int,), "a whole number"),
    (fields.FloatField, (int, float), "a number"),
    (fields.CharField, (str,), "a string"),
    (fields.DateTimeField, (str,), "a date and time as a string (ISO 8601)"),
    (fields.DateField, (str,), "a date as a string (YYYY-MM-DD)"),
    (fields.ListField, (list,), "a list"),
    (fields.DictField, (dict,), "an object"),
    (relations.ManyRelatedField, (list,), "a list"),
    (serializers.ListSerializer, (list,), "a list"),
    (serializers.BaseSerializer, (dict,), "an object"),
]


def loose_json_errors(serializer: serializers.Serializer, data) -> dict[str, list[str]]:
    """The fields of a JSON body whose value is not of the JSON type the field takes."""
    if not isinstance(data, Mapping) or getattr(data, "getlist", None) is not None:
        return {}  # a form (QueryDict): strings, as forms send them
    errors = {}
    for name, value in data.items():
        field = serializer.fields.get(name)
        if field is None or field.read_only or value is None:
            continue
        for field_class, types, wanted in _JSON_TYPES:
            if isinstance(field, field_class):
                if isinstance(field, fields.ChoiceField) and not all(isinstance(key, str) for key in field.choices):
                    break  # choices that are numbers: DRF matches them by their text
                if types != (object,) and (not isinstance(value, types) or (
                        isinstance(value, bool) and bool not in types)):
                    errors[name] = [f"Give {wanted}."]
                break
    return errors
