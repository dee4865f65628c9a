from __future__ import annotations

from typing import ClassVar

from permissions.errors import Conflict


class FrozenContentMixin:
    """Refuse to save changed content once a version has left the draft stage.

    The services refuse first, with a clear message; this is the backstop for any
    other path (a script, the shell, a future bug).
    """

    frozen_fields: ClassVar[tuple[str, ...]] = ()
    frozen_statuses: ClassVar[tuple[str, ...]] = ()

    def save(self, *args, **kwargs):
        stored = self.loaded_values()
        if self.pk and stored and stored.get("status") in self.frozen_statuses:
            changed = [name for name in self.frozen_fields if stored.get(name) != getattr(self, name)]
            if changed:
                raise Conflict(f"{self} is {stored['status']}: its {', '.join(changed)} can no longer change.")
        super().save(*args, **kwargs)
