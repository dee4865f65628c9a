"""The floor: each endpoint's answer built with hand-written SQL, a raw psycopg cursor and ``json.dumps``.

Every function here issues, for each data statement of the endpoint, the same
statement written by hand (same tables, joins, ordering and sub-selects: the field
count, the search's hits, counts and facet queries) but selects only the columns the
answer needs, builds plain dicts and encodes them. The benchmark checks that the
decoded body equals the endpoint's, so the comparison is like for like.

Visibility: Accord hides rows through opt-out deny rules (``permissions.access``).
The floor's first statement checks that no deny rule is active; the benchmark
catalog has none, so the floor's data statements need no visibility condition and
the answer is the same as the endpoint's. (A hand-written reader would compile the
few rules that apply to the user into these statements; the floor refuses to run
when there are any, rather than silently answering differently.)

Not part of the floor: the session and user look-ups that authenticate the request,
the URL routing, DRF's permission checks and the test client. Those are the
per-request overhead the ratio is meant to show.
"""

from __future__ import annotations

import json
import re
from base64 import b64encode
from datetime import datetime
from urllib.parse import urlencode

SEARCH_TYPES = ("dataset", "field", "system", "department")


def iso(value: datetime | None) -> str | None:
    """A timestamp as DRF writes it (ISO 8601, UTC as ``Z``)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


ACTIVE_RULES_SQL = "SELECT count(*) FROM permissions_accessrule WHERE expires_at IS NULL OR expires_at > now()"


def _require_no_active_rules(cursor) -> None:
    cursor.execute(ACTIVE_RULES_SQL)
    if cursor.fetchone()[0]:
        raise RuntimeError("The floor applies no deny rules, and this catalog has active ones.")


def _brief_user(user_id, username, first_name, last_name) -> dict | None:
    if user_id is None:
        return None
    full_name = f"{first_name} {last_name}".strip()
    return {"id": user_id, "username": username, "display_name": full_name or username}


def _brief_department(department_id, name, slug) -> dict | None:
    if department_id is None:
        return None
    return {"id": department_id, "name": name, "slug": slug}


# ---------------------------------------------------------------------------------------------------------------
# Datasets: list and detail

DATASET_SQL = """
SELECT d.id, d.qualified_name, d.name, d.kind, d.description, d.lifecycle, d.classification,
       d.key_fields, d.sort_order, d.row_count, d.size_bytes, d.source_created_at, d.published_at,
       d.source_modified_at, d.archived_at, d.created_at, d.updated_at,
       (SELECT count(*) FROM catalog_field f WHERE f.dataset_id = d.id) AS field_count,
       s.id, s.name, s.slug, s.kind,
       dep.id, dep.name, dep.slug,
       u.id, u.username, u.first_name, u.last_name
FROM catalog_dataset d
JOIN catalog_system s ON s.id = d.system_id
LEFT JOIN catalog_department dep ON dep.id = d.owner_department_id
LEFT JOIN auth_user u ON u.id = d.steward_id
"""

DATASET_TAGS_SQL = """
SELECT dt.dataset_id, t.id, t.name, t.slug
FROM catalog_tag t JOIN catalog_dataset_tags dt ON dt.tag_id = t.id
WHERE dt.dataset_id = ANY(%s)
ORDER BY t.name
"""

FIELDS_SQL = """
SELECT f.id, f.name, f.data_type, f.nullable, f.is_key, f.position, f.description, f.classification,
       f.created_at, f.updated_at,
       u.id, u.username, u.first_name, u.last_name,
       dep.id, dep.name, dep.slug
