"""The API's router: DRF's ``DefaultRouter`` whose root view derives from ``RestrictedAPIView``
like every other view under /api/v1/ (it lists the resources, never their rows)."""

from __future__ import annotations

from rest_framework import routers

from permissions.api.viewsets import RestrictedAPIView


class AccordAPIRootView(RestrictedAPIView, routers.APIRootView):
    """The resources of the API, with links to their lists."""


class AccordRouter(routers.DefaultRouter):
    APIRootView = AccordAPIRootView
