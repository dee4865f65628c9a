from django.urls import path
from rest_framework.routers import DefaultRouter

from permissions.api import views

router = DefaultRouter()
router.register("tokens", views.ApiTokenViewSet)
router.register("access-rules", views.AccessRuleViewSet)
router.register("access-rule-exceptions", views.AccessRuleExceptionViewSet)
router.register("audit", views.AuditRecordViewSet)

urlpatterns = [path("access/explain/", views.ExplainView.as_view(), name="access-explain"), *router.urls]
