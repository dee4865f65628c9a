"""What the OpenAPI schema says beyond what drf-spectacular infers.

* The authentication schemes (bearer token, session cookie).
* Related objects (``BriefRelatedField``): read as a brief object, written by id, by
  natural key or as ``{"id": …}`` — two shapes, one per direction
  (``COMPONENT_SPLIT_REQUEST``).
* Operation descriptions come from ``extend_schema`` only: the views' docstrings are
  written for the people who maintain them, not for API callers.
* Every status an operation can answer is documented, with the error body
  (``add_error_responses``, a postprocessing hook).
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.relations import ManyRelatedField


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "permissions.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "permissions.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def _brief_property(name: str) -> dict:
    return {"type": "integer"} if name == "id" or name.endswith("_id") else {"type": "string"}


class BriefRelatedFieldExtension(OpenApiSerializerFieldExtension):
    """Read: ``{"id": 3, "name": "Sales", …}`` (the field's brief fields), or null for a single
    reference the reader may not see (a list leaves it out). Write: the id
    (``3``), the natural key where the field has one (``"sales"``), or an object naming
    either (``{"id": 3}``)."""

    target_class = "permissions.api.serializers.BriefRelatedField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        brief = ("id", "username", "display_name") if _is_user_field(field) else field.brief_fields
        if direction == "response":
            shape = {
                "type": "object",
                "properties": {name: _brief_property(name) for name in brief},
                "required": list(brief),
            }
            if not _is_user_field(field) and not isinstance(field.parent, ManyRelatedField):
                shape["nullable"] = True  # a reference the reader may not see reads as null
            return shape
        natural = field.natural_key
        by_key = {"id": {"type": "integer"}, **({natural: {"type": "string"}} if natural else {})}
        shapes = [
            {"type": "integer", "description": "The id."},
            {"type": "object", "properties": by_key, "minProperties": 1, "maxProperties": 1,
             "additionalProperties": False},
        ]
        if natural:
            shapes.insert(1, {"type": "string", "description": f"The {natural} (an empty string is null)."})
        return {"oneOf": shapes}


def _is_user_field(field) -> bool:
    from permissions.api.serializers import BriefUserField

    return isinstance(field, BriefUserField)


class AccordAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, describing an operation only where ``extend_schema``
    says what to tell callers (docstrings stay internal)."""

    def get_description(self) -> str:
        return ""


# --- error responses ----------------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What was wrong, in words."},
        "errors": {
            "type": "object",
            "description": "Each field (or query parameter) in error, with its messages (400 only).",
            "additionalProperties": {},
        },
        "current_etag": {"type": "string", "description": "The object's ETag now (412 only)."},
    },
    "required": ["detail"],
}

_DESCRIPTIONS = {
    "400": "The request was not valid (a field, a query parameter or the body); `errors` says which and why.",
    "401": "Not authenticated: no credentials, or a token that is unknown, expired or revoked.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object, or one you may not see.",
    "405": "The method is not allowed here.",
    "406": "None of the formats asked for (`Accept`, `?format=`) is served.",
    "409": "The object's state does not allow this step, or other objects still refer to it.",
    "412": "`If-Match` does not match the object's current ETag.",
    "415": "The body's media type is not accepted.",
    "429": "Too many failed authentications from this address; retry after `Retry-After` seconds.",
}

_WRITES = {"post", "put", "patch", "delete"}


def _error_statuses(path: str, method: str) -> list[str]:
    statuses = ["400", "401", "403", "406", "429"]
    if "{" in path:
        statuses.append("404")
    if method in _WRITES:
        statuses += ["409", "415"]
    if method in ("put", "patch", "delete"):
        statuses.append("412")
    return statuses


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: document the error answers of every operation (the body of
    ``permissions.api.errors``)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    # An empty value is the same as leaving the parameter out (django-filter's
                    # rule, and the browsable API's filter form sends every field).
                    parameter["allowEmptyValue"] = True
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, method):
                responses.setdefault(status, {"content": {"application/json": {"schema": ref}},
                                              "description": _DESCRIPTIONS[status]})
            if "429" in responses:
                responses["429"].setdefault("headers", {"Retry-After": {"schema": {"type": "integer"}}})
    return result
