from django.urls import path

from permissions.api import views
from permissions.api.routers import AccordRouter

router = AccordRouter()
router.register("tokens", views.ApiTokenViewSet)
router.register("access-rules", views.AccessRuleViewSet)
router.register("access-rule-exceptions", views.AccessRuleExceptionViewSet)
router.register("audit", views.AuditRecordViewSet)

urlpatterns = [path("access/explain/", views.ExplainView.as_view(), name="access-explain"), *router.urls]
