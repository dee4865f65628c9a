from permissions.models.access import AccessRule, AccessRuleException, SubjectKind, TargetKind
from permissions.models.audit import (
    AuditAction,
    AuditChainHead,
    AuditCheckpoint,
    AuditEventWindow,
    AuditRecord,
    CheckpointKind,
)
from permissions.models.base import AccordModel
from permissions.models.tokens import ApiToken

__all__ = [
    "AccessRule", "AccessRuleException", "AccordModel", "ApiToken", "AuditAction", "AuditChainHead", "AuditCheckpoint",
    "AuditEventWindow", "AuditRecord", "CheckpointKind",
    "SubjectKind", "TargetKind",
]
