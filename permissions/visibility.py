"""The one place where visibility is decided.

Accord follows the opt-out principle: every authenticated, active user may view
every catalog and governance object unless an active deny rule opts them out
(``permissions.access``). ``visibility_filter`` compiles that decision for one
model and one user into a single ``Q`` object, so every read path filters in SQL.

Some rows belong to one person rather than to the catalog: a notification
subscription and its deliveries, an API token. Their model names the path to that
person in ``private_to`` (``"owner"``, ``"subscription__owner"``): such a row is
visible to that person and to superusers only.
"""

from __future__ import annotations

from django.db.models import Model, Q

from permissions.access import visible_condition


def can_read_catalog(user) -> bool:
    """Only authenticated, active accounts read the catalog at all."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def visibility_filter(model: type[Model], user, visible_containers: tuple[str, ...] = ()) -> Q:
    """The SQL condition selecting the rows of ``model`` that ``user`` may view
    (``visible_containers``: see ``permissions.access.visible_condition``)."""
    condition = visible_condition(model, user, visible_containers)
    owner = getattr(model, "private_to", None)
    if owner and not user.is_superuser:
        condition &= Q(**{owner: user.pk})
    return condition
