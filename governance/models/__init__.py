from governance.models.compliance import (
    CheckResult,
    ComplianceRun,
    ComplianceStatus,
    Delivery,
    EventType,
    Incident,
    NotificationSubscription,
)
from governance.models.contracts import ContractSignature, ContractVersion, DataContract
from governance.models.entities import BusinessEntity, EntityAttribute, SystemOfRecord
from governance.models.scorecard import CouncilMeeting, ScorecardSnapshot
from governance.models.states import (
    StateApproval,
    StateDefinition,
    StateDefinitionVersion,
    StateTransition,
    StateWorkflow,
)

__all__ = [
    "CheckResult", "ComplianceRun", "ComplianceStatus", "Delivery", "EventType", "Incident",
    "NotificationSubscription", "CouncilMeeting", "ScorecardSnapshot",
    "BusinessEntity", "ContractSignature", "ContractVersion", "DataContract", "EntityAttribute", "StateApproval",
    "StateDefinition", "StateDefinitionVersion", "StateTransition", "StateWorkflow", "SystemOfRecord",
]
