"""Catalog search: datasets, fields, systems and departments, ranked, with facets.

PostgreSQL: full-text search (``websearch_to_tsquery`` against each table's stored
weighted ``search_document`` with its GIN index), ranked by ``ts_rank`` on the stored
vector; the whole answer (every type's hits and facet counts, and the names of the
systems and departments they refer to) is one statement.
SQLite and others: a case-insensitive substring match ranked by where the text
matched (exact name, name prefix, name, description), counted in Python.

Every statement starts from ``visible_to(user)``: the PostgreSQL statement is
composed, on every search, around the SQL the ORM compiles for each type's
``visible_to(user)`` queryset (``QuerySet.query.sql_with_params()``), so results,
counts, facets and labels only ever count what the user may see now.

Bounded work (docs/api.md, "Broad terms"): per type, at most ``ACCORD_SEARCH_EXACT_LIMIT`` (N)
matches are considered. When a type has more, its candidate set is N of them —
the name matches first, then the others by id — and
its counts, facet counts and ranking are computed over that set: counts are then
lower bounds (``count_exact: false``) and the ranking is ``"approximate"``. Only
candidates are ranked and read in full. A related value that a facet needs (a field's
dataset's system) is looked up for every candidate; display-only columns (a dataset's
system name) for the shown hits alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When
from django.db.models.expressions import RawSQL

from catalog.models import Dataset, Department, Field, System
from catalog.models.search import DOCUMENT_COLUMN, SEARCH_CONFIG, name_document_sql

TYPES = ("dataset", "field", "system", "department")
FACETS = ("type", "kind", "system", "department", "classification")
FILTERED_FACETS = ("kind", "system", "department", "classification")


@dataclass(frozen=True)
class SearchFilters:
    types: tuple[str, ...] = TYPES
    system_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()
    classifications: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def values(self, facet: str) -> tuple:
        return {"kind": self.kinds, "system": self.system_ids, "department": self.department_ids,
                "classification": self.classifications}[facet]


@dataclass(frozen=True)
class _Type:
    model: type
    label: str
    fields: tuple[str, ...]  # the model's own columns a hit shows
    related: dict[str, str]  # alias → path of a related row's column a hit or a facet shows
    facets: dict[str, str]  # facet → column (a name in ``fields`` or ``related``)
    name_fields: tuple[str, ...] = ("name",)


_SPEC = {
    "dataset": _Type(Dataset, "catalog.Dataset",
                     ("id", "name", "qualified_name", "description", "kind", "classification", "system_id",
                      "owner_department_id"),
                     {"system_name": "system__name"},
                     {"kind": "kind", "system": "system_id", "department": "owner_department_id",
                      "classification": "classification"},
                     name_fields=("name", "qualified_name")),
    "field": _Type(Field, "catalog.Field",
                   ("id", "name", "description", "classification", "data_type", "dataset_id", "owner_department_id"),
                   {"dataset_qualified_name": "dataset__qualified_name", "dataset_system_id": "dataset__system_id"},
                   {"system": "dataset_system_id", "department": "owner_department_id",
                    "classification": "classification"}),
    "system": _Type(System, "catalog.System", ("id", "name", "description", "kind", "vendor", "owner_department_id"),
                    {}, {"kind": "kind", "system": "id", "department": "owner_department_id"}),
    "department": _Type(Department, "catalog.Department", ("id", "name", "description", "slug"), {},
                        {"department": "id"}),
}


@dataclass
class _TypeAnswer:
    """What one type contributes: its best hits, its counts, and whether they are bounded."""

    bounded: bool = False
    hits: list[dict] = field(default_factory=list)
    count: int = 0
    facet_counts: dict[str, dict] = field(default_factory=dict)


def exact_limit() -> int:
    return settings.ACCORD_SEARCH_EXACT_LIMIT


def _uses_fulltext() -> bool:
    return connection.vendor == "postgresql"


def _can_match(kind: str, filters: SearchFilters) -> bool:
    """A filter on a facet a type does not have excludes the whole type."""
    return all(not filters.values(facet) or facet in _SPEC[kind].facets for facet in FILTERED_FACETS)


def search(user, text: str, filters: SearchFilters, limit: int) -> dict:
    """Ranked hits across the requested types, and facet counts over the matches.

    Facet counts for a facet ignore that facet's own filter (so a user can see how
    many hits each other choice would give) but honour every other filter.
    """
    text = text.strip()
    if _uses_fulltext():
        answer, names = _answer_postgresql(user, text, filters, limit)
    else:
        answer, names = _answer_fallback(user, text, filters, limit), None
    hits = [_hit(kind, row) for kind, typed in answer.items() if kind in filters.types for row in typed.hits]
    hits.sort(key=lambda hit: (-hit["rank"], TYPES.index(hit["type"]), hit["id"]))
    approximate = any(typed.bounded for kind, typed in answer.items() if kind in filters.types)
    return {
        "query": text,
        "results": hits[:limit],
        "ranking": "approximate" if approximate else "exact",
        "facets": _facet_lists(answer, filters, user, names),
    }


# --- PostgreSQL: one statement -------------------------------------------------------------------

QUERY_SQL = f"websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"


def _visible_rows_sql(kind: str, user) -> tuple[str, tuple] | None:
    """The ORM's SQL (and params) of the type's rows that ``user`` may see: its own hit and facet
    columns and both search documents. ``None`` when the user may see none of them (``visible_to``
    gave an empty queryset, which has no SQL)."""
    spec = _SPEC[kind]
    table = spec.model._meta.db_table
    rows = spec.model.objects.visible_to(user).order_by().values(
        *spec.fields,
        search_document=RawSQL(f'"{table}"."{DOCUMENT_COLUMN}"', ()),
        name_document=RawSQL(name_document_sql(spec.label, table), ()),
    )
    try:
        return rows.query.sql_with_params()
    except EmptyResultSet:
        return None


def _related_sql(kind: str, row: str, *, for_facets: bool) -> str:
    """The related columns of the row ``row``, each looked up by primary key: those facets and filters
    need (a field's dataset's system), for every candidate (``for_facets``); the others only for the
    hits shown."""
    spec = _SPEC[kind]
    parts = []
    for alias, path in spec.related.items():
        if (alias in spec.facets.values()) != for_facets:
            continue
        link, column = path.split("__")
        foreign_key = spec.model._meta.get_field(link)
        target = foreign_key.related_model
        parts.append(f'(SELECT r."{target._meta.get_field(column).column}" FROM "{target._meta.db_table}" r '
                     f'WHERE r."{target._meta.pk.column}" = {row}."{foreign_key.column}") AS "{alias}"')
    return "".join(f", {part}" for part in parts)


def _type_sql(kind: str, visible: tuple[str, tuple], text: str, filters: SearchFilters, limit: int,
              bound: int) -> tuple[str, list, str, list]:
    """One type's part of the statement: its candidate set (CTEs), and a row of its best hits and facet
    counts (JSON). ``visible``: the SQL of the type's visible rows (``_visible_rows_sql``)."""
    spec = _SPEC[kind]
    visible_sql, visible_params = visible
    columns = ", ".join(f'v."{column}"' for column in spec.fields)
    rank = f"ts_rank(v.search_document, {QUERY_SQL}) AS rank"
    conditions = {facet: f'"{spec.facets[facet]}" = ANY(%s)' for facet in FILTERED_FACETS if filters.values(facet)}

    def where(*, skip: str | None = None) -> tuple[str, list]:
        kept = [facet for facet in conditions if facet != skip]
        return " AND ".join(conditions[facet] for facet in kept) or "TRUE", [list(filters.values(f)) for f in kept]

    # The candidate set: every match when there are at most N; otherwise the name matches
    # first, then the other matches by id, N in all. By id, not in whatever order a plan
    # yields them, so the answer never depends on the plan. The matches come from the
    # document's GIN index, the name matches from the name index.
    bounded = f"(SELECT count(*) FROM {kind}_all) > %s"
    source = f"FROM ({visible_sql}) v WHERE v.search_document @@ {QUERY_SQL}"
    every = f"SELECT {columns}, {rank} {source} ORDER BY v.id LIMIT %s"
    names = (f"SELECT {columns}, {rank} {source} AND v.name_document @@ {QUERY_SQL} AND {bounded} "
             f"ORDER BY v.id LIMIT %s")
    params = [text, *visible_params, text, bound + 1, text, *visible_params, text, text, bound, bound]
    sql = (
        f"{kind}_all AS MATERIALIZED ({every}), {kind}_names AS MATERIALIZED ({names}), "
        f"{kind}_candidates AS MATERIALIZED (SELECT u.*{_related_sql(kind, 'u', for_facets=True)} FROM "
        f"(SELECT * FROM {kind}_names UNION ALL "
        f"(SELECT * FROM {kind}_all WHERE id NOT IN (SELECT id FROM {kind}_names) "
        f"ORDER BY id LIMIT %s - (SELECT count(*) FROM {kind}_names))) u)"
    )
    params.append(bound)

    hits_sql, hits_params = "NULL::json", []
    facet_columns = list(spec.facets.values())
    grouping_sets = ["()"]
    if kind in filters.types:
        condition, condition_params = where()
        hits_sql = (f"(SELECT json_agg(h ORDER BY h.rank DESC, h.id) FROM (SELECT b.*"
                    f"{_related_sql(kind, 'b', for_facets=False)} FROM (SELECT * FROM {kind}_candidates "
                    f"WHERE {condition} ORDER BY rank DESC, id LIMIT %s) b) h)")
        hits_params = [*condition_params, limit]
        grouping_sets += [f'("{column}")' for column in facet_columns]
    aggregates, aggregate_params = [], []
    for name, skip in (("n", None), *((f"n_{facet}", facet) for facet in spec.facets)):
        condition, condition_params = where(skip=skip)
        aggregates.append(f'count(*) FILTER (WHERE {condition}) AS "{name}"')
        aggregate_params += condition_params
    if len(grouping_sets) > 1:
        quoted = ", ".join(f'"{column}"' for column in facet_columns)
        grouped = f"GROUPING({quoted}) AS grouping, {quoted}"
        group_by = f" GROUP BY GROUPING SETS ({', '.join(grouping_sets)})"
    else:  # a type not asked for only counts towards the type facet
        grouped, group_by = f"{(1 << len(facet_columns)) - 1} AS grouping", ""
    groups_sql = (f"(SELECT json_agg(g) FROM (SELECT {grouped}, {', '.join(aggregates)} "
                  f"FROM {kind}_candidates{group_by}) g)")
    select = (f"SELECT %s AS type, (SELECT count(*) FROM {kind}_all) > %s AS bounded, "
              f"{hits_sql} AS hits, {groups_sql} AS groups")
    return sql, params, select, [kind, bound, *hits_params, *aggregate_params]


