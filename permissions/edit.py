"""Edit rights are opt-in: who may create, change or delete an object.

In order, any of these grants the right:
1. superuser;
2. the model permission (``catalog.change_dataset``), given to a user or a group;
3. an object permission (django-guardian): stewards and owners get them as
   ownership changes (``catalog.ownership``);
4. the right to change the object's container (a dataset's steward may change
   its fields), declared by the model's ``edit_container``;
5. leading the department that owns the object (``permissions.backends``);
6. owning a row private to a person (``private_to``: a subscription, a token).
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db.models import Model


def _perm(model: type[Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def can_change(user, obj: Model, action: str = "change") -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    perm = _perm(type(obj), action)
    if user.has_perm(perm) or user.has_perm(perm, obj):
        return True
    if _owned_by(obj, user):
        return True
    container_name = getattr(obj, "edit_container", None)
    container = getattr(obj, container_name, None) if container_name else None
    return container is not None and can_change(user, container, "change")


def _owned_by(obj: Model, user) -> bool:
    path = getattr(obj, "private_to", None)
    if not path:
        return False
    *through, last = path.split("__")
    for name in through:
        obj = getattr(obj, name)
    return getattr(obj, f"{last}_id") == user.pk


def can_create(user, model: type[Model], data: dict) -> bool:
    """May ``user`` create a ``model`` object with these (validated) values?"""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser or user.has_perm(_perm(model, "add")):
        return True
    container_name = getattr(model, "edit_container", None)
    if container_name and data.get(container_name) is not None:
        return can_change(user, data[container_name], "change")
    department_field = getattr(model, "edit_department", None)
    if department_field and "." not in department_field and data.get(department_field) is not None:
        department_model = apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)
        return data[department_field].pk in department_model.led_ids_for(user)
    return False


def source_messages(user, messages, name: str, system) -> list[str]:
    """A run's ``warnings`` or ``errors`` (``name``) as ``user`` may read them. A harvest's or an
    ingestion's messages quote its source, names of hidden tables included, so only who may change
    the ``system`` it read (who runs it) reads them; anyone else learns how many there are."""
    messages = list(messages or [])
    if not messages or can_change(user, system):
        return messages
    noun = "warning" if name == "warnings" else "error"
    return [f"{len(messages)} {noun if len(messages) == 1 else noun + 's'}, shown to those who may change the system"]
