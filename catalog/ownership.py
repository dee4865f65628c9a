"""Object permissions follow ownership.

A dataset's steward may change it (and, through ``Field.edit_container``, its
fields); a field's owner may change that field. When a steward or owner changes,
the old holder's object permission is revoked and the new one's granted, in the
same transaction, and both are audited. Whichever path changed the owner (API,
admin, bulk registration, a command), the model signal below sees it.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from guardian.shortcuts import assign_perm, remove_perm

from catalog.models import Dataset, Field
from permissions import audit
from permissions.models import AuditAction

# model → (owner field, permissions its holder gets on the object)
OWNERSHIP = {
    Dataset: ("steward", ("catalog.change_dataset",)),
    Field: ("owner", ("catalog.change_field",)),
}


def _sync(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    owner_field, perms = OWNERSHIP[sender]
    before = {} if created else (getattr(instance, "_audit_before", None) or {})
    old_id = before.get(owner_field)
    new_id = getattr(instance, f"{owner_field}_id")
    if old_id == new_id:
        return
    user_model = sender._meta.get_field(owner_field).related_model
    if old_id is not None:
        old = user_model._base_manager.filter(pk=old_id).first()
        if old is not None:
            for perm in perms:
                remove_perm(perm, old, instance)
            audit.record_event(AuditAction.PERMISSION_REVOKED, instance,
                               details={"user": old.get_username(), "permissions": list(perms)})
    if new_id is not None:
        new = getattr(instance, owner_field)
        for perm in perms:
            assign_perm(perm, new, instance)
        audit.record_event(AuditAction.PERMISSION_GRANTED, instance,
                           details={"user": new.get_username(), "permissions": list(perms)})


def connect() -> None:
    for model in OWNERSHIP:
        post_save.connect(_sync, sender=model, dispatch_uid=f"accord_ownership_{model._meta.model_name}")
