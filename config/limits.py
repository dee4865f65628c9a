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


def _too_large(size: int | None = None) -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    sent = f"The request body is {size:,} bytes long; " if size is not None else "The request body is too large; "
    return JsonResponse({"detail": f"{sent}the limit is {limit:,} bytes (setting ACCORD_MAX_REQUEST_BYTES)."},
                        status=413)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith(API_PREFIX):
            try:
                size = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                size = 0
            if size > limit:
                return _too_large(size)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(API_PREFIX):
            return _too_large()
        return None
