from __future__ import annotations

from django.db import models

from permissions.querysets import RestrictedQuerySet


class AccordModel(models.Model):
    """Base of every catalog and governance model.

    The default manager is the restricted queryset, so ``Model.objects.visible_to(user)``
    is available everywhere, and every row records when it was registered and
    last changed in Accord.
    """

    created_at = models.DateTimeField(auto_now_add=True, help_text="When the row was registered in Accord.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed in Accord.")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True