def _labels_sql(user, visible: dict[str, tuple[str, tuple] | None], filters: SearchFilters,
                kinds: list[str]) -> tuple[str, list] | None:
    """The statement's last row: the names of the visible systems and departments that the candidates of
    the requested types refer to (a superset of the facet values; only values the user may see get one).
    ``visible``: the SQL of each searched type's visible rows (``_visible_rows_sql``)."""
    sources: dict[str, list[str]] = {"system": [], "department": []}
    for kind in kinds:
        if kind in filters.types:
            for facet, references in sources.items():
                if facet in _SPEC[kind].facets:
                    references.append(f'SELECT "{_SPEC[kind].facets[facet]}" FROM {kind}_candidates')
    parts, params = [], []
    for facet in ("system", "department"):
        if not sources[facet]:
            continue
        rows = visible[facet] if facet in visible else _visible_rows_sql(facet, user)
        if rows is not None:  # else the user may see none of them: none is named, so none is counted
            visible_sql, visible_params = rows
            parts.append(f"SELECT '{facet}' AS facet, l.id, l.name FROM ({visible_sql}) l "
                         f"WHERE l.id IN ({' UNION ALL '.join(sources[facet])})")
            params += visible_params
    if not parts:
        return None
    return ("SELECT 'labels', FALSE, (SELECT json_agg(json_build_array(x.facet, x.id, x.name)) "
            f"FROM ({' UNION ALL '.join(parts)}) x), NULL::json", params)


