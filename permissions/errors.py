"""Refusals raised by services, mapped to HTTP answers by the API's exception handler
(and shown as messages in the admin). Services stay free of HTTP details."""

from __future__ import annotations


class Refused(Exception):
    status_code = 409

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotAllowed(Refused):
    """The actor may not do this (403)."""

    status_code = 403


class Conflict(Refused):
    """The object is not in a state that allows this (409): e.g. editing an approved version."""

    status_code = 409


class Invalid(Refused):
    """The request itself is wrong (400)."""

    status_code = 400
