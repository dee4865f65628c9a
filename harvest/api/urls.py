from django.urls import path

from harvest.api import views
from permissions.api.routers import AccordRouter

router = AccordRouter()
router.register("harvest-settings", views.HarvestSettingsViewSet)
router.register("harvest-runs", views.HarvestRunViewSet)
router.register("schema-changes", views.SchemaChangeViewSet)
router.register("field-relationships", views.FieldRelationshipViewSet)

urlpatterns = [path("systems/<int:pk>/harvest/", views.SystemHarvestView.as_view(), name="system-harvest"),
               *router.urls]
