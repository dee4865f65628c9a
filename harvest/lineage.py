"""View lineage from view definitions, parsed with sqlglot (PostgreSQL dialect)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParsedView:
    sources: set[str] = field(default_factory=set)  # qualified names of the tables read
    columns: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # view column -> {(table, column)}


def parse_view(definition: str, *, default_schema: str, dialect: str = "postgres") -> ParsedView | None:
    """The tables a view reads and, where resolvable, which source column each view column
    comes straight from; None when the definition does not parse."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(definition, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None
    if isinstance(tree, exp.Create):  # SQLite keeps the whole CREATE VIEW statement
        tree = tree.expression
    if not isinstance(tree, exp.Query):
        return None
    parsed = ParsedView()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if table.name in ctes and not table.db:
            continue
        name = f"{table.db or default_schema}.{table.name}" if default_schema or table.db else table.name
        parsed.sources.add(name)
        aliases[table.alias_or_name] = name
    select = tree if isinstance(tree, exp.Select) else None
    if select is not None:
        for projection in select.expressions:
            column = projection.this if isinstance(projection, exp.Alias) else projection
            while isinstance(column, (exp.Cast, exp.TryCast, exp.Paren)):  # amount::numeric(10,2) is still amount
                column = column.this
            if isinstance(column, exp.Column) and column.name != "*":
                table = aliases.get(column.table) if column.table else (
                    next(iter(aliases.values())) if len(aliases) == 1 else None)
                if table:
                    parsed.columns.setdefault(projection.alias_or_name, set()).add((table, column.name))
    return parsed
