"""The API's router: DRF's ``DefaultRouter`` whose root view derives from ``RestrictedAPIView``
like every other view under /api/v1/ (it lists the resources, never their rows).

Each app registers its viewsets on its own ``AccordRouter``; the root answered at /api/v1/
lists the resources of all of them and the API views that are not a viewset (search,
explain).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.exceptions import NoReverseMatch
from rest_framework import routers
from rest_framework.response import Response
from rest_framework.reverse import reverse

from permissions.api.viewsets import RestrictedAPIView

_ROUTERS: list[AccordRouter] = []


class AccordAPIRootView(RestrictedAPIView, routers.APIRootView):
    """The resources of the API, with links to their lists."""

    def get(self, request, *args, **kwargs):
        links = {}
        for router in _ROUTERS:
            for prefix, _viewset, basename in router.registry:
                links[prefix] = f"{basename}-list"
        links.update(_api_views())
        answer = {}
        for key, url_name in sorted(links.items()):
            try:
                answer[key] = reverse(url_name, request=request, format=kwargs.get("format"))
            except NoReverseMatch:  # a router not included in the URLs
                continue
        return Response(answer)


def _api_views() -> dict[str, str]:
    """The routed views that are neither a viewset nor the root, by path: ``{"search": "search"}``."""
    found = {}

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name:
                view_class = getattr(pattern.callback, "view_class", None)
                if (view_class is not None and issubclass(view_class, RestrictedAPIView)
                        and not issubclass(view_class, routers.APIRootView)
                        and not hasattr(pattern.callback, "actions")):
                    route = (prefix + str(pattern.pattern)).removeprefix("api/v1/").strip("/^$")
                    found[route] = pattern.name

    walk(get_resolver().url_patterns, "")
    return found


class AccordRouter(routers.DefaultRouter):
    APIRootView = AccordAPIRootView

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _ROUTERS.append(self)
