"""An unknown ``?format=`` is a 400 naming the formats the endpoint answers in, on lists, details
and the views that are not one model's (DRF alone answers 404, as if the object were missing)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.mixins import make_user


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/scorecard/", "/api/v1/datasets/", "/api/v1/datasets/{id}/",
                                  "/api/v1/datasets/{id}/lineage-graph/", "/api/v1/search/?q=x"])
def test_an_unknown_format_is_a_400_naming_it(path):
    dataset = factories.dataset()
    client = APIClient()
    client.force_authenticate(make_user(f"reader-{factories.n()}"))
    url = path.format(id=dataset.pk)
    response = client.get(url + ("&" if "?" in url else "?") + "format=-58800")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    message = response.json()["errors"]["format"][0] if "errors" in response.json() else response.json()["format"][0]
    assert "Unknown format '-58800'" in message and "json" in message
    assert client.get(url).status_code == 200
