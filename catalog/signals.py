"""Signals the catalog sends for others to act on (the catalog imports nobody above it)."""

from django.dispatch import Signal

# Sent after commit when a registration changed a dataset's fields:
# sender=Dataset, dataset=<Dataset>, changes={"created": [...], "updated": [...], "removed": [...]}.
schema_changed = Signal()
