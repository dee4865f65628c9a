from django.db import models


class DesignationStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"


class StateScope(models.TextChoices):
    DOMAIN = "domain", "Domain (one department)"
    ENTERPRISE = "enterprise", "Enterprise (every stakeholder department)"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded"


class ContractStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PROPOSED = "proposed", "Proposed (collecting signatures)"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    TERMINATED = "terminated", "Terminated"


class ChangeClass(models.TextChoices):
    INITIAL = "initial", "Initial version"
    BREAKING = "breaking", "Breaking"
    ADDITIVE = "additive", "Additive"
    COSMETIC = "cosmetic", "Cosmetic"
