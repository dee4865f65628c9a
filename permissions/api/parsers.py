"""Request parsers and the checks every API request's input goes through before a view
sees it, so malformed input is a 400 that says what was wrong, never a server error.

* JSON nested deeper than ``MAX_JSON_DEPTH`` is refused (a document 1,000 levels deep
  would exhaust the recursion of whatever walks it next).
* NUL characters are refused in bodies (JSON, form, multipart), query parameters and URL
  arguments: PostgreSQL cannot store them in text, and no name, term or document needs one.
"""

from __future__ import annotations

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_JSON_DEPTH = 32
NUL = "\x00"


def _check_json(data) -> None:
    """Depth and NUL characters of a parsed document, walked without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            if isinstance(value, str) and NUL in value:
                raise ParseError("JSON strings may not contain NUL characters (\\u0000).")
            continue
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.")
        stack.extend((child, depth + 1) for child in children)


def refuse_nul(values, where: str) -> None:
    """A 400 naming the first key whose name or value in ``values`` (a QueryDict or a dict)
    contains a NUL character."""
    items = values.lists() if isinstance(values, QueryDict) else ((k, [v]) for k, v in values.items())
    for key, found in items:
        if NUL in str(key) or any(isinstance(v, str) and NUL in v for v in found):
            name = str(key).replace(NUL, "\\x00")
            raise ValidationError({name: [f"NUL characters (\\x00) are not accepted in {where}."]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.") from exc
        _check_json(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        refuse_nul(data, "form fields")
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        refuse_nul(result.data, "form fields")
        return result


def refuse_malformed_request(request, kwargs: dict) -> None:
    """What no API view takes in its query string or URL (called from the restricting bases'
    ``initial``): NUL characters."""
    refuse_nul(request.query_params, "query parameters")
    refuse_nul(kwargs, "the URL")
