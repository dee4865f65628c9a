"""Data contracts between departments: versioned terms, signed by every party."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.choices import ChangeClass, ContractStatus
from governance.models.base import FrozenContentMixin
from permissions.access import AccessSpec
from permissions.errors import Conflict
from permissions.models import AccordModel

#: Versions whose parties and datasets are agreed or being signed: the contract's own then change
#: only through a new version.
BOUND_STATUSES = (ContractStatus.PROPOSED, ContractStatus.ACTIVE)


class DataContract(AccordModel):
    """What a producer department promises its consumer departments about some datasets."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    producer = models.ForeignKey("catalog.Department", on_delete=models.PROTECT, related_name="produced_contracts")
    consumers = models.ManyToManyField("catalog.Department", related_name="consumed_contracts")
    datasets = models.ManyToManyField("catalog.Dataset", related_name="contracts")
    compliance_status = models.CharField(max_length=16, default="unknown", editable=False,
                                         choices=[("unknown", "Not checked yet"), ("compliant", "Compliant"),
                                                  ("failing", "Failing"), ("error", "Checks could not run")])
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    access = AccessSpec(targetable=False)
    edit_department = "producer"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def parties(self) -> list:
        return [self.producer, *self.consumers.exclude(pk=self.producer_id).order_by("name")]

    def save(self, *args, **kwargs):
        # Backstop for paths other than the API and the admin (contract_services.check_contract_change refuses first).
        stored = self.loaded_values()
        if (self.pk and stored and stored.get("producer_id") != self.producer_id
                and self.versions.filter(status__in=BOUND_STATUSES).exclude(producer_id=self.producer_id).exists()):
            raise Conflict(f"{self} has a proposed or active version: its producer changes only through a new "
                           "version that the parties sign.")
        super().save(*args, **kwargs)

    def active_version(self):
        return self.versions.filter(status=ContractStatus.ACTIVE).first()


class ContractVersion(FrozenContentMixin, AccordModel):
    """One version of a contract's terms.

    draft → proposed → active (every party signed, notice period over) →
    superseded or terminated. ``terms`` is Accord's structured form (see
    governance.terms); ``meta`` and ``residual`` keep what came from an ODCS
    document so that exporting it loses nothing.
    """

    contract = models.ForeignKey(DataContract, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40, help_text="Semantic version, e.g. 1.2.0")
    status = models.CharField(max_length=16, choices=ContractStatus.choices, default=ContractStatus.DRAFT)
    terms = models.JSONField(default=dict)
    meta = models.JSONField(default=dict, blank=True)
    residual = models.JSONField(default=dict, blank=True)
    change_class = models.CharField(max_length=16, choices=ChangeClass.choices, blank=True)
    changes = models.JSONField(default=list, blank=True, help_text="What changed against the previous version.")
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    state_definitions = models.ManyToManyField("governance.StateDefinition", blank=True, related_name="contracts")
    # What the parties sign besides the terms (issue 15): copied from the contract while the version is a
    # draft, fixed once it is proposed, and part of its content hash.
    producer = models.ForeignKey("catalog.Department", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="produced_contract_versions",
                                 help_text="The producing party this version binds.")
    consumers = models.ManyToManyField("catalog.Department", blank=True, related_name="consumed_contract_versions",
                                       help_text="The consuming parties this version binds.")
    datasets = models.ManyToManyField("catalog.Dataset", blank=True, related_name="contract_versions",
                                      help_text="The datasets this version covers.")
    state_definition_versions = models.ManyToManyField(
        "governance.StateDefinitionVersion", blank=True, related_name="pinned_by",
        help_text="The approved versions of the referenced states, pinned when the version is proposed: "
                  "its checks use these, not later approvals.")
    hash_scheme = models.PositiveSmallIntegerField(
        default=2, editable=False,
        help_text="1: hash over terms and state definitions (versions proposed before parties were signed); "
                  "2: also the parties, the datasets and the pinned state-definition versions.")
    proposed_at = models.DateTimeField(null=True, blank=True)
    effective_from = models.DateTimeField(null=True, blank=True,
                                          help_text="Not active before this (end of the notice period).")
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    access = AccessSpec(targetable=False, containers=("contract",))
    audit_parent = "contract"
    edit_container = "contract"
    frozen_fields = ("version", "terms", "meta", "residual", "contract_id", "producer_id", "hash_scheme")
    frozen_statuses = (ContractStatus.PROPOSED, ContractStatus.ACTIVE, ContractStatus.SUPERSEDED,
                       ContractStatus.TERMINATED)

    class Meta:
        ordering = ["contract_id", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "version"], name="contract_version_unique",
                                    violation_error_message="This contract already has this version."),
            models.UniqueConstraint(fields=["contract"], condition=Q(status="active"),
                                    name="one_active_contract_version",
                                    violation_error_message="A contract has at most one active version."),
        ]
        permissions = [("sign_contractversion", "Can sign contracts for departments one leads")]

    def __str__(self) -> str:
        return f"{self.contract} {self.version} ({self.status})" if self.contract_id else self.version

    def parties(self) -> list:
        """Who signs this version: its producer, then its consumers by name."""
        if self.producer_id is None:  # not copied yet (a draft being created)
            return self.contract.parties()
        return [self.producer, *self.consumers.exclude(pk=self.producer_id).order_by("name")]


class ContractSignature(AccordModel):
    """A party's signature over exactly one version's content (by hash)."""

    version = models.ForeignKey(ContractVersion, on_delete=models.CASCADE, related_name="signatures")
    department = models.ForeignKey("catalog.Department", on_delete=models.PROTECT, related_name="+")
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_hash = models.CharField(max_length=64)
    comment = models.TextField(blank=True)

    access = AccessSpec(targetable=False, containers=("version",))
    audit_parent = "version"

    class Meta:
        ordering = ["version_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "department"], name="one_signature_per_party",
                                    violation_error_message="This department has already signed this version."),
        ]

    def __str__(self) -> str:
        return f"{self.department} signed {self.version}"
