"""Compliance runs and their results, incidents, and notification subscriptions."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from governance import outbound
from permissions.access import AccessSpec
from permissions.models import AccordModel
from permissions.querysets import RestrictedQuerySet


class RunTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Manual (admin)"
    API = "api", "API"
    COMMAND = "command", "Command"
    SCHEMA_DRIFT = "schema_drift", "Schema change"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying (source unavailable)"
    COMPLETED = "completed", "Completed"


class Outcome(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    ERROR = "error", "Error"


class ComplianceStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    COMPLIANT = "compliant", "Compliant"
    FAILING = "failing", "Failing"
    ERROR = "error", "Checks could not run"


class ComplianceRun(AccordModel):
    """One execution of a contract version's checks. Unique per (version, scheduled
    time), so a redelivered or duplicated task finds its run instead of starting another."""

    contract_version = models.ForeignKey("governance.ContractVersion", on_delete=models.CASCADE,
                                         related_name="runs")
    scheduled_for = models.DateTimeField(help_text="The schedule tick, or the time a run was asked for.")
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="Why the last attempt could not finish (never a secret).")
    summary = models.JSONField(default=dict, blank=True)

    access = AccessSpec(targetable=False, containers=("contract_version",))
    audit_parent = "contract_version"

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["contract_version", "scheduled_for"], name="one_run_per_version_tick",
                                    violation_error_message="This version already has a run for this time."),
        ]
        indexes = [models.Index(fields=["contract_version", "-scheduled_for"], name="run_version_time_idx")]

    def __str__(self) -> str:
        return f"{self.contract_version} @ {self.scheduled_for:%Y-%m-%d %H:%M} ({self.outcome or self.status})"


class CheckResultQuerySet(RestrictedQuerySet):
    def visible_to(self, user, *, inside: tuple[str, ...] = ()) -> CheckResultQuerySet:
        """The results of runs the user sees, on datasets they see (``access``), leaving out
        those about a field of the dataset that is hidden from them (``field`` names it)."""
        from catalog.models import Field
        from permissions.visibility import visibility_filter

        rows = super().visible_to(user, inside=inside)
        field_visible = visibility_filter(Field, user, ("dataset",))  # the dataset is checked above
        if field_visible == Q():
            return rows
        hidden_field = Field.objects.filter(dataset=models.OuterRef("dataset"), name=models.OuterRef("field"))
        return rows.exclude(models.Exists(hidden_field.exclude(field_visible)))


class CheckResult(models.Model):
    """One rule's result in a run: counts and aggregates, never a raw value of a classified field.

    Not audited one by one (a run writes dozens); the run's completion is audited.
    """

    run = models.ForeignKey(ComplianceRun, on_delete=models.CASCADE, related_name="results")
    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=[("metadata", "Metadata"), ("data", "Data"),
                                                    ("state", "State conformance")])
    rule = models.CharField(max_length=40)
    dataset = models.ForeignKey("catalog.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    field = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=8, choices=Outcome.choices)
    observed = models.JSONField(null=True, blank=True)
    threshold = models.CharField(max_length=120, blank=True)
    violations = models.BigIntegerField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)
    message = models.TextField(blank=True)

    objects = CheckResultQuerySet.as_manager()
    access = AccessSpec(targetable=False, containers=("run", "dataset"))

    class Meta:
        ordering = ["run_id", "kind", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="one_result_per_rule_per_run")]

    def __str__(self) -> str:
        return f"{self.key}: {self.status}"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Incident(AccordModel):
    """Opened when a contract goes from compliant to failing; resolved when it passes again or by hand."""

    contract = models.ForeignKey("governance.DataContract", on_delete=models.CASCADE, related_name="incidents")
    opened_by_run = models.ForeignKey(ComplianceRun, on_delete=models.PROTECT, related_name="opened_incidents")
    resolved_by_run = models.ForeignKey(ComplianceRun, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="resolved_incidents")
    title = models.CharField(max_length=300)
    summary = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_incidents")
    ack_due_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    escalation_level = models.PositiveSmallIntegerField(default=0)
    last_escalated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    access = AccessSpec(targetable=False, containers=("contract",))
    audit_parent = "contract"
    edit_container = "contract"

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["contract"], condition=~Q(status="resolved"),
                                    name="one_unresolved_incident_per_contract",
                                    violation_error_message="This contract already has an unresolved incident."),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title} ({self.status})"


class EventType(models.TextChoices):
    CONTRACT_BREACHED = "contract.breached", "Contract breached"
    CONTRACT_RESTORED = "contract.restored", "Contract restored"
    INCIDENT_OPENED = "incident.opened", "Incident opened"
    INCIDENT_ESCALATED = "incident.escalated", "Incident escalated"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    DEFINITION_APPROVED = "definition.approved", "State definition approved"
    DEFINITION_CHANGED_UNDER_CONTRACT = ("definition.changed_under_contract",
                                         "A state definition a contract pinned has a newer approved version")
    SCHEMA_DRIFT = "schema.drift", "Schema drift"
    AUDIT_CHECKPOINT = "audit.checkpoint", "Signed audit checkpoint"


def _new_secret() -> str:
    # Standard Webhooks: "whsec_" followed by the base64 of the key bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class NotificationSubscription(AccordModel):
    """A webhook (Standard Webhooks signatures) or Slack-compatible incoming webhook
    that receives chosen events, filtered by department. Payloads only contain what
    the subscription's owner may see."""

    KIND_CHOICES = [("webhook", "Webhook (Standard Webhooks)"), ("slack", "Slack-compatible incoming webhook")]

    name = models.CharField(max_length=120)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default="webhook")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=_new_secret, editable=False,
                              help_text="Signing secret (webhook kind); shown once when created.")
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to send; empty = all.")
    departments = models.ManyToManyField("catalog.Department", blank=True, related_name="+",
                                         help_text="Only events about contracts these departments are party to; "
                                                   "empty = all.")
    is_active = models.BooleanField(default=True)

    access = AccessSpec(targetable=False)
    private_to = "owner"  # permissions.visibility: the owner's (and superusers') only
    audit_ignore = ("created_at", "updated_at", "secret")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A new or changed URL must not point at an address deliveries may not go to (governance.outbound);
        an unchanged one is not looked up again, so a subscription can always be switched off."""
        super().clean()
        if not self.url:
            return
        if not self._state.adding and type(self)._base_manager.filter(pk=self.pk, url=self.url).exists():
            return
        try:
            outbound.validate_webhook_url(self.url)
        except ValidationError as exc:
            raise ValidationError({"url": exc.messages}) from exc


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"


class Delivery(models.Model):
    """One event for one subscription: attempted until delivered or the retry period ends.
    ``event_id`` is stable across attempts so receivers can de-duplicate."""

    subscription = models.ForeignKey(NotificationSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    private_to = "subscription__owner"  # permissions.visibility: its subscription's owner's only

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["subscription", "event_id"], name="one_delivery_per_event")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.subscription} ({self.status})"