def postgresql_statement(user, text: str, filters: SearchFilters, limit: int) -> tuple[str, list] | None:
    """The whole search as one PostgreSQL statement, and its parameters: a row per type that the filters
    allow (whether it was bounded, its best hits and its facet counts, as JSON) and a row of facet labels.
    ``None`` when no type can match. Built on every search from the ORM's SQL of each type's
    ``visible_to(user)``, so it always carries the user's current rules."""
    text = text.strip()
    kinds = [kind for kind in TYPES if _can_match(kind, filters)]
    visible = {kind: _visible_rows_sql(kind, user) for kind in kinds}
    kinds = [kind for kind in kinds if visible[kind] is not None]
    if not kinds:
        return None
    bound = exact_limit()
    ctes, selects, params, select_params = [], [], [], []
    for kind in kinds:
        cte, cte_params, select, part_params = _type_sql(kind, visible[kind], text, filters, limit, bound)
        ctes.append(cte)
        params += cte_params
        selects.append(select)
        select_params += part_params
    labels = _labels_sql(user, visible, filters, kinds)
    if labels is not None:
        selects.append(labels[0])
        select_params += labels[1]
    return "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects), params + select_params


def _answer_postgresql(user, text: str, filters: SearchFilters,
                       limit: int) -> tuple[dict, dict[str, dict[int, str]]]:
    names: dict[str, dict[int, str]] = {"system": {}, "department": {}}
    statement = postgresql_statement(user, text, filters, limit)
    if statement is None:
        return {}, names
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        rows = cursor.fetchall()
    answer = {}
    for kind, bounded, hits, groups in rows:
        if kind == "labels":
            for facet, pk, name in hits or []:
                names[facet][pk] = name
        else:
            answer[kind] = _from_groups(kind, bounded, hits or [], groups or [], filters)
    return answer, names


