"""The request body limit answered in JSON under /api/.

Django refuses a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when a view reads it through
``request.body`` or ``request.POST``, and then answers with its HTML 400 page; DRF's parsers read the stream and
do not check it at all. This middleware refuses such a request before any view runs, from its Content-Length,
with a 413 whose JSON names the limit, and turns Django's own ``RequestDataTooBig`` (a body without a length,
read by a view) into the same answer.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

API_PREFIX = "/api/"


def limit_for(request) -> tuple[str, int | None]:
    """The setting and the body limit of ``request``: ``ACCORD_REQUEST_LIMITS`` names the paths
    that take larger uploaded files (dbt artifacts, sent as multipart); any other request, JSON bodies
    included (DRF reads those whole, and Django then holds them to it), has ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    special = getattr(settings, "ACCORD_REQUEST_LIMITS", {}).get(request.path)
    if special is not None and request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        name, _default = special
        return name, getattr(settings, name)
    return "ACCORD_MAX_REQUEST_BYTES", settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _too_large(request, size: int | None = None) -> JsonResponse:
    setting, limit = limit_for(request)
    sent = f"The request body is {size:,} bytes long; " if size is not None else "The request body is too large; "
    return JsonResponse({"detail": f"{sent}the limit is {limit:,} bytes (setting {setting}).", "limit_bytes": limit},
                        status=413)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _setting, limit = limit_for(request)
        if limit is not None and request.path.startswith(API_PREFIX):
            try:
                size = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                size = 0
            if size > limit:
                return _too_large(request, size)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(API_PREFIX):
            return _too_large(request)
        return None
