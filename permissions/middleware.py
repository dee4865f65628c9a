"""Every request runs inside an audit context and carries a request id."""

from __future__ import annotations

import re

from permissions import audit, context

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Accept the caller's ``X-Request-ID`` when well-formed (else make one), put it
    on the response, and make the request the audit context of everything it does."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = request_id
        with context.request_context(request, request_id):
            try:
                response = self.get_response(request)
            finally:
                # An audit record the request sent without waiting (a restricted read) is
                # confirmed before its response leaves.
                audit.confirm_sent()
        response["X-Request-ID"] = request_id
        return response


class LoginThrottleMiddleware:
    """Refuse (429) admin login attempts from an address with too many recent failures.

    Failures are counted from the audit log (``permissions.throttling``), so the
    limit holds across every web process.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import HttpResponse
        from django.urls import reverse

        from permissions import throttling

        if request.method == "POST" and request.path == reverse("admin:login"):
            if throttling.too_many_failures(request.META.get("REMOTE_ADDR")):
                response = HttpResponse(
                    "Too many failed sign-in attempts from your address. Try again later.",
                    status=429, content_type="text/plain",
                )
                response["Retry-After"] = str(throttling.retry_after())
                return response
        return self.get_response(request)
