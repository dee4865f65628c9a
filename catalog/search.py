"""Catalog search: datasets, fields, systems and departments, ranked, with facets.

PostgreSQL: full-text search (``websearch_to_tsquery`` against each table's stored
weighted ``search_document`` with its GIN index), ranked by ``ts_rank`` on the stored
vector; the whole answer (every type's hits and facet counts, and the names of the
systems and departments they refer to) is one statement.
SQLite and others: a case-insensitive substring match ranked by where the text
matched (exact name, name prefix, name, description), counted in Python.

Every statement starts from ``visible_to(user)``: the PostgreSQL statement is
composed around the SQL the ORM compiles for each type's ``visible_to(user)``
queryset, so results, counts, facets and labels only ever count what the user may see.
That statement is built once for a set of types, the filters that are set and what the
user may see (``visibility_key`` of every model it reads), and kept: each search fills
in its own text, limit, bound and filter values (``_Slot``).

Bounded work (docs/api.md, "Broad terms"): per type, at most ``ACCORD_SEARCH_EXACT_LIMIT`` (N)
matches are considered. When a type has more, its candidate set is N of them —
the name matches first, then the others by id — and
its counts, facet counts and ranking are computed over that set: counts are then
lower bounds (``count_exact: false``) and the ranking is ``"approximate"``. Only
candidates are ranked and read in full. A related value that a facet needs (a field's
dataset's system) is read with the row, where PostgreSQL keeps it (``stored``);
display-only columns (a dataset's system name) are looked up for the shown hits alone.
A one-word search finds its candidates by walking the word's postings
(``catalog.models.search``, "The posting table") in id order, so finding them costs
the same however many rows contain the word; any other query takes every match from
the GIN index and sorts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When
from django.db.models.expressions import RawSQL

from catalog.models import Dataset, Department, Field, System
from catalog.models.search import (
    DOCUMENT_COLUMN,
    FIELD_SYSTEM_COLUMN,
    POSTING_KINDS,
    POSTING_TABLE,
    SEARCH_CONFIG,
    name_document_sql,
)
from permissions import access
from permissions.kept import Kept

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
    # alias in ``related`` → a column of the type's own table that holds the same value on PostgreSQL
    # (kept by triggers), read with the row instead of being looked up
    stored: dict[str, str] = field(default_factory=dict)


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
                    "classification": "classification"},
                   stored={"dataset_system_id": FIELD_SYSTEM_COLUMN}),
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
    kinds = [kind for kind in TYPES if _can_match(kind, filters)]
    if _uses_fulltext():
        answer, names = _answer_postgresql(user, text, filters, limit, kinds)
    else:
        answer = _answer_fallback(user, text, filters, limit, kinds)
        names = None
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
# A one-word search's statement walks the posting table (``_type_sql``). Whether a text is one word
# is guessed here (letters and digits only) and settled by PostgreSQL: the lexeme is the one among the
# text's words that the query matches, when the query is that one lexeme alone (one node). When it is
# not (``term`` row: true), the search runs again with the statement for any query. An empty query
# (a stop word) has no lexeme and matches nothing either way.
_ONE_WORD = re.compile(r"[^\W_]+")
TERM_SQL = (f"search_term AS MATERIALIZED (SELECT x.q, (SELECT t.lexeme FROM unnest(to_tsvector("
            f"'{SEARCH_CONFIG}'::regconfig, %s)) t WHERE numnode(x.q) = 1 "
            f"AND array_to_tsvector(ARRAY[t.lexeme]) @@ x.q LIMIT 1) AS lexeme FROM (SELECT {QUERY_SQL} AS q) x)")
TERM_SELECT = "SELECT 'term', (SELECT lexeme IS NULL AND numnode(q) > 0 FROM search_term), NULL::json, NULL::json"


_VISIBLE_SQL: Kept[tuple[str, tuple]] = Kept(256)


class _Slot:
    """A parameter of a kept search statement that each search fills in (``_answer_postgresql``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<slot {self.name}>"


TEXT, LIMIT, BOUND, BOUND_PLUS_ONE = (_Slot(name) for name in ("text", "limit", "bound", "bound + 1"))
FILTER_SLOTS = {facet: _Slot(facet) for facet in FILTERED_FACETS}

# Whole search statements, with slots for the search's own values, kept by what shaped them.
_STATEMENTS: Kept[tuple[str, list]] = Kept(256)


def _visible_sql(user, queryset, *columns: str, **expressions) -> tuple[str, tuple]:
    """The SQL (and params) of ``queryset.order_by().values(*columns, **expressions)``, where ``queryset``
    is ``Model.objects.visible_to(user)`` and the expressions depend on the model only.

    Compiling it through the ORM costs more than the rest of a rare-term search's Python
    work, and the result depends only on the model, the columns and the user's compiled
    visibility condition. So it is kept under ``permissions.access.visibility_key`` (which
    names that compiled condition, and changes with the access generation); when the trust
    layer gives no key, it is compiled every time.
    """
    query = queryset.query
    visibility = access.visibility_key(query.model, user)
    key = None
    if visibility is not None and not query.is_empty():
        key = (query.model._meta.label, columns, tuple(expressions), visibility)
    return _VISIBLE_SQL.get(key, lambda: queryset.order_by().values(*columns, **expressions).query.sql_with_params())


def _visible_rows_sql(kind: str, user) -> tuple[str, tuple]:
    """The SQL of the type's visible rows: its own hit and facet columns, the related values it keeps
    (``stored``) and both search documents."""
    spec = _SPEC[kind]
    table = spec.model._meta.db_table
    return _visible_sql(
        user, spec.model.objects.visible_to(user), *spec.fields,
        **{alias: RawSQL(f'"{table}"."{column}"', ()) for alias, column in spec.stored.items()},
        search_document=RawSQL(f'"{table}"."{DOCUMENT_COLUMN}"', ()),
        name_document=RawSQL(name_document_sql(spec.label, table), ()),
    )


def _related_sql(kind: str, row: str, *, for_facets: bool) -> str:
    """The related columns of the row ``row``, each looked up by primary key: those facets and filters
    need, for every candidate (``for_facets``), the others only for the hits shown. A value the row
    keeps itself (``stored``) is read with the row instead."""
    spec = _SPEC[kind]
    parts = []
    for alias, path in spec.related.items():
        if (alias in spec.facets.values()) != for_facets or alias in spec.stored:
            continue
        link, column = path.split("__")
        foreign_key = spec.model._meta.get_field(link)
        target = foreign_key.related_model
        parts.append(f'(SELECT r."{target._meta.get_field(column).column}" FROM "{target._meta.db_table}" r '
                     f'WHERE r."{target._meta.pk.column}" = {row}."{foreign_key.column}") AS "{alias}"')
    return "".join(f", {part}" for part in parts)


def _type_sql(kind: str, user, filters: SearchFilters, walk: bool) -> tuple[str, list, str, list]:
    """One type's part of the statement: its candidate set (CTEs), and a row of its best hits and facet
    counts (JSON). The search's text, limit, bound and filter values are slots (``_Slot``); ``walk``:
    the candidates come from the posting table (a one-word search)."""
    text, limit, bound = TEXT, LIMIT, BOUND
    spec = _SPEC[kind]
    visible_sql, visible_params = _visible_rows_sql(kind, user)
    own = (*spec.fields, *spec.stored)
    columns = ", ".join(f'v."{column}"' for column in own)
    rank = f"ts_rank(v.search_document, {QUERY_SQL}) AS rank"
    conditions = {facet: f'"{spec.facets[facet]}" = ANY(%s)' for facet in FILTERED_FACETS if filters.values(facet)}

    def where(*, skip: str | None = None) -> tuple[str, list]:
        kept = [facet for facet in conditions if facet != skip]
        return " AND ".join(conditions[facet] for facet in kept) or "TRUE", [FILTER_SLOTS[f] for f in kept]

    # The candidate set: every match when there are at most N; otherwise the name matches
    # first, then the other matches by id, N in all. By id, not in whatever order a plan
    # yields them, so the answer never depends on the plan. A one-word search (``walk``)
    # reads the word's postings in id order, each joined to its visible row (a lateral
    # sub-select, so the plan is always this walk), and stops after N + 1: its cost does not
    # depend on how many rows contain the word. Any other search takes every match from the
    # document's GIN index (the name matches from the name index) and sorts them.
    bounded = f"(SELECT count(*) FROM {kind}_all) > %s"
    if walk:
        inner = ", ".join(f'w."{column}"' for column in (*own, DOCUMENT_COLUMN))
        source = (f"FROM {POSTING_TABLE} p CROSS JOIN LATERAL (SELECT {inner} FROM ({visible_sql}) w "
                  f"WHERE w.id = p.object_id OFFSET 0) v "
                  f"WHERE p.kind = {POSTING_KINDS[spec.label]} AND p.lexeme = (SELECT lexeme FROM search_term)")
        every = f"SELECT {columns}, {rank} {source} ORDER BY p.object_id LIMIT %s"
        names = f"SELECT {columns}, {rank} {source} AND p.in_name AND {bounded} ORDER BY p.object_id LIMIT %s"
        params = [text, *visible_params, BOUND_PLUS_ONE, text, *visible_params, bound, bound]
    else:
        source = f"FROM ({visible_sql}) v WHERE v.search_document @@ {QUERY_SQL}"
        every = f"SELECT {columns}, {rank} {source} ORDER BY v.id LIMIT %s"
        names = (f"SELECT {columns}, {rank} {source} AND v.name_document @@ {QUERY_SQL} AND {bounded} "
                 f"ORDER BY v.id LIMIT %s")
        params = [text, *visible_params, text, BOUND_PLUS_ONE, text, *visible_params, text, text, bound, bound]
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


def _labels_sql(user, filters: SearchFilters, kinds: list[str]) -> tuple[str, list] | None:
    """The statement's last row: the names of the visible systems and departments that the candidates of
    the requested types refer to (a superset of the facet values; only values the user may see get one)."""
    sources: dict[str, list[str]] = {"system": [], "department": []}
    for kind in kinds:
        if kind in filters.types:
            for facet, references in sources.items():
                if facet in _SPEC[kind].facets:
                    references.append(f'SELECT "{_SPEC[kind].facets[facet]}" FROM {kind}_candidates')
    parts, params = [], []
    for facet, model in (("system", System), ("department", Department)):
        if sources[facet]:
            visible, visible_params = _visible_sql(user, model.objects.visible_to(user), "id", "name")
            parts.append(f"SELECT '{facet}' AS facet, l.id, l.name FROM ({visible}) l "
                         f"WHERE l.id IN ({' UNION ALL '.join(sources[facet])})")
            params += visible_params
    if not parts:
        return None
    return ("SELECT 'labels', FALSE, (SELECT json_agg(json_build_array(x.facet, x.id, x.name)) "
            f"FROM ({' UNION ALL '.join(parts)}) x), NULL::json", params)


def _answer_postgresql(user, text: str, filters: SearchFilters, limit: int,
                       kinds: list[str]) -> tuple[dict, dict[str, dict[int, str]]]:
    names: dict[str, dict[int, str]] = {"system": {}, "department": {}}
    if not kinds:
        return {}, names
    bound = exact_limit()
    values = {TEXT: text, LIMIT: limit, BOUND: bound, BOUND_PLUS_ONE: bound + 1,
              **{slot: list(filters.values(facet)) for facet, slot in FILTER_SLOTS.items()}}
    walk = bool(_ONE_WORD.fullmatch(text))
    rows = _run(_statement(user, filters, kinds, walk), values)
    if walk and any(kind == "term" and not_one_word for kind, not_one_word, _, _ in rows):
        rows = _run(_statement(user, filters, kinds, False), values)
    answer = {}
    for kind, bounded, hits, groups in rows:
        if kind == "term":
            continue
        if kind == "labels":
            for facet, pk, name in hits or []:
                names[facet][pk] = name
        else:
            answer[kind] = _from_groups(kind, bounded, hits or [], groups or [], filters)
    return answer, names


def _run(statement: tuple[str, list], values: dict) -> list[tuple]:
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, [values[param] if isinstance(param, _Slot) else param for param in params])
        return cursor.fetchall()


