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

from django.core.exceptions import FieldError
from django.db.models import BooleanField, Expression, Field, ForeignObject, Lookup, Model, Q
from django.db.models.sql import Query


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


class TableCondition(Expression):
    """A condition on one table's rows, compiled to SQL once and reused in later queries.

    Compiling a long condition through the ORM costs more than evaluating it; this keeps the
    compiled text and its parameters. The text names the table by its own name; where a
    query gives the table another alias (a sub-query relabels it ``U0``), that alias is put
    in instead. Only conditions that need no join are compiled so (``compile``), so the
    table's own alias is the one name the text refers to outside its own sub-selects.
    """

    conditional = True

    def __init__(self, sql: str, params: tuple, table: str, alias: str | None = None):
        super().__init__(output_field=BooleanField())
        self.sql, self.params, self.table = sql, params, table
        self.alias = alias or table

    @classmethod
    def compile(cls, model: type[Model], condition: Q, connection) -> TableCondition | None:
        """``condition`` on ``model``'s rows compiled once; None when it needs a join."""
        query = Query(model)
        try:
            query.add_q(condition)
        except FieldError:
            return None
        base = query.get_initial_alias()
        if any(query.alias_refcount[alias] for alias in query.alias_map if alias != base):
            return None  # a join the condition cannot do without
        sql, params = query.get_compiler(connection=connection).compile(query.where)
        return cls(f"({sql})", tuple(params), model._meta.db_table)

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        if query is not None:
            clone.alias = query.get_initial_alias()
        return clone

    def relabeled_clone(self, change_map):
        clone = self.copy()
        clone.alias = change_map.get(self.alias, self.alias)
        return clone

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        if self.alias == self.table:
            return self.sql, list(self.params)
        # Aliases are written as the compiler writes them (a relabelled ``U0`` unquoted).
        own = f"{connection.ops.quote_name(self.table)}."
        return self.sql.replace(own, f"{compiler.quote_name_unless_alias(self.alias)}."), list(self.params)


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # relations keep lookups of their own
