from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

admin.site.site_header = "Accord — data governance registry"
admin.site.site_title = "Accord"
admin.site.index_title = "Catalog and governance"
handler404 = "permissions.api.errors.page_not_found"  # JSON under /api/

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("permissions.urls_self")),  # sign-in and "Your account" for every user
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include("catalog.api.urls")),
    path("api/v1/", include("permissions.api.urls")),
    path("api/v1/", include("governance.api.urls")),
    path("api/v1/", include("harvest.api.urls")),
    path("api/v1/", include("ingest.api.urls")),
]