def _from_groups(kind: str, bounded: bool, hits: list[dict], groups: list[dict], filters: SearchFilters) -> _TypeAnswer:
    spec = _SPEC[kind]
    facets = list(spec.facets)
    typed = _TypeAnswer(bounded=bounded, hits=hits, facet_counts={facet: {} for facet in facets})
    for group in groups:
        grouping = group["grouping"]
        if grouping == (1 << len(facets)) - 1:  # the () set: every match passing every filter
            typed.count = group["n"]
            continue
        # One grouped column per set: its bit (leftmost argument = highest bit) is 0.
        position = next(i for i in range(len(facets)) if not grouping & (1 << (len(facets) - 1 - i)))
        facet = facets[position]
        value, count = group[spec.facets[facet]], group[f"n_{facet}"]
        if value is not None and value != "" and count:
            typed.facet_counts[facet][value] = count
    return typed


# --- SQLite and others: the same answer computed in Python ---------------------------------------


def _answer_fallback(user, text: str, filters: SearchFilters, limit: int) -> dict:
    bound = exact_limit()
    answer = {}
    for kind in (kind for kind in TYPES if _can_match(kind, filters)):
        spec = _SPEC[kind]
        name_match = Q(*(Q(**{f"{name}__icontains": text}) for name in spec.name_fields), _connector=Q.OR)
        whens = [When(name__iexact=text, then=Value(1.0)), When(name__istartswith=text, then=Value(0.8)),
                 When(name__icontains=text, then=Value(0.6))]
        if kind == "dataset":
            whens.append(When(qualified_name__icontains=text, then=Value(0.5)))
        rows = list(
            spec.model.objects.visible_to(user)
            .filter(name_match | Q(description__icontains=text))
            .annotate(rank=Case(*whens, default=Value(0.2), output_field=FloatField()),
                      name_match=Case(When(name_match, then=Value(0)), default=Value(1), output_field=IntegerField()))
            .order_by("name_match", "id")
            .values(*spec.fields, "rank", **{alias: F(path) for alias, path in spec.related.items()})[: bound + 1]
        )
        typed = _TypeAnswer(bounded=len(rows) > bound, facet_counts={facet: {} for facet in spec.facets})
        rows = rows[:bound]
        for row in rows:
            failing = {facet for facet, column in spec.facets.items()
                       if filters.values(facet) and row[column] not in filters.values(facet)}
            if not failing:
                typed.count += 1
                typed.hits.append(row)
            if kind not in filters.types:
                continue
            for facet, column in spec.facets.items():
                value = row[column]
                if value is None or value == "" or failing - {facet}:
                    continue
                typed.facet_counts[facet][value] = typed.facet_counts[facet].get(value, 0) + 1
        typed.hits.sort(key=lambda row: (-row["rank"], row["id"]))
        del typed.hits[limit:]
        answer[kind] = typed
    return answer


