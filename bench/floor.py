"""The floor: each endpoint's answer built with hand-written SQL, a raw psycopg cursor and ``json.dumps``.

The dataset list and detail issue, for each data statement of the endpoint, the same
statement written by hand (same tables, joins, ordering and sub-selects, such as the
field count) but select only the columns the answer needs, build plain dicts and
encode them. The search runs the product's own statement, as ``catalog.search`` builds
it (``search_statement``, built once before timing), and builds the answer from its
rows. The benchmark checks that the decoded body equals the endpoint's, so the
comparison is like for like.

Visibility: Accord hides rows through opt-out deny rules (``permissions.access``).
The floor's first statement checks that no deny rule is active; the benchmark
catalog has none, so the hand-written statements need no visibility condition and
the answer is the same as the endpoint's (the search's statement carries whatever
condition the ORM compiled for the reader). (A hand-written reader would compile the
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

# Per type, its facets and the column of a hit row that holds each (in the product's order: the GROUPING
# bits of a facet row follow it).
SEARCH_FACETS = {
    "dataset": {"kind": "kind", "system": "system_id", "department": "owner_department_id",
                "classification": "classification"},
    "field": {"system": "dataset_system_id", "department": "owner_department_id", "classification": "classification"},
    "system": {"kind": "kind", "system": "id", "department": "owner_department_id"},
    "department": {"department": "id"},
}


def search_statement(user, text: str, limit: int) -> tuple[str, list]:
    """The product's own statement for ``GET /api/v1/search/?q=…&limit=N`` with no filters, as
    ``catalog.search.postgresql_statement`` builds it for ``user`` (its bound is ``ACCORD_SEARCH_EXACT_LIMIT``).
    Built once, before timing: building it (the ORM compiling each type's visible rows) is the
    application's work, which the floor leaves out."""
    from catalog.search import SearchFilters, postgresql_statement

    statement = postgresql_statement(user, text, SearchFilters(), limit)
    if statement is None:
        raise RuntimeError(f"The search for {text!r} has no statement (the user may see no type).")
    return statement


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


def search(connection, statement: tuple[str, list], text: str, limit: int) -> bytes:
    """GET /api/v1/search/?q=…&limit=N with no filters: the product's statement (``search_statement``), one for
    every type's hits and facet counts over its candidate set and the facet labels, and the answer built
    from its rows."""
    text = text.strip()
    hits: list[dict] = []
    counts: dict[str, dict] = {facet: {} for facet in ("type", "kind", "system", "department", "classification")}
    approximate = False
    with connection.cursor() as cursor:
        _require_no_active_rules(cursor)
        cursor.execute(*statement)
        rows = cursor.fetchall()
    names: dict[str, dict] = {"system": {}, "department": {}}
    for kind, bounded, kind_hits, groups in rows:
        if kind == "labels":
            for facet, value, name in kind_hits or []:
                names[facet][value] = name
            continue
        approximate |= bounded
        hits.extend(_hit(kind, row) for row in kind_hits or [])
        facets = list(SEARCH_FACETS[kind].items())
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
