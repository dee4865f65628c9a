"""Change records for every write to an audited model, however it is made
(API, admin, services, tasks, commands): wired to Django's model signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from permissions import audit
from permissions.models import AccordModel, AuditAction

# Fields of the user model that are never copied into the log (the hash of a
# password still changes, and that change is recorded without its values).
SECRET_FIELDS = {"password"}
# Bookkeeping that changes on every login or every beat tick: not a change anybody made.
USER_IGNORED = {"last_login", "last_run_at", "total_run_count", "date_changed", "last_update"}
# Schedules people edit in the admin (django-celery-beat) are audited like our own models.
SCHEDULE_MODELS = ("django_celery_beat.periodictask", "django_celery_beat.crontabschedule",
                   "django_celery_beat.intervalschedule", "django_celery_beat.periodictasks")


def _is_audited(instance) -> bool:
    if instance._meta.label_lower == "django_celery_beat.periodictasks":
        return False  # beat's "schedule changed" marker row, rewritten on every edit
    return isinstance(instance, (AccordModel, get_user_model(), Group)) or \
        instance._meta.label_lower in SCHEDULE_MODELS


def _snapshot(instance) -> dict[str, Any]:
    if isinstance(instance, AccordModel):
        return instance.audit_snapshot()
    return {
        field.name: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in USER_IGNORED
    }


def _stored_snapshot(instance) -> dict[str, Any] | None:
    """The row as stored, by field name: from what was loaded, else read again."""
    names = list(_snapshot(instance))
    attnames = {field.name: field.attname for field in instance._meta.concrete_fields}
    loaded = instance.loaded_values() if isinstance(instance, AccordModel) else None
    if loaded is not None:
        return {name: loaded.get(attnames[name]) for name in names}
    row = type(instance)._base_manager.filter(pk=instance.pk).values(*[attnames[n] for n in names]).first()
    return None if row is None else {name: row[attnames[name]] for name in names}


def _diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    before, after = before or {}, after or {}
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in SECRET_FIELDS:
            changes[name] = {"before": "(hidden)" if old else None, "after": "(hidden)"}
        else:
            changes[name] = {"before": old, "after": new}
    return changes


def on_pre_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or not _is_audited(instance):
        return
    audit.require_actor(f"save of {instance._meta.label_lower}")
    instance._audit_before = None if instance._state.adding or instance.pk is None else _stored_snapshot(instance)


def on_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    if raw or not _is_audited(instance):
        return
    after = _snapshot(instance)
    before = None if created else getattr(instance, "_audit_before", None)
    changes = _diff(before, after)
    if created:
        changes = {k: v for k, v in changes.items() if v["after"] not in (None, "", [], {})}
    audit.record_change(AuditAction.CREATE if created else AuditAction.UPDATE, instance, changes)
    instance._audit_loaded = {
        field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields
    }


def on_pre_delete(sender, instance, **kwargs) -> None:
    if _is_audited(instance):
        audit.require_actor(f"delete of {instance._meta.label_lower}")


def on_post_delete(sender, instance, **kwargs) -> None:
    if not _is_audited(instance):
        return
    before = _snapshot(instance)
    changes = {k: v for k, v in _diff(before, None).items() if v["before"] not in (None, "", [], {})}
    audit.record_change(AuditAction.DELETE, instance, changes)


def on_m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if reverse:
        _on_reverse_m2m_changed(sender, instance, action, model, pk_set)
        return
    if not _is_audited(instance):
        return
    field_name = next(
        (f.name for f in instance._meta.many_to_many if f.remote_field.through is sender), None
    )
    if field_name is None:
        return
    manager = getattr(instance, field_name)
    if action in ("pre_add", "pre_remove", "pre_clear"):
        instance.__dict__.setdefault("_audit_m2m_before", {})[field_name] = sorted(
            manager.values_list("pk", flat=True)
        )
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    before = instance.__dict__.get("_audit_m2m_before", {}).pop(field_name, [])
    after = sorted(manager.values_list("pk", flat=True))
    if before != after:
        audit.record_change(AuditAction.UPDATE, instance, {field_name: {"before": before, "after": after}})


def _related_ids(field, ids: list) -> dict[Any, list]:
    """For each object (by pk) of the model holding the many-to-many ``field``: its related pks."""
    through = field.remote_field.through
    source = through._meta.get_field(field.m2m_field_name()).attname
    target = through._meta.get_field(field.m2m_reverse_field_name()).attname
    found: dict[Any, list] = {pk: [] for pk in ids}
    for source_id, target_id in through._base_manager.filter(**{f"{source}__in": ids}).values_list(source, target):
        found[source_id].append(target_id)
    return {pk: sorted(values) for pk, values in found.items()}


def _on_reverse_m2m_changed(sender, instance, action, model, pk_set) -> None:
    """A change made from the other side (``group.user_set.add(user)``): recorded, like one made
    from the field's side, on each object of ``model`` (which holds the field) whose set changed."""
    field = next((f for f in model._meta.many_to_many if f.remote_field.through is sender), None)
    if field is None:
        return
    pending = instance.__dict__.setdefault("_audit_m2m_reverse_before", {})
    if action in ("pre_add", "pre_remove", "pre_clear"):
        if action == "pre_clear":
            through = field.remote_field.through
            target = through._meta.get_field(field.m2m_reverse_field_name()).attname
            source = through._meta.get_field(field.m2m_field_name()).attname
            ids = list(through._base_manager.filter(**{target: instance.pk}).values_list(source, flat=True))
        else:
            ids = list(pk_set or ())
        pending[field.name] = _related_ids(field, ids)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    before = pending.pop(field.name, {})
    after = _related_ids(field, list(before))
    changed = [pk for pk in before if before[pk] != after[pk]]
    for obj in model._base_manager.filter(pk__in=changed).order_by("pk"):
        if _is_audited(obj):
            audit.record_change(AuditAction.UPDATE, obj,
                                {field.name: {"before": before[obj.pk], "after": after[obj.pk]}})


def connect() -> None:
    pre_save.connect(on_pre_save, dispatch_uid="accord_audit_pre_save")
    post_save.connect(on_post_save, dispatch_uid="accord_audit_post_save")
    pre_delete.connect(on_pre_delete, dispatch_uid="accord_audit_pre_delete")
    post_delete.connect(on_post_delete, dispatch_uid="accord_audit_post_delete")
    m2m_changed.connect(on_m2m_changed, dispatch_uid="accord_audit_m2m")
