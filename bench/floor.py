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

def _weighted(*columns: tuple[str, str]) -> str:
    """The weighted document of a table, written exactly as its GIN index expression so the index is used."""
    parts = [f"setweight(to_tsvector('english'::regconfig, COALESCE({column}, '')), '{weight}')"
             for column, weight in columns]
    return " || ".join(parts)


QUERY = "websearch_to_tsquery('english'::regconfig, %(q)s)"

# Per type: FROM clause, document, hit columns, facet columns (facet → SQL expression).
SEARCH_TABLES = {
    "dataset": {
        "from": "catalog_dataset d JOIN catalog_system s ON s.id = d.system_id",
        "count_from": "catalog_dataset d",
        "document": _weighted(("d.name", "A"), ("d.qualified_name", "A"), ("d.description", "B")),
        "columns": "d.id, d.name, d.qualified_name, d.description, d.kind, d.classification, d.system_id, s.name",
        "facets": {"kind": "d.kind", "system": "d.system_id", "department": "d.owner_department_id",
                   "classification": "d.classification"},
    },
    "field": {
        "from": "catalog_field f JOIN catalog_dataset d ON d.id = f.dataset_id",
        "count_from": "catalog_field f",
        "document": _weighted(("f.name", "A"), ("f.description", "B")),
        "columns": "f.id, f.name, f.description, f.classification, f.data_type, f.dataset_id, d.qualified_name",
        "facets": {"system": "d.system_id", "department": "f.owner_department_id",
                   "classification": "f.classification"},
    },
    "system": {
        "from": "catalog_system s",
        "count_from": "catalog_system s",
        "document": _weighted(("s.name", "A"), ("s.vendor", "B"), ("s.description", "B")),
        "columns": "s.id, s.name, s.description, s.kind, s.vendor",
        "facets": {"kind": "s.kind", "system": "s.id", "department": "s.owner_department_id"},
    },
    "department": {
        "from": "catalog_department dep",
        "count_from": "catalog_department dep",
        "document": _weighted(("dep.name", "A"), ("dep.description", "B")),
        "columns": "dep.id, dep.name, dep.description",
        "facets": {"department": "dep.id"},
    },
}


def _hit(kind: str, row: tuple, rank: float) -> dict:
    hit_id, name = row[0], row[1]
    description = row[3] if kind == "dataset" else row[2]
    hit = {
        "type": kind,
        "id": hit_id,
        "name": name,
        "title": name,
        "description": (description or "")[:280],
        "rank": round(float(rank or 0), 6),
        "url": f"/api/v1/{kind}s/{hit_id}/",
    }
    if kind == "dataset":
        _, _, qualified_name, _, dataset_kind, classification, system_id, system_name = row
        hit.update(title=qualified_name, kind=dataset_kind, classification=classification,
                   system={"id": system_id, "name": system_name})
    elif kind == "field":
        _, _, _, classification, data_type, dataset_id, qualified_name = row
        hit.update(classification=classification, data_type=data_type,
                   dataset={"id": dataset_id, "qualified_name": qualified_name}, title=f"{qualified_name}.{name}")
    elif kind == "system":
        hit.update(kind=row[3], vendor=row[4])
    return hit


def search(connection, text: str, limit: int) -> bytes:
    """GET /api/v1/search/?q=…&limit=N with no filters: hits per type, then facet counts, then facet labels."""
    text = text.strip()
    params = {"q": text, "limit": limit}
    hits: list[dict] = []
    counts: dict[str, dict] = {facet: {} for facet in ("type", "kind", "system", "department", "classification")}
    with connection.cursor() as cursor:
        _require_no_active_rules(cursor)
        for kind in SEARCH_TYPES:
            table = SEARCH_TABLES[kind]
            document = table["document"]
            cursor.execute(
                f"SELECT {table['columns']}, ts_rank({document}, {QUERY}) AS rank FROM {table['from']} "
                f"WHERE {document} @@ {QUERY} ORDER BY rank DESC, 1 LIMIT %(limit)s",
                params,
            )
            hits.extend(_hit(kind, row[:-1], row[-1]) for row in cursor.fetchall())
            # The matches grouped by every facet column at once; each facet is summed from the groups.
            facets = list(table["facets"].items())
            group_by = ", ".join(str(i + 1) for i in range(len(facets)))
            cursor.execute(f"SELECT {', '.join(column for _, column in facets)}, count(*) FROM {table['from']} "
                           f"WHERE {document} @@ {QUERY} GROUP BY {group_by}", params)
            for *values, count in cursor.fetchall():
                counts["type"][kind] = counts["type"].get(kind, 0) + count
                for (facet, _), value in zip(facets, values, strict=True):
                    if value is None or value == "":
                        continue
                    counts[facet][value] = counts[facet].get(value, 0) + count
        names = {}
        for facet, table in (("system", "catalog_system"), ("department", "catalog_department")):
            names[facet] = {}
            if counts[facet]:
                cursor.execute(f"SELECT id, name FROM {table} WHERE id = ANY(%s) ORDER BY name", (list(counts[facet]),))
                names[facet] = dict(cursor.fetchall())
    hits.sort(key=lambda hit: (-hit["rank"], SEARCH_TYPES.index(hit["type"]), hit["id"]))
    facets = {}
    for facet, values in counts.items():
        entries = []
        for value, count in values.items():
            if count == 0:
                continue
            entry = {"value": value, "count": count}
            if facet in names:
                if value not in names[facet]:
                    continue
                entry["label"] = names[facet][value]
            entries.append(entry)
        entries.sort(key=lambda entry: (-entry["count"], str(entry["value"])))
        facets[facet] = entries
    return json.dumps({"query": text, "results": hits[:limit], "facets": facets}).encode()
