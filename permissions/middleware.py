"""Every request runs inside an audit context and carries a request id."""

from __future__ import annotations

import logging
import re

from permissions import context

# fullmatch, not match with ``$``: ``$`` also matches before a final newline ("abc\n").
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
logger = logging.getLogger("accord.request")


class RequestContextMiddleware:
    """Give every request a server-made id and make the request the audit context of
    everything it does.

    The id audit records carry, and anything kept for the rest of the request is scoped by,
    is made here (``X-Accord-Request-ID`` on the response). The caller's ``X-Request-ID``
    is only a correlation id: when well-formed it is echoed on the response, logged and
    recorded as ``client_request_id``; a malformed one is dropped."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        client_request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else ""
        request_id = context.new_request_id()
        request.request_id = request_id
        request.client_request_id = client_request_id
        with context.request_context(request, request_id, client_request_id):
            response = self.get_response(request)
        if client_request_id:
            logger.debug("request %s carries client request id %s", request_id, client_request_id)
        response["X-Request-ID"] = client_request_id or request_id
        response["X-Accord-Request-ID"] = request_id
        return response
