from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from permissions.querysets import RestrictedQuerySet


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    APPROVE = "approve", "Approved"
    SIGN = "sign", "Signed"
    RULE_CHANGE = "rule_change", "Access rule changed"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    TOKEN_REJECTED = "token_rejected", "API token rejected"
    LOGIN = "login", "Logged in"
    LOGOUT = "logout", "Logged out"
    LOGIN_FAILED = "login_failed", "Login failed"
    ACCESS_DENIED = "access_denied", "Request denied"
    READ_RESTRICTED = "read_restricted", "Restricted object read"
    PERMISSION_GRANTED = "permission_granted", "Object permission granted"
    PERMISSION_REVOKED = "permission_revoked", "Object permission revoked"
    #: How often a denial or restricted read recurred in its hour after its first record
    #: (``permissions.audit``: repeated events are counted, not chained one by one).
    REPEATED = "repeated", "Repeated events counted"


class AuditRecord(models.Model):
    """One entry of the append-only, hash-chained audit log.

    The database refuses UPDATE and DELETE on this table (and TRUNCATE on
    PostgreSQL); see migration 0002. ``seq`` numbers the chain without gaps and
    ``record_hash`` covers the record's canonical content and ``prev_hash``, so
    ``manage.py verify_audit`` finds any record altered, removed or inserted.
    The actor is kept by id and by name, so the record survives the user's deletion.
    """

    seq = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    # Searched through audit_failures_idx, whose leading column it is.
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_name = models.CharField(max_length=150)
    object_type = models.CharField(max_length=100, blank=True, help_text="app_label.model")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    parent_type = models.CharField(max_length=100, blank=True)
    parent_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: {before, after}}")
    details = models.JSONField(default=dict, blank=True)
    #: The server's id of the request the record was made in (never the caller's choice).
    request_id = models.CharField(max_length=64, blank=True)
    #: The caller's ``X-Request-ID``, when it sent a well-formed one: kept for correlation only.
    client_request_id = models.CharField(max_length=64, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    # Not unique by constraint: it covers ``seq``, which is.
    record_hash = models.CharField(max_length=64)

    # ``visible_to`` like every model the API and the admin read; who may read the log at
    # all is decided by the model's view permission.
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # Partial: records of top-level objects (datasets, rules, logins…) have no parent, and
            # work outside a request (tasks, commands) no request id; nobody searches for "none",
            # so those records add no entry to these two indexes.
            models.Index(fields=["parent_type", "parent_id"], name="audit_parent_idx", condition=~Q(parent_type="")),
            # A plain index: no pattern-ops twin, as ``db_index`` would add on PostgreSQL.
            models.Index(fields=["request_id"], name="audit_request_idx", condition=~Q(request_id="")),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor_name}"


class AuditChainHead(models.Model):
    """The tip of the audit chain (one row, id 1): bookkeeping for appending, not audited.

    An append moves it forward and inserts the record in one statement on PostgreSQL
    (``permissions.audit``); its row lock serialises concurrent appenders. It only caches
    what the last record already says: ``verify_chain`` reads the records, and a head
    row that was tampered with gives the next record a ``prev_hash`` that does not fit.
    """

    id = models.SmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField()
    record_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_one_row")]

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"


class AuditEventWindow(models.Model):
    """An hour in which one actor's denials of, or restricted reads of, one object are counted
    rather than chained one by one (bookkeeping, not audited; ``permissions.audit``).

    The window's first event is an ordinary chained record (``first_seq``); later ones in the
    same window only add to ``count`` here, in place (this table is not the chain). When the
    window has ended, ``audit.close_event_windows`` appends one ``repeated`` record carrying
    the count to the chain and removes the row, so the table only holds open windows.
    """

    #: sha256 of (action, actor, object type, object id or path): one row per key and window.
    event_key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    #: The chained record of the window's first event.
    first_seq = models.BigIntegerField()
    #: Events in the window, the first included.
    count = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["event_key", "window_start"], name="audit_window_one_per_key")]
        indexes = [models.Index(fields=["window_start"], name="audit_window_start_idx")]

    def __str__(self) -> str:
        return (f"{self.action} {self.object_type}:{self.object_id} by {self.actor_name}: "
                f"{self.count} since #{self.first_seq}")


class CheckpointKind(models.TextChoices):
    VERIFIED = "verified", "Verified up to here"
    SIGNED = "signed", "Signed and published"


class AuditCheckpoint(models.Model):
    """A point of the chain (seq and record hash) known to be right at ``created_at``.

    ``verified``: ``verify_chain`` walked the chain to here; the next verification starts here.
    ``signed``: the head, signed with a key kept outside the database (``permissions.checkpoints``)
    and published outside it too (a file, a webhook event); the same line as published is kept
    in ``published``. The application's database role may only add rows (docs/operations.md).
    """

    kind = models.CharField(max_length=16, choices=CheckpointKind.choices)
    seq = models.BigIntegerField()
    record_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    #: For a verified checkpoint: whether that walk started at the genesis.
    full = models.BooleanField(default=False)
    published = models.JSONField(default=dict, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["kind", "seq"], name="audit_checkpoint_kind_seq_idx")]

    def __str__(self) -> str:
        return f"{self.kind} checkpoint #{self.seq} {self.record_hash[:12]}"
