"""Serializers of the trust layer's own objects: tokens, access rules, exceptions."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from rest_framework import serializers

from permissions.access import targetable_models
from permissions.api.serializers import AccordModelSerializer, BriefRelatedField, BriefUserField, request_user
from permissions.models import AccessRule, AccessRuleException, ApiToken, TargetKind

#: A rule's target object the reader may not see (or that no longer exists): named by its kind only.
_UNSEEN = object()


class ApiTokenSerializer(serializers.ModelSerializer):
    user = BriefUserField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at",
                  "is_active"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Default: ACCORD_TOKEN_DEFAULT_DAYS from now. At most ACCORD_TOKEN_MAX_LIFETIME_DAYS (365 by "
                  "default) from now; a later expiry is refused.")
    never_expires = serializers.BooleanField(
        default=False, help_text="Every token expires: true gives the longest lifetime allowed "
                                 "(ACCORD_TOKEN_MAX_LIFETIME_DAYS).")

    def validate_expires_at(self, value):
        from django.core.exceptions import ValidationError as DjangoValidationError

        from permissions.models.tokens import token_expiry

        if value is None:
            return value
        try:
            return token_expiry(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate_name(self, value):
        user = self.context["request"].user
        if ApiToken.objects.filter(user=user, name=value, revoked_at__isnull=True).exists():
            raise serializers.ValidationError("You already have an active token with this name.")
        return value


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


def _department_ref(**kwargs):
    return BriefRelatedField(
        queryset=apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)._default_manager.all(),
        brief_fields=("id", "name", "slug"), natural_key="slug", **kwargs,
    )


class _SubjectFields(AccordModelSerializer):
    subject_department = _department_ref(required=False, allow_null=True)
    subject_group = BriefRelatedField(queryset=Group.objects.all(), brief_fields=("id", "name"),
                                      natural_key="name", required=False, allow_null=True)
    subject_user = BriefUserField(required=False, allow_null=True)


class TargetTypeField(serializers.SlugRelatedField):
    """A rule's target kind as ``app_label.model`` (``catalog.dataset``)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="model", queryset=ContentType.objects.all(), **kwargs)

    def to_representation(self, obj):
        return f"{obj.app_label}.{obj.model}"

    def to_internal_value(self, data):
        labels = {m._meta.label_lower: m for m in targetable_models()}
        if not isinstance(data, str) or data not in labels:
            raise serializers.ValidationError(f"Rules can target: {', '.join(sorted(labels))}.")
        return ContentType.objects.get_for_model(labels[data])


class AccessRuleExceptionSerializer(_SubjectFields):
    rule = BriefRelatedField(queryset=AccessRule.objects.all(), brief_fields=("id", "reason"))
    created_by = BriefUserField(read_only=True)

    class Meta:
        model = AccessRuleException
        fields = ["id", "rule", "subject_kind", "subject_department", "subject_group", "subject_user", "reason",
                  "expires_at", "created_by", "created_at", "updated_at"]


class AccessRuleSerializer(_SubjectFields):
    target_type = TargetTypeField(required=False, allow_null=True)
    target_tag = BriefRelatedField(
        queryset=apps.get_model(settings.ACCORD_TAG_MODEL)._default_manager.all(), brief_fields=("id", "name"),
        natural_key="slug", required=False, allow_null=True,
    )
    classification = serializers.ChoiceField(choices=settings.ACCORD_CLASSIFICATION_LEVELS, required=False,
                                             allow_blank=True)
    created_by = BriefUserField(read_only=True)
    exceptions = AccessRuleExceptionSerializer(many=True, read_only=True)
    target = serializers.SerializerMethodField()

    class Meta:
        model = AccessRule
        fields = ["id", "subject_kind", "subject_department", "subject_group", "subject_user", "target_kind",
                  "target_type", "target_id", "classification", "target_tag", "target", "reason", "expires_at",
                  "created_by", "exceptions", "created_at", "updated_at"]

    def to_representation(self, rule):
        data = super().to_representation(rule)
        if self._target_of(rule) is _UNSEEN:
            data["target_id"] = None  # the id of an object the reader may not see is not shown either
        return data

    def get_target(self, rule) -> str:
        target = self._target_of(rule)
        if target is None:
            return rule.target_label()
        if target is _UNSEEN:
            return f"a {rule.target_type.name} you cannot see"
        return f"{rule.target_type.name} {target}"

    def _target_of(self, rule):
        """The object a rule on one object targets, as the reader sees it: the object, ``_UNSEEN``
        when it is hidden from them (or gone), None for other rules. The targets of a page of rules
        are read with one statement per target type, through the reader's visibility."""
        if rule.target_kind != TargetKind.OBJECT or not rule.target_type_id or rule.target_id is None:
            return None
        cache = self.context.setdefault("_accord_rule_targets", {})
        key = (rule.target_type_id, rule.target_id)
        if key not in cache:
            rules = getattr(self.parent, "instance", None) if isinstance(self.parent, serializers.ListSerializer) \
                else None
            page = [r for r in (rules if rules is not None else [rule])
                    if r.target_kind == TargetKind.OBJECT and r.target_type_id and r.target_id is not None]
            if rule not in page:
                page.append(rule)
            wanted: dict[int, set] = {}
            for item in page:
                wanted.setdefault(item.target_type_id, set()).add(item.target_id)
            reader = request_user(self)
            for type_id, ids in wanted.items():
                model = ContentType.objects.get_for_id(type_id).model_class()
                manager = model._default_manager if model is not None else None
                found = {} if manager is None or not hasattr(manager, "visible_to") else {
                    obj.pk: obj for obj in manager.visible_to(reader).filter(pk__in=ids)}
                for target_id in ids:
                    cache[type_id, target_id] = found.get(target_id, _UNSEEN)
        return cache[key]
