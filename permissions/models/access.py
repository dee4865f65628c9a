from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from permissions.models.base import AccordModel


class SubjectKind(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    DEPARTMENT = "department", "A department (and its sub-departments)"
    GROUP = "group", "A group"
    USER = "user", "A user"


class TargetKind(models.TextChoices):
    OBJECT = "object", "An object (and everything in it)"
    CLASSIFICATION = "classification", "A classification level and above"
    TAG = "tag", "Objects with a tag"


def classification_levels() -> list[str]:
    return list(settings.ACCORD_CLASSIFICATION_LEVELS)


def _subject_fields_consistent(prefix: str = "subject") -> Q:
    dept, group, user = f"{prefix}_department", f"{prefix}_group", f"{prefix}_user"
    kind = f"{prefix}_kind"
    return (
        Q(**{kind: SubjectKind.EVERYONE, f"{dept}__isnull": True, f"{group}__isnull": True, f"{user}__isnull": True})
        | Q(**{kind: SubjectKind.DEPARTMENT, f"{dept}__isnull": False, f"{group}__isnull": True,
               f"{user}__isnull": True})
        | Q(**{kind: SubjectKind.GROUP, f"{dept}__isnull": True, f"{group}__isnull": False, f"{user}__isnull": True})
        | Q(**{kind: SubjectKind.USER, f"{dept}__isnull": True, f"{group}__isnull": True, f"{user}__isnull": False})
    )


class SubjectMixin(models.Model):
    """Who a rule or an exception is about."""

    subject_kind = models.CharField(max_length=16, choices=SubjectKind.choices)
    subject_department = models.ForeignKey(
        settings.ACCORD_DEPARTMENT_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True

    def subject_label(self) -> str:
        if self.subject_kind == SubjectKind.EVERYONE:
            return "everyone"
        subject = self.subject_department or self.subject_group or self.subject_user
        return f"{self.subject_kind} {subject}"


class AccessRuleQuerySet(models.QuerySet):
    def active(self, at=None) -> AccessRuleQuerySet:
        at = at or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))

    def visible_to(self, user) -> AccessRuleQuerySet:
        # Rules are not hidden by rules; who may read them is decided by model permissions.
        return self if user is not None and user.is_authenticated and user.is_active else self.none()


class AccessRule(SubjectMixin, AccordModel):
    """A deny rule: opts its subjects out of viewing its targets.

    A user can view an object iff no active rule that applies to them (subject
    matches and no exception re-admits them) targets the object — directly, through
    an object containing it, through its classification (this level and above), or
    through one of its tags. See docs/permissions.md for the precedence.
    """

    target_kind = models.CharField(max_length=16, choices=TargetKind.choices)
    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="The kind of object targeted (dataset, field, system…).",
    )
    target_id = models.BigIntegerField(null=True, blank=True)
    classification = models.CharField(max_length=32, blank=True, help_text="Hide this level and above.")
    classification_rank = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    target_tag = models.ForeignKey(
        settings.ACCORD_TAG_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.TextField(help_text="Why these subjects may not see these targets (required).")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AccessRuleQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=_subject_fields_consistent(),
                name="accessrule_subject_consistent",
                violation_error_message="Name exactly the subject the kind asks for (none for everyone).",
            ),
            models.CheckConstraint(
                condition=Q(target_kind=TargetKind.OBJECT, target_type__isnull=False, target_id__isnull=False,
                            classification="", target_tag__isnull=True)
                | Q(target_kind=TargetKind.CLASSIFICATION, target_type__isnull=True, target_id__isnull=True,
                    classification_rank__isnull=False, target_tag__isnull=True)
                | Q(target_kind=TargetKind.TAG, target_type__isnull=True, target_id__isnull=True, classification="",
                    target_tag__isnull=False),
                name="accessrule_target_consistent",
                violation_error_message="Name exactly the target the kind asks for (an object, a level or a tag).",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""), name="accessrule_reason_required",
                violation_error_message="A deny rule needs a reason.",
            ),
        ]
        indexes = [
            models.Index(fields=["target_kind", "target_type", "target_id"], name="accessrule_target_idx"),
            models.Index(fields=["subject_kind"], name="accessrule_subject_idx"),
        ]

    def __str__(self) -> str:
        # Titles, messages, autocomplete and audit records do not know their reader: no object's name.
        if self.target_kind == TargetKind.OBJECT and self.target_type_id:
            return f"Deny {self.subject_label()} → a {self.target_type.name}"
        return f"Deny {self.subject_label()} → {self.target_label()}"

    def target_label(self) -> str:
        if self.target_kind == TargetKind.CLASSIFICATION:
            return f"classification {self.classification} and above"
        if self.target_kind == TargetKind.TAG:
            return f"tag {self.target_tag}"
        model = self.target_type.model_class() if self.target_type_id else None
        obj = model._base_manager.filter(pk=self.target_id).first() if model else None
        return f"{self.target_type.name if self.target_type_id else 'object'} {obj or self.target_id}"

    def clean(self) -> None:
        if self.target_kind == TargetKind.CLASSIFICATION:
            levels = classification_levels()
            if self.classification not in levels:
                raise ValidationError({"classification": f"Choose one of: {', '.join(levels)}."})
            self.classification_rank = levels.index(self.classification)
        elif self.target_kind == TargetKind.OBJECT and self.target_type_id:
            from permissions.access import targetable_models

            model = self.target_type.model_class()
            if model not in targetable_models():
                names = ", ".join(sorted(m._meta.verbose_name for m in targetable_models()))
                raise ValidationError({"target_type": f"Rules can target: {names}."})
            if self.target_id is not None and not model._base_manager.filter(pk=self.target_id).exists():
                raise ValidationError({"target_id": f"No {model._meta.verbose_name} with id {self.target_id}."})

    def save(self, *args, **kwargs):
        if self.target_kind == TargetKind.CLASSIFICATION and self.classification in classification_levels():
            self.classification_rank = classification_levels().index(self.classification)
        super().save(*args, **kwargs)


class AccessRuleException(SubjectMixin, AccordModel):
    """Re-admits some of a rule's subjects (e.g. HR to HR-restricted data)."""

    rule = models.ForeignKey(AccessRule, on_delete=models.CASCADE, related_name="exceptions")
    reason = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AccessRuleQuerySet.as_manager()
    audit_parent = "rule"

    class Meta:
        ordering = ["rule_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=_subject_fields_consistent() & ~Q(subject_kind=SubjectKind.EVERYONE),
                name="accessexception_subject_consistent",
                violation_error_message="An exception names one department, group or user.",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""), name="accessexception_reason_required",
                violation_error_message="An exception needs a reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"Except {self.subject_label()} from rule #{self.rule_id}"
