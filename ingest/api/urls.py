from django.urls import path

from ingest.api import openlineage, views
from permissions.api.routers import AccordRouter

router = AccordRouter()
router.register("dbt-projects", views.DbtProjectViewSet)
router.register("ingestion-runs", views.IngestionRunViewSet)
router.register("dbt-nodes", views.DbtNodeViewSet)
router.register("dbt-tests", views.DbtTestViewSet)

urlpatterns = [path("ingest/dbt/", views.DbtIngestView.as_view(), name="ingest-dbt"), *router.urls]
urlpatterns += openlineage.urlpatterns
