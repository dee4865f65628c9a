"""The one place where visibility is decided.

Accord follows the opt-out principle: every authenticated, active user may view
every catalog and governance object unless an active deny rule opts them out.
``visibility_filter`` compiles that decision for one model and one user into a
single ``Q`` object, so every read path filters in SQL, never in Python.
"""

from __future__ import annotations

from django.db.models import Model, Q


def can_read_catalog(user) -> bool:
    """Only authenticated, active accounts read the catalog at all."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def visibility_filter(model: type[Model], user) -> Q:
    """The SQL condition selecting the rows of ``model`` that ``user`` may view.

    With no deny rules in the registry the opt-out default admits every row to
    every active user, which is the empty condition.
    """
    return Q()
