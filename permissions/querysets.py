from __future__ import annotations

from django.db import models

from permissions.visibility import can_read_catalog, visibility_filter


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a user may view."""

    def visible_to(self, user, *, inside: tuple[str, ...] = ()) -> RestrictedQuerySet:
        """The rows ``user`` may view. ``inside`` names containers through which the caller
        reaches these rows and that it has already read visibly (a visible dataset's fields:
        ``inside=("dataset",)``): their conditions are not repeated. Never pass it for rows
        that are not constrained to such a container."""
        if not can_read_catalog(user):
            return self.none()
        return self.filter(visibility_filter(self.model, user, inside))