FROM catalog_field f
LEFT JOIN auth_user u ON u.id = f.owner_id
LEFT JOIN catalog_department dep ON dep.id = f.owner_department_id
WHERE f.dataset_id = %s
ORDER BY f.position, f.name
"""

FIELD_TAGS_SQL = """
SELECT ft.field_id, t.id, t.name, t.slug
FROM catalog_tag t JOIN catalog_field_tags ft ON ft.tag_id = t.id
WHERE ft.field_id = ANY(%s)
ORDER BY t.name
"""


def _tags_by_owner(rows) -> dict[int, list[dict]]:
    tags: dict[int, list[dict]] = {}
    for owner_id, tag_id, name, slug in rows:
        tags.setdefault(owner_id, []).append({"id": tag_id, "name": name, "slug": slug})
    return tags


def _dataset(row, tags: list[dict]) -> dict:
    (dataset_id, qualified_name, name, kind, description, lifecycle, classification, key_fields, sort_order,
     row_count, size_bytes, source_created_at, published_at, source_modified_at, archived_at, created_at,
     updated_at, field_count, system_id, system_name, system_slug, system_kind, department_id, department_name,
     department_slug, steward_id, steward_username, steward_first, steward_last) = row
    return {
        "id": dataset_id,
        "system": {"id": system_id, "name": system_name, "slug": system_slug, "kind": system_kind},
        "qualified_name": qualified_name,
        "name": name,
        "kind": kind,
        "description": description,
        "owner_department": _brief_department(department_id, department_name, department_slug),
        "steward": _brief_user(steward_id, steward_username, steward_first, steward_last),
        "lifecycle": lifecycle,
        "classification": classification,
        "tags": tags,
        "key_fields": key_fields,
        "sort_order": sort_order,
        "row_count": row_count,
        "size_bytes": size_bytes,
        "source_created_at": iso(source_created_at),
        "published_at": iso(published_at),
        "source_modified_at": iso(source_modified_at),
        "archived_at": iso(archived_at),
        "field_count": field_count,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
    }


def dataset_list(connection, page_size: int, base_url: str) -> bytes:
    """GET /api/v1/datasets/?page_size=N: the first page, ordered by id, with the next-page cursor."""
    with connection.cursor() as cursor:
        _require_no_active_rules(cursor)
        cursor.execute(DATASET_SQL + " ORDER BY d.id LIMIT %s", (page_size + 1,))
        rows = cursor.fetchall()
        has_next = len(rows) > page_size
        rows = rows[:page_size]
        cursor.execute(DATASET_TAGS_SQL, ([row[0] for row in rows],))
        tags = _tags_by_owner(cursor.fetchall())
    results = [_dataset(row, tags.get(row[0], [])) for row in rows]
    next_url = None
    if has_next:
        cursor_token = b64encode(urlencode({"p": str(rows[-1][0])}).encode("ascii")).decode("ascii")
        next_url = f"{base_url}?{urlencode({'cursor': cursor_token, 'page_size': page_size})}"
    return json.dumps({"next": next_url, "previous": None, "results": results}).encode()


def dataset_detail(connection, dataset_id: int) -> bytes:
    """GET /api/v1/datasets/{id}/: the dataset, its tags, its fields with owners and their tags."""
    with connection.cursor() as cursor:
        _require_no_active_rules(cursor)
        cursor.execute(DATASET_SQL + " WHERE d.id = %s", (dataset_id,))
        row = cursor.fetchone()
        cursor.execute(DATASET_TAGS_SQL, ([dataset_id],))
        dataset_tags = _tags_by_owner(cursor.fetchall())
        cursor.execute(FIELDS_SQL, (dataset_id,))
        field_rows = cursor.fetchall()
        cursor.execute(FIELD_TAGS_SQL, ([field[0] for field in field_rows],))
        field_tags = _tags_by_owner(cursor.fetchall())
    body = _dataset(row, dataset_tags.get(dataset_id, []))
    body["fields"] = [
        {
            "id": field_id,
            "name": name,
            "data_type": data_type,
            "nullable": nullable,
            "is_key": is_key,
            "position": position,
            "description": description,
            "classification": classification,
            "owner": _brief_user(owner_id, username, first_name, last_name),
            "owner_department": _brief_department(department_id, department_name, department_slug),
            "tags": field_tags.get(field_id, []),
            "created_at": iso(created_at),
            "updated_at": iso(updated_at),
        }
        for (field_id, name, data_type, nullable, is_key, position, description, classification, created_at,
             updated_at, owner_id, username, first_name, last_name, department_id, department_name,
             department_slug) in field_rows
    ]
    return json.dumps(body).encode()


# ---------------------------------------------------------------------------------------------------------------
# Search

QUERY = "websearch_to_tsquery('english'::regconfig, %(q)s)"


def _name_document(alias: str, *columns: str) -> str:
    """The name index's expression (catalog/migrations/0004_search_document.py), so the index is used."""
    return " || ".join(f"to_tsvector('english'::regconfig, COALESCE({alias}.\"{column}\", ''))" for column in columns)


