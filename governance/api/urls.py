
from django.urls import path

from governance.api import scorecard, views
from permissions.api.routers import AccordRouter

router = AccordRouter()
router.register("business-entities", views.BusinessEntityViewSet)
router.register("entity-attributes", views.EntityAttributeViewSet)
router.register("systems-of-record", views.SystemOfRecordViewSet)
router.register("state-workflows", views.StateWorkflowViewSet)
router.register("state-definitions", views.StateDefinitionViewSet)
router.register("state-transitions", views.StateTransitionViewSet)
router.register("state-definition-versions", views.StateDefinitionVersionViewSet)
router.register("contracts", views.DataContractViewSet)
router.register("contract-versions", views.ContractVersionViewSet)
router.register("compliance-runs", views.ComplianceRunViewSet)
router.register("incidents", views.IncidentViewSet)
router.register("subscriptions", views.SubscriptionViewSet)
router.register("deliveries", views.DeliveryViewSet)
router.register("scorecard-snapshots", scorecard.ScorecardSnapshotViewSet)
router.register("council-meetings", scorecard.CouncilMeetingViewSet)

urlpatterns = [
    path("scorecard/", scorecard.ScorecardView.as_view(), name="scorecard"),
    path("scorecard/departments/<slug:slug>/", scorecard.ScorecardDepartmentView.as_view(),
         name="scorecard-department"),
    *router.urls,
]
