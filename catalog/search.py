"""Catalog search: datasets, fields, systems and departments, ranked, with facets.

PostgreSQL: full-text search (``websearch_to_tsquery`` against weighted
``to_tsvector`` documents backed by GIN indexes), ranked by ``ts_rank``.
SQLite and others: a case-insensitive substring match ranked by where the text
matched (exact name, name prefix, name, description).

Every query starts from ``visible_to(user)``, so results and facet counts only
ever count what the user may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Value, When

from catalog.models import Dataset, Department, Field, System
from catalog.models.search import SEARCH_CONFIG, search_vector

TYPES = ("dataset", "field", "system", "department")
FACETS = ("type", "kind", "system", "department", "classification")


@dataclass(frozen=True)
class SearchFilters:
    types: tuple[str, ...] = TYPES
    system_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()
    classifications: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


# Per result type: the model, how it maps onto the facets, and what a hit shows.
_SPEC = {
    "dataset": {
        "model": Dataset,
        "label": "catalog.Dataset",
        "system": "system_id",
        "department": "owner_department_id",
        "classification": "classification",
        "kind": "kind",
        "title": "qualified_name",
        "values": ("id", "name", "qualified_name", "description", "kind", "classification",
                   "system_id", "system__name", "owner_department_id"),
    },
    "field": {
        "model": Field,
        "label": "catalog.Field",
        "system": "dataset__system_id",
        "department": "owner_department_id",
        "classification": "classification",
        "kind": None,
        "title": "name",
        "values": ("id", "name", "description", "classification", "data_type", "dataset_id",
                   "dataset__qualified_name", "dataset__system_id", "owner_department_id"),
    },
    "system": {
        "model": System,
        "label": "catalog.System",
        "system": "id",
        "department": "owner_department_id",
        "classification": None,
        "kind": "kind",
        "title": "name",
        "values": ("id", "name", "description", "kind", "vendor", "owner_department_id"),
    },
    "department": {
        "model": Department,
        "label": "catalog.Department",
        "system": None,
        "department": "id",
        "classification": None,
        "kind": None,
        "title": "name",
        "values": ("id", "name", "description", "slug"),
    },
}


def _uses_fulltext() -> bool:
    return connection.vendor == "postgresql"


def _matching(kind: str, user, text: str) -> QuerySet:
    spec = _SPEC[kind]
    queryset = spec["model"].objects.visible_to(user)
    if _uses_fulltext():
        query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
        vector = search_vector(spec["label"])
        return queryset.annotate(document=vector).filter(document=query).annotate(
            rank=SearchRank(F("document"), query)
        )
    condition = Q(name__icontains=text) | Q(description__icontains=text)
    whens = [
        When(name__iexact=text, then=Value(1.0)),
        When(name__istartswith=text, then=Value(0.8)),
        When(name__icontains=text, then=Value(0.6)),
    ]
    if kind == "dataset":
        condition |= Q(qualified_name__icontains=text)
        whens.append(When(qualified_name__icontains=text, then=Value(0.5)))
    return queryset.filter(condition).annotate(rank=Case(*whens, default=Value(0.2), output_field=FloatField()))


def _apply_filters(kind: str, queryset: QuerySet, filters: SearchFilters, skip: str | None = None) -> QuerySet | None:
    """Narrow by the facet filters (except ``skip``); None when the type cannot match them."""
    spec = _SPEC[kind]
    for facet, values in (
        ("system", filters.system_ids),
        ("department", filters.department_ids),
        ("classification", filters.classifications),
        ("kind", filters.kinds),
    ):
        if not values or facet == skip:
            continue
        if spec[facet] is None:
            return None
        queryset = queryset.filter(**{f"{spec[facet]}__in": values})
    return queryset


def search(user, text: str, filters: SearchFilters, limit: int) -> dict:
    """Ranked hits across the requested types, and facet counts over all matches.

    Facet counts for a facet ignore that facet's own filter (so a user can see
    how many hits each other choice would give) but honour every other filter.
    Per type this is two queries: the hits, and the matches grouped by every facet
    column at once (the counts of each facet are summed from those groups).
    """
    text = text.strip()
    hits: list[dict] = []
    facet_counts: dict[str, dict] = {facet: {} for facet in FACETS}
    for kind in TYPES:
        matching = _matching(kind, user, text)
        narrowed = _apply_filters(kind, matching, filters)
        if kind in filters.types and narrowed is not None:
            spec = _SPEC[kind]
            for row in narrowed.order_by("-rank", "id").values(*spec["values"], "rank")[:limit]:
                hits.append(_hit(kind, row))
        _count_facets(kind, matching, filters, facet_counts)
    hits.sort(key=lambda hit: (-hit["rank"], TYPES.index(hit["type"]), hit["id"]))
    return {"query": text, "results": hits[:limit], "facets": _facet_lists(facet_counts, user)}


_FACET_FILTER = {"system": "system_ids", "department": "department_ids", "classification": "classifications",
                 "kind": "kinds"}


def _count_facets(kind: str, matching: QuerySet, filters: SearchFilters, counts: dict) -> None:
    spec = _SPEC[kind]
    columns = {facet: spec[facet] for facet in ("kind", "system", "department", "classification") if spec[facet]}
    # A filter on a facet this type does not have excludes the whole type.
    for facet, attribute in _FACET_FILTER.items():
        if getattr(filters, attribute) and facet not in columns:
            return
    groups = matching.order_by().values(*dict.fromkeys(columns.values())).annotate(n=Count("pk"))
    for group in groups:
        values = {facet: group[column] for facet, column in columns.items()}
        failing = {facet for facet, value in values.items()
                   if getattr(filters, _FACET_FILTER[facet]) and value not in getattr(filters, _FACET_FILTER[facet])}
        if not failing:
            counts["type"][kind] = counts["type"].get(kind, 0) + group["n"]
        if kind not in filters.types:
            continue
        for facet, value in values.items():
            if value is None or value == "" or failing - {facet}:
                continue
            counts[facet][value] = counts[facet].get(value, 0) + group["n"]


def _facet_lists(counts: dict, user) -> dict:
    """Turn raw counts into ordered lists, naming systems and departments."""
    names = {
        "system": dict(System.objects.visible_to(user).filter(pk__in=counts["system"]).values_list("id", "name")),
        "department": dict(
            Department.objects.visible_to(user).filter(pk__in=counts["department"]).values_list("id", "name")
        ),
    }
    result = {}
    for facet, values in counts.items():
        entries = []
        for value, count in values.items():
            if count == 0:
                continue
            entry = {"value": value, "count": count}
            if facet in names:
                if value not in names[facet]:
                    continue  # a hidden system or department is never named, nor counted
                entry["label"] = names[facet][value]
            entries.append(entry)
        entries.sort(key=lambda entry: (-entry["count"], str(entry["value"])))
        result[facet] = entries
    return result


def _hit(kind: str, row: dict) -> dict:
    hit = {
        "type": kind,
        "id": row["id"],
        "name": row["name"],
        "title": row[_SPEC[kind]["title"]],
        "description": (row.get("description") or "")[:280],
        "rank": round(float(row["rank"] or 0), 6),
        "url": f"/api/v1/{kind}s/{row['id']}/" if kind != "field" else f"/api/v1/fields/{row['id']}/",
    }
    if kind == "dataset":
        hit.update(kind=row["kind"], classification=row["classification"],
                   system={"id": row["system_id"], "name": row["system__name"]})
    elif kind == "field":
        hit.update(classification=row["classification"], data_type=row["data_type"],
                   dataset={"id": row["dataset_id"], "qualified_name": row["dataset__qualified_name"]},
                   title=f"{row['dataset__qualified_name']}.{row['name']}")
    elif kind == "system":
        hit.update(kind=row["kind"], vendor=row["vendor"])
    return hit