# Per type: table, name document, own hit columns (named as the endpoint's), the related columns looked up
# by primary key for every candidate (a facet needs them) and for the hits only, facet columns (facet → column).
SEARCH_TABLES = {
    "dataset": {
        "from": "catalog_dataset t",
        "posting_kind": 1,
        "names": _name_document("t", "name", "qualified_name"),
        "columns": "t.id, t.name, t.qualified_name, t.description, t.kind, t.classification, t.system_id, "
                   "t.owner_department_id",
        "related": "",
        "hit_related": ", (SELECT r.name FROM catalog_system r WHERE r.id = b.system_id) AS system_name",
        "facets": {"kind": "kind", "system": "system_id", "department": "owner_department_id",
                   "classification": "classification"},
    },
    "field": {
        "from": "catalog_field t",
        "posting_kind": 2,
        "names": _name_document("t", "name"),
        # The dataset's system, kept on the field by triggers (catalog.models.search, "A field's system").
        "columns": "t.id, t.name, t.description, t.classification, t.data_type, t.dataset_id, t.owner_department_id, "
                   "t.search_system_id AS dataset_system_id",
        "related": "",
        "hit_related": ", (SELECT r.qualified_name FROM catalog_dataset r WHERE r.id = b.dataset_id) "
                       "AS dataset_qualified_name",
        "facets": {"system": "dataset_system_id", "department": "owner_department_id",
                   "classification": "classification"},
    },
    "system": {
        "from": "catalog_system t",
        "posting_kind": 3,
        "names": _name_document("t", "name"),
        "columns": "t.id, t.name, t.description, t.kind, t.vendor, t.owner_department_id",
        "related": "",
        "hit_related": "",
        "facets": {"kind": "kind", "system": "id", "department": "owner_department_id"},
    },
    "department": {
        "from": "catalog_department t",
        "posting_kind": 4,
        "names": _name_document("t", "name"),
        "columns": "t.id, t.name, t.description, t.slug",
        "related": "",
        "hit_related": "",
        "facets": {"department": "id"},
    },
}


def _search_part(kind: str, walk: bool) -> tuple[str, str]:
    """One type's candidate set (at most N matches, name matches first when there are more, with their
    related columns) and its row: whether it was bounded, the best hits and the facet counts, as JSON.
    ``walk``: a one-word query, whose matches are read from the posting table in id order."""
    table = SEARCH_TABLES[kind]
    rank = f"ts_rank(t.search_document, {QUERY}) AS rank"
    bounded = f"(SELECT count(*) FROM {kind}_all) > %(bound)s"
    if walk:
        source = (f"FROM catalog_search_posting p CROSS JOIN LATERAL (SELECT * FROM {table['from']} "
                  f"WHERE t.id = p.object_id OFFSET 0) t "
                  f"WHERE p.kind = {table['posting_kind']} AND p.lexeme = (SELECT lexeme FROM search_term)")
        every = f"SELECT {table['columns']}, {rank} {source} ORDER BY p.object_id LIMIT %(bound)s + 1"
        names = (f"SELECT {table['columns']}, {rank} {source} AND p.in_name AND {bounded} "
                 "ORDER BY p.object_id LIMIT %(bound)s")
    else:
        source = f"FROM {table['from']} WHERE t.search_document @@ {QUERY}"
        every = f"SELECT {table['columns']}, {rank} {source} ORDER BY t.id LIMIT %(bound)s + 1"
        names = (f"SELECT {table['columns']}, {rank} {source} AND {table['names']} @@ {QUERY} AND {bounded} "
                 f"ORDER BY t.id LIMIT %(bound)s")
    ctes = (
        f"{kind}_all AS MATERIALIZED ({every}), {kind}_names AS MATERIALIZED ({names}), "
        f"{kind}_candidates AS MATERIALIZED (SELECT u.*{table['related']} FROM "
        f"(SELECT * FROM {kind}_names UNION ALL "
        f"(SELECT * FROM {kind}_all WHERE id NOT IN (SELECT id FROM {kind}_names) "
        f"ORDER BY id LIMIT %(bound)s - (SELECT count(*) FROM {kind}_names))) u)"
    )
    columns = ", ".join(f'"{column}"' for column in table["facets"].values())
    sets = ", ".join(["()", *(f'("{column}")' for column in table["facets"].values())])
    counts = ", ".join(["count(*) AS n", *(f"count(*) AS n_{facet}" for facet in table["facets"])])
    select = (
        f"SELECT '{kind}', (SELECT count(*) FROM {kind}_all) > %(bound)s, "
        f"(SELECT json_agg(h ORDER BY h.rank DESC, h.id) FROM (SELECT b.*{table['hit_related']} FROM "
        f"(SELECT * FROM {kind}_candidates ORDER BY rank DESC, id LIMIT %(limit)s) b) h), "
        f"(SELECT json_agg(g) FROM (SELECT GROUPING({columns}) AS grouping, {columns}, {counts} "
        f"FROM {kind}_candidates GROUP BY GROUPING SETS ({sets})) g)"
    )
    return ctes, select


def _label_sources(facet: str) -> str:
    return " UNION ALL ".join(f'SELECT "{table["facets"][facet]}" FROM {kind}_candidates'
                              for kind, table in SEARCH_TABLES.items() if facet in table["facets"])


