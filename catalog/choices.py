from django.db import models


class DepartmentRole(models.TextChoices):
    MEMBER = "member", "Member"
    STEWARD = "steward", "Steward"
    LEAD = "lead", "Lead"


class SystemKind(models.TextChoices):
    CRM = "crm", "CRM"
    MARKETING_AUTOMATION = "marketing_automation", "Marketing automation"
    SUPPORT = "support", "Customer support"
    BILLING = "billing", "Billing & payments"
    ERP = "erp", "ERP / finance"
    HRIS = "hris", "HR information system"
    WAREHOUSE = "warehouse", "Data warehouse"
    DATABASE = "database", "Operational database"
    FILE_STORE = "file_store", "File store / data lake"
    EVENT_STREAM = "event_stream", "Event stream"
    OTHER = "other", "Other"


class ConnectionEngine(models.TextChoices):
    NONE = "", "No connection"
    POSTGRESQL = "postgresql", "PostgreSQL"
    SQLITE = "sqlite", "SQLite"


class DatasetKind(models.TextChoices):
    TABLE = "table", "Table"
    VIEW = "view", "View"
    OBJECT = "object", "Object (SaaS entity)"
    REPORT = "report", "Report"
    FILE = "file", "File"
    TOPIC = "topic", "Topic / stream"


class Lifecycle(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


class Classification(models.TextChoices):
    """Sensitivity levels, from least to most sensitive (declaration order matters)."""

    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    PII = "pii", "PII (personal data)"
    RESTRICTED = "restricted", "Restricted"

    @classmethod
    def at_or_above(cls, level: str) -> list[str]:
        """The levels as sensitive as ``level`` or more."""
        values = list(cls.values)
        return values[values.index(level):]
