from __future__ import annotations

from typing import Any, ClassVar

from django.db import models, transaction

from permissions.querysets import RestrictedQuerySet


class AccordModel(models.Model):
    """Base of every catalog and governance model.

    * The default manager is the restricted queryset, so ``Model.objects.visible_to(user)``
      is available everywhere.
    * Every row records when it was registered and last changed in Accord.
    * Every create, update and delete is audited with field-level before/after
      values (``permissions.signals``); a child object names its parent in
      ``audit_parent`` so the parent's history shows it.
    * ``access`` (a ``permissions.access.AccessSpec``) declares how deny rules reach
      the model: which containers hide it, its classification, its tags.
    """

    created_at = models.DateTimeField(auto_now_add=True, help_text="When the row was registered in Accord.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed in Accord.")

    objects = RestrictedQuerySet.as_manager()

    audit_parent: ClassVar[str | None] = None
    audit_ignore: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the row held when loaded (keyed by attribute name), so an update can be
        # diffed without reading the row again. Deferred loads fall back to a query.
        complete = len(values) == len(cls._meta.concrete_fields)
        # Kept as the raw pair (cheap on every read); turned into a dict only on a write.
        instance._audit_loaded = (field_names, values) if complete else None
        return instance

    def loaded_values(self) -> dict[str, Any] | None:
        """What the row held when loaded, by attribute name (None if loaded partially)."""
        loaded = self.__dict__.get("_audit_loaded")
        if isinstance(loaded, tuple):
            loaded = dict(zip(*loaded, strict=True))
            self._audit_loaded = loaded
        return loaded

    def audit_snapshot(self) -> dict[str, Any]:
        """The audited values of the row by field name (foreign keys as ids)."""
        return {
            field.name: getattr(self, field.attname)
            for field in self._meta.concrete_fields
            if field.name not in self.audit_ignore
        }

    def save(self, *args, **kwargs):
        # The row and its audit record commit together, or not at all.
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic(savepoint=False):
            return super().delete(*args, **kwargs)

    @property
    def etag(self) -> str:
        return self.etag_for(self.pk, self.updated_at)

    @classmethod
    def etag_for(cls, pk, updated_at) -> str:
        stamp = updated_at.isoformat() if updated_at else ""
        return f'"{cls._meta.model_name}-{pk}-{stamp}"'