def _statement(user, filters: SearchFilters, kinds: list[str], walk: bool) -> tuple[str, list]:
    """The search statement for these types and filters, with slots for the search's own values.

    Building it (the SQL of each type's visible rows, its candidates, hits and facet counts)
    costs about as much as a rare term's search itself, and it depends only on the types, on
    which filters are set and on what the user may see: it is kept under those, with the trust
    layer's ``visibility_key`` for every model it reads (none kept when one is unknown)."""
    models = [_SPEC[kind].model for kind in kinds] + [System, Department]
    visibility = tuple(access.visibility_key(model, user) for model in models)
    key = None
    if None not in visibility:
        key = (tuple(kinds), filters.types, tuple(facet for facet in FILTERED_FACETS if filters.values(facet)),
               walk, visibility)
    return _STATEMENTS.get(key, lambda: _build_statement(user, filters, kinds, walk))


def _build_statement(user, filters: SearchFilters, kinds: list[str], walk: bool) -> tuple[str, list]:
    ctes, selects, params, select_params = [], [], [], []
    if walk:
        ctes.append(TERM_SQL)
        params += [TEXT, TEXT]
    for kind in kinds:
        cte, cte_params, select, part_params = _type_sql(kind, user, filters, walk)
        ctes.append(cte)
        params += cte_params
        selects.append(select)
        select_params += part_params
    labels = _labels_sql(user, filters, kinds)
    if labels is not None:
        selects.append(labels[0])
        select_params += labels[1]
    if walk:
        selects.append(TERM_SELECT)
    return "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects), params + select_params


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


def _answer_fallback(user, text: str, filters: SearchFilters, limit: int, kinds: list[str]) -> dict:
    bound = exact_limit()
    answer = {}
    for kind in kinds:
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
