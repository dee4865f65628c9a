"""The base API viewset: every read and write starts from what the user may view."""

from __future__ import annotations

from django.db import transaction
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied


class AccordModelViewSet(viewsets.ModelViewSet):
    """CRUD over a restricted queryset.

    ``get_queryset`` narrows the declared queryset to the rows the requesting user
    may view, so list, detail, filters, ordering, pagination and custom actions
    all see the same rows, and a hidden object answers 404 like a missing one.
    Writes are atomic: after a create or update the row is read back through the
    restricted queryset inside the same transaction, and the write is rolled back
    if the user could no longer see what they wrote.
    """

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            instance = serializer.save()
            self._ensure_still_visible(instance)

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            instance = serializer.save()
            self._ensure_still_visible(instance)

    def perform_destroy(self, instance) -> None:
        with transaction.atomic():
            instance.delete()

    def _ensure_still_visible(self, instance) -> None:
        if not self.get_queryset().filter(pk=instance.pk).exists():
            raise PermissionDenied("After this change you could no longer see the object, so it was not saved.")
