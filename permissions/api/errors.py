"""Error bodies that say what was wrong.

* 400: ``{"detail": "…", "errors": {"field": ["message", …]}}``
* everything else: ``{"detail": "…"}``

A database integrity error that validation did not catch first (two writers racing
for the same unique name) becomes a 400 naming the broken rule, never a 500. A URL under
/api/ that matches no route (an id that is not a number, a resource that does not exist)
answers a JSON 404 too (``page_not_found``, the project's ``handler404``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _integrity_message(exc: IntegrityError) -> str:
    from django.apps import apps

    text = str(exc)
    for model in apps.get_models():
        for constraint in getattr(model._meta, "constraints", []):
            if constraint.name in text:
                return str(constraint.violation_error_message or f"The rule {constraint.name} was broken.")
    return "The change conflicts with data already registered (a uniqueness or integrity rule was broken)."


def exception_handler(exc, context):
    from permissions.api.viewsets import PreconditionFailed
    from permissions.errors import Refused

    if isinstance(exc, Refused):
        body = {"detail": exc.message}
        if exc.errors or exc.status_code == 400:
            body["errors"] = exc.errors
        response = Response(body, status=exc.status_code)
        if exc.status_code == status.HTTP_403_FORBIDDEN:
            _audit_denied(context, response)
        return response

    if isinstance(exc, PreconditionFailed):
        response = Response(
            {"detail": "The object changed since you read it (If-Match does not match); read it again and retry.",
             "current_etag": exc.current},
            status=status.HTTP_412_PRECONDITION_FAILED,
        )
        response["ETag"] = exc.current
        return response
    if isinstance(exc, DjangoValidationError):
        from permissions.api.serializers import drf_errors

        exc = exceptions.ValidationError(drf_errors(exc))
    if isinstance(exc, (ProtectedError, RestrictedError)):
        # Checked before IntegrityError, of which both are subclasses.
        # Never named: some of the referencing objects may be hidden from the caller.
        from permissions.deletion import REFERENCED

        return Response({"detail": REFERENCED}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": _integrity_message(exc), "errors": {}}, status=status.HTTP_400_BAD_REQUEST
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == status.HTTP_403_FORBIDDEN:
        _audit_denied(context, response)
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"detail": "The request was not valid; see errors for each field.", "errors": errors}
    return response


def _audit_denied(context, response) -> None:
    from permissions import audit
    from permissions.models import AuditAction

    request = context.get("request")
    view = context.get("view")
    model = getattr(getattr(view, "queryset", None), "model", None)
    audit.record_event(
        AuditAction.ACCESS_DENIED,
        object_type=model._meta.label_lower if model is not None else "",
        object_id=str(context.get("kwargs", {}).get("pk", "")),
        details={"method": getattr(request, "method", ""), "path": getattr(request, "path", ""),
                 "detail": str(response.data.get("detail", "")) if isinstance(response.data, dict) else ""},
    )


def page_not_found(request, exception):
    """Django's 404 page, except under /api/, where it is the API's JSON body."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found: no such resource, or no object with this id."}, status=404)
    return defaults.page_not_found(request, exception)
