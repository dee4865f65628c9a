from django.urls import path

from catalog.api import views
from permissions.api.routers import AccordRouter

router = AccordRouter()
router.register("departments", views.DepartmentViewSet)
router.register("department-memberships", views.DepartmentMembershipViewSet)
router.register("tags", views.TagViewSet)
router.register("systems", views.SystemViewSet)
router.register("datasets", views.DatasetViewSet)
router.register("fields", views.FieldViewSet)
router.register("lineage-edges", views.LineageEdgeViewSet)

urlpatterns = [path("search/", views.SearchView.as_view(), name="search"), *router.urls]
