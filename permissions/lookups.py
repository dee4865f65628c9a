"""``field__any_of=ids``: membership in a literal list of ids, sent as one array parameter.

On PostgreSQL ``col = ANY(%s::bigint[])`` binds the whole list as one array literal:
compiling it costs the same for ten ids or ten thousand, and the planner hashes long
arrays. Other databases get an ordinary ``IN (…)`` with one parameter per id. The
visibility conditions use it for the id lists compiled from deny rules, as ``IdList``s:
built once per compiled rule set, their array text is built once too, and Django does
not walk them value by value as it does lists and tuples.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Field, ForeignObject, Lookup


class IdList:
    """A fixed, sorted list of integer ids (not a list or tuple, so Django leaves it whole)."""

    __slots__ = ("ids", "_array")

    def __init__(self, ids: Iterable[int]):
        self.ids = tuple(sorted({int(value) for value in ids}))
        self._array: str | None = None

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other) -> bool:
        return isinstance(other, IdList) and other.ids == self.ids

    def __hash__(self) -> int:
        return hash(self.ids)

    def __repr__(self) -> str:
        return f"IdList({list(self.ids)!r})"

    def array(self) -> str:
        """The PostgreSQL array literal, built once."""
        if self._array is None:
            self._array = "{" + ",".join(map(str, self.ids)) + "}"
        return self._array


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return self.rhs if isinstance(self.rhs, IdList) else IdList(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids: IdList = self.rhs
        if not ids:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, ids.array()]
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids.ids]


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # relations keep lookups of their own
