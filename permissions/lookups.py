"""``field__any_of=[…]``: membership in a literal list, sent as one array parameter.

On PostgreSQL ``col = ANY(%s)`` binds the whole list as one array: compiling it costs
the same for ten ids or ten thousand, and the planner hashes long arrays. Other
databases get an ordinary ``IN (…)`` with one parameter per value. The visibility
conditions use it for the id lists compiled from deny rules.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [self.lhs.output_field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # relations keep lookups of their own