# --- The answer ----------------------------------------------------------------------------------


def _facet_lists(answer: dict[str, _TypeAnswer], filters: SearchFilters, user,
                 names: dict[str, dict[int, str]] | None) -> dict:
    """Counts as ordered lists, naming systems and departments (only those the user may see): ``names``
    when the search statement brought them, else looked up here."""
    counts: dict[str, dict] = {facet: {} for facet in FACETS}  # facet → value → [count, exact]
    for kind, typed in answer.items():
        if typed.count:
            counts["type"][kind] = [typed.count, not typed.bounded]
        if kind not in filters.types:
            continue
        for facet, values in typed.facet_counts.items():
            for value, count in values.items():
                entry = counts[facet].setdefault(value, [0, True])
                entry[0] += count
                entry[1] = entry[1] and not typed.bounded
    if names is None:
        names = _labels(user, counts["system"], counts["department"])
    result = {}
    for facet, values in counts.items():
        entries = []
        for value, (count, exact) in values.items():
            entry = {"value": value, "count": count, "count_exact": exact}
            if facet in names:
                if value not in names[facet]:
                    continue  # a hidden system or department is never named, nor counted
                entry["label"] = names[facet][value]
            entries.append(entry)
        entries.sort(key=lambda entry: (-entry["count"], str(entry["value"])))
        result[facet] = entries
    return result


def _labels(user, system_ids, department_ids) -> dict[str, dict[int, str]]:
    """The names of the visible systems and departments among these ids, in one statement."""
    names: dict[str, dict[int, str]] = {"system": {}, "department": {}}
    parts = []
    for facet, model, ids in (("system", System, system_ids), ("department", Department, department_ids)):
        if ids:
            parts.append(model.objects.visible_to(user).filter(pk__in=list(ids)).order_by()
                         .annotate(facet=Value(facet)).values_list("facet", "id", "name"))
    if not parts:
        return names
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    for facet, pk, name in rows:
        names[facet][pk] = name
    return names


def _hit(kind: str, row: dict) -> dict:
    hit = {
        "type": kind,
        "id": row["id"],
        "name": row["name"],
        "title": row["name"],
        "description": (row.get("description") or "")[:280],
        "rank": round(float(row["rank"] or 0), 6),
        "url": f"/api/v1/{kind}s/{row['id']}/",
    }
    if kind == "dataset":
        hit.update(title=row["qualified_name"], kind=row["kind"], classification=row["classification"],
                   system={"id": row["system_id"], "name": row["system_name"]})
    elif kind == "field":
        hit.update(classification=row["classification"], data_type=row["data_type"],
                   dataset={"id": row["dataset_id"], "qualified_name": row["dataset_qualified_name"]},
                   title=f"{row['dataset_qualified_name']}.{row['name']}")
    elif kind == "system":
        hit.update(kind=row["kind"], vendor=row["vendor"])
    return hit
