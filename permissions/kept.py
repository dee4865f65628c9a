"""A small least-recently-used store for things built from a key and kept across requests
(compiled SQL, search statements, row reads): at most ``size`` values, the least recently
used dropped first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable | None, build: Callable[[], V | None]) -> V | None:
        """The value kept under ``key``, else ``build()``'s, kept unless it is None. With no key
        (``None``: what the value depends on is unknown) it is built every time and not kept."""
        if key is None:
            return build()
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
            return value
        value = build()
        if value is not None:
            self._values[key] = value
            if len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        self._values.clear()
