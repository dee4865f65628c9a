"""Each malformed input schemathesis found answers a JSON 4xx saying what was wrong (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.api.world import build_world


@pytest.fixture
def api(db):
    world = build_world()
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {world.council_token}")
    return client


def _json_4xx(response, status=400):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json()["detail"]
    return response.json()


def post(api, url, body):
    return api.post(url, data=body if isinstance(body, str) else json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("path", ["null,null", "0.5", "²", "١", "abc"])
def test_non_numeric_ids_are_json_404s(api, path):
    for url in (f"/api/v1/datasets/{path}/", f"/api/v1/datasets/{path}/history/", f"/api/v1/contracts/{path}/history/"):
        _json_4xx(api.get(url), 404)


def test_any_q_on_state_definitions(api):
    assert api.get("/api/v1/state-definitions/?q=lead").status_code == 200


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00-23:59"])
def test_date_offsets_beyond_15_59(api, value):
    assert "created_after" in _json_4xx(api.get("/api/v1/datasets/", {"created_after": value}))["errors"]


@pytest.mark.parametrize("cursor", ["cD1hYmM=", "bz0tMQ==", "cj14"])
def test_crafted_cursors(api, cursor):
    assert "cursor" in _json_4xx(api.get("/api/v1/datasets/", {"cursor": cursor}))["errors"]


@pytest.mark.parametrize("ordering", ["username", "-department_name"])
def test_ordering_by_a_related_column_with_a_next_page(api, ordering):
    from django.contrib.auth import get_user_model

    from catalog.models import Department, DepartmentMembership

    for department in Department.objects.all()[:3]:
        DepartmentMembership.objects.create(user=get_user_model().objects.first(), department=department)
    first = api.get("/api/v1/department-memberships/", {"ordering": ordering, "page_size": 1}).json()
    assert first["next"]
    assert api.get(first["next"]).status_code == 200


@pytest.mark.parametrize("value", ["²", "١", "0.5", "-1", "99999999999999999999999"])
def test_unicode_digits_and_huge_numbers_as_ids(api, value):
    for url in ("/api/v1/datasets/", "/api/v1/fields/"):
        _json_4xx(api.get(url, {"id": value}))
    _json_4xx(api.get("/api/v1/datasets/", {"system": value}))
    _json_4xx(post(api, "/api/v1/systems/", {"name": "n", "slug": "n", "kind": "crm", "owner_department": value}))


def test_nul_bytes(api):
    assert "q" in _json_4xx(api.get("/api/v1/datasets/", {"q": "a\x00b"}))["errors"]
    _json_4xx(post(api, "/api/v1/tags/", {"name": "x\x00", "slug": "x"}))
    _json_4xx(post(api, "/api/v1/departments/", {"name": "d", "slug": "d\x00"}))
    _json_4xx(api.post("/api/v1/tags/", {"name": "x\x00", "slug": "x"}))  # a form


def test_json_nested_1000_deep(api):
    _json_4xx(post(api, "/api/v1/tags/", "[" * 1000 + "]" * 1000))
    _json_4xx(post(api, "/api/v1/tags/", {"name": "t", "slug": "t", "description": json.loads("[" * 100 + "]" * 100)}))


@pytest.mark.parametrize("resource", ["datasets", "fields", "contracts", "department-memberships"])
def test_browsable_api_forms_with_related_fields(api, resource):
    first = api.get(f"/api/v1/{resource}/").json()["results"][0]
    assert api.get(f"/api/v1/{resource}/{first['id']}/", {"format": "api"}).status_code == 200


def test_an_object_where_an_id_is_expected(api):
    _json_4xx(post(api, "/api/v1/systems/", {"name": "n", "slug": "n", "kind": "crm", "owner_department": {}}))
    rule = {"subject_kind": "everyone", "target_kind": "object", "target_type": {}, "target_id": 1, "reason": "r"}
    assert "target_type" in _json_4xx(post(api, "/api/v1/access-rules/", rule))["errors"]


def test_unknown_keys_in_a_write_are_named(api):
    errors = _json_4xx(post(api, "/api/v1/tags/", {"name": "t", "slug": "t", "classfication": "pii"}))["errors"]
    assert list(errors) == ["classfication"]


def test_unknown_filter_parameters_are_named(api):
    assert "lifecycel" in _json_4xx(api.get("/api/v1/datasets/", {"lifecycel": "active"}))["errors"]


@pytest.mark.parametrize("body", [{"description": 0}, {"parent": []}])
def test_json_of_another_type_is_refused(api, body):
    _json_4xx(post(api, "/api/v1/departments/", {"name": "d", "slug": "d", **body}))


@pytest.mark.parametrize("params", [{"page_size": "0"}, {"page_size": "1001"}, {"page_size": "x"},
                                    {"is_key": "maybe"}])
def test_page_size_and_booleans(api, params):
    _json_4xx(api.get("/api/v1/fields/", params))


def test_the_api_root_lists_every_resource(api):
    root = api.get("/api/v1/").json()
    for resource in ("datasets", "tokens", "audit", "contracts", "deliveries", "search", "access/explain"):
        assert resource in root, sorted(root)