# The last row names the systems and departments the candidates refer to.
LABELS_SELECT = (
    "SELECT 'labels', FALSE, (SELECT json_agg(json_build_array(x.facet, x.id, x.name)) FROM ("
    f"SELECT 'system' AS facet, l.id, l.name FROM catalog_system l WHERE l.id IN ({_label_sources('system')}) "
    "UNION ALL "
    f"SELECT 'department', l.id, l.name FROM catalog_department l WHERE l.id IN ({_label_sources('department')})"
    ") x), NULL::json"
)

# A one-word query (letters and digits) takes its candidates from the posting table, with its lexeme from
# the first CTE; a last row says when the query was not one lexeme after all, and the search runs again
# with the statement for any query (which takes every match from the GIN index).
ONE_WORD = re.compile(r"[^\W_]+")
TERM_CTE = ("search_term AS MATERIALIZED (SELECT x.q, (SELECT t.lexeme FROM unnest(to_tsvector('english'::regconfig, "
            "%(q)s)) t WHERE numnode(x.q) = 1 AND array_to_tsvector(ARRAY[t.lexeme]) @@ x.q LIMIT 1) AS lexeme "
            f"FROM (SELECT {QUERY} AS q) x)")
TERM_SELECT = "SELECT 'term', (SELECT lexeme IS NULL AND numnode(q) > 0 FROM search_term), NULL::json, NULL::json"


def _search_sql(walk: bool) -> str:
    ctes, selects = zip(*(_search_part(kind, walk) for kind in SEARCH_TYPES), strict=True)
    if walk:
        return f"WITH {', '.join([TERM_CTE, *ctes])} {' UNION ALL '.join([*selects, LABELS_SELECT, TERM_SELECT])}"
    return f"WITH {', '.join(ctes)} {' UNION ALL '.join([*selects, LABELS_SELECT])}"


SEARCH_SQL = {walk: _search_sql(walk) for walk in (True, False)}


def _hit(kind: str, row: dict) -> dict:
    hit = {
        "type": kind,
        "id": row["id"],
        "name": row["name"],
        "title": row["name"],
        "description": (row["description"] or "")[:280],
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


def search(connection, text: str, limit: int, bound: int | None = None) -> bytes:
    """GET /api/v1/search/?q=…&limit=N with no filters: one statement for every type's hits and facet counts
    over its candidate set (at most ``bound`` matches, ``ACCORD_SEARCH_EXACT_LIMIT``), and the facet labels."""
    if bound is None:
        from django.conf import settings

        bound = settings.ACCORD_SEARCH_EXACT_LIMIT
    text = text.strip()
    hits: list[dict] = []
    counts: dict[str, dict] = {facet: {} for facet in ("type", "kind", "system", "department", "classification")}
    approximate = False
    with connection.cursor() as cursor:
        _require_no_active_rules(cursor)
        walk = bool(ONE_WORD.fullmatch(text))
        cursor.execute(SEARCH_SQL[walk], {"q": text, "limit": limit, "bound": bound})
        rows = cursor.fetchall()
        if walk and any(kind == "term" and not_one_word for kind, not_one_word, _, _ in rows):
            cursor.execute(SEARCH_SQL[False], {"q": text, "limit": limit, "bound": bound})
            rows = cursor.fetchall()
    names: dict[str, dict] = {"system": {}, "department": {}}
    for kind, bounded, kind_hits, groups in rows:
        if kind == "term":
            continue
        if kind == "labels":
            for facet, value, name in kind_hits or []:
                names[facet][value] = name
            continue
        approximate |= bounded
        hits.extend(_hit(kind, row) for row in kind_hits or [])
        facets = list(SEARCH_TABLES[kind]["facets"].items())
        for group in groups or []:
            if group["grouping"] == (1 << len(facets)) - 1:
                if group["n"]:
                    counts["type"][kind] = [group["n"], not bounded]
                continue
            position = next(i for i in range(len(facets)) if not group["grouping"] & (1 << (len(facets) - 1 - i)))
            facet, column = facets[position]
            value = group[column]
            if value is None or value == "":
                continue
            entry = counts[facet].setdefault(value, [0, True])
            entry[0] += group[f"n_{facet}"]
            entry[1] = entry[1] and not bounded
    hits.sort(key=lambda hit: (-hit["rank"], SEARCH_TYPES.index(hit["type"]), hit["id"]))
    facets = {}
    for facet, values in counts.items():
        entries = []
        for value, (count, exact) in values.items():
            entry = {"value": value, "count": count, "count_exact": exact}
            if facet in names:
                if value not in names[facet]:
                    continue
                entry["label"] = names[facet][value]
            entries.append(entry)
        entries.sort(key=lambda entry: (-entry["count"], str(entry["value"])))
        facets[facet] = entries
    return json.dumps({"query": text, "results": hits[:limit], "ranking": "approximate" if approximate else "exact",
                       "facets": facets}).encode()
