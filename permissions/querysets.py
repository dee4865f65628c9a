from __future__ import annotations

from django.db import models

from permissions.visibility import can_read_catalog, visibility_filter


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a user may view."""

    def visible_to(self, user) -> RestrictedQuerySet:
        if not can_read_catalog(user):
            return self.none()
        return self.filter(visibility_filter(self.model, user))
