"""Authentication backends: the request's user loaded with one plain statement, and edit
rights that follow ownership (department leads act for their department)."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth import backends, get_user_model
from django.db import connections, router
from django.db.models.expressions import Col


class ModelBackend(backends.ModelBackend):
    """Django's ``ModelBackend``, with ``get_user`` (run for every request with a session)
    sending its statement as SQL text rather than building and compiling an ORM query each
    time. The row becomes a user as the ORM makes one (``from_db``, the same converters)."""

    def get_user(self, user_id):
        model = get_user_model()
        alias = router.db_for_read(model)
        connection = connections[alias]
        sql, fields, converters = _user_statement(model, connection)
        pk = model._meta.pk
        with connection.cursor() as cursor:
            cursor.execute(sql, [pk.get_db_prep_value(pk.get_prep_value(user_id), connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        values = []
        for value, (expression, field_converters) in zip(row, converters, strict=True):
            for convert in field_converters:
                value = convert(value, expression, connection)
            values.append(value)
        user = model.from_db(alias, [field.attname for field in fields], values)
        return user if self.user_can_authenticate(user) else None


def _user_statement(model, connection) -> tuple[str, tuple, tuple]:
    """The user look-up's SQL, its columns, and each column's converters (as the ORM applies
    them), kept on the connection."""
    kept = getattr(connection, "accord_user_statement", None)
    if kept is None or kept[0] is not model:
        kept = connection.accord_user_statement = (model, _build_user_statement(model, connection))
    return kept[1]


def _build_user_statement(model, connection) -> tuple[str, tuple, tuple]:
    quote = connection.ops.quote_name
    fields = tuple(model._meta.concrete_fields)
    table = model._meta.db_table
    columns = ", ".join(f"{quote(table)}.{quote(field.column)}" for field in fields)
    sql = f"SELECT {columns} FROM {quote(table)} WHERE {quote(table)}.{quote(model._meta.pk.column)} = %s"
    converters = []
    for field in fields:
        expression = Col(table, field)
        converters.append((expression, tuple(connection.ops.get_db_converters(expression))
                           + tuple(expression.get_db_converters(connection))))
    return sql, fields, tuple(converters)


class DepartmentLeadBackend:
    """A lead of a department (or of one above it) holds the change and delete
    permissions on objects owned by that department.

    A model opts in by naming its owning department in ``edit_department``
    (a field name, or a dotted path through a container such as ``dataset.owner_department``).
    """

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user, perm: str, obj=None) -> bool:
        if obj is None or not user.is_active or not hasattr(obj, "edit_department"):
            return False
        app_label, _, codename = perm.partition(".")
        action = codename.split("_", 1)[0]
        if app_label != obj._meta.app_label or codename != f"{action}_{obj._meta.model_name}":
            return False
        if action not in ("change", "delete", "view"):
            return False
        department_id = owning_department_id(obj)
        if department_id is None:
            return False
        department_model = apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)
        return department_id in department_model.led_ids_for(user)

    def get_all_permissions(self, user, obj=None) -> set[str]:
        return set()


def owning_department_id(obj) -> int | None:
    target = obj
    *path, last = obj.edit_department.split(".")
    for name in path:
        target = getattr(target, name, None)
        if target is None:
            return None
    return getattr(target, f"{last}_id", None)
