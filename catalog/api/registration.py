"""The payload of idempotent bulk registration: one dataset and all its fields."""

from __future__ import annotations

from rest_framework import serializers

from catalog.api.serializers import department_ref, system_ref, tags_ref
from catalog.choices import Classification, DatasetKind, Lifecycle
from catalog.services import REGISTRABLE_DATASET_ATTRIBUTES
from permissions.api.serializers import BriefUserField


class FieldSpecSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    data_type = serializers.CharField(max_length=120)
    nullable = serializers.BooleanField(required=False)
    is_key = serializers.BooleanField(required=False)
    position = serializers.IntegerField(min_value=0, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    classification = serializers.ChoiceField(choices=Classification.choices, required=False)
    owner = BriefUserField(required=False, allow_null=True)
    owner_department = department_ref(required=False, allow_null=True)
    tags = tags_ref()

    def validate(self, attrs):
        if attrs.get("is_key") and attrs.get("nullable", False):
            raise serializers.ValidationError({"nullable": "A key field cannot be nullable."})
        if attrs.get("is_key") and "nullable" not in attrs:
            attrs["nullable"] = False
        return attrs


class DatasetRegistrationSerializer(serializers.Serializer):
    """Register or update a dataset keyed by (system, qualified_name).

    Attributes left out are not changed. ``fields`` is the dataset's complete field
    list as the source sees it: fields registered before but not listed are
    reported as ``missing``, and deleted only with ``remove_missing: true``.
    """

    system = system_ref()
    qualified_name = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False)
    kind = serializers.ChoiceField(choices=DatasetKind.choices, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    owner_department = department_ref(required=False, allow_null=True)
    steward = BriefUserField(required=False, allow_null=True)
    lifecycle = serializers.ChoiceField(choices=Lifecycle.choices, required=False)
    classification = serializers.ChoiceField(choices=Classification.choices, required=False)
    key_fields = serializers.ListField(child=serializers.CharField(), required=False)
    sort_order = serializers.ListField(child=serializers.CharField(), required=False)
    row_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    size_bytes = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    source_created_at = serializers.DateTimeField(required=False, allow_null=True)
    published_at = serializers.DateTimeField(required=False, allow_null=True)
    source_modified_at = serializers.DateTimeField(required=False, allow_null=True)
    archived_at = serializers.DateTimeField(required=False, allow_null=True)
    tags = tags_ref()
    fields = FieldSpecSerializer(many=True, allow_empty=True, max_length=5000)
    remove_missing = serializers.BooleanField(default=False)

    def validate_fields(self, value: list[dict]) -> list[dict]:
        seen: set[str] = set()
        duplicates = sorted({spec["name"] for spec in value if spec["name"] in seen or seen.add(spec["name"])})
        if duplicates:
            raise serializers.ValidationError(f"Each field may appear once; repeated: {', '.join(duplicates)}.")
        return value

    def validate(self, attrs):
        names = {spec["name"] for spec in attrs["fields"]}
        for list_name in ("key_fields", "sort_order"):
            unknown = [name for name in attrs.get(list_name, []) if name not in names]
            if unknown:
                raise serializers.ValidationError(
                    {list_name: f"Not among the registered fields: {', '.join(unknown)}."}
                )
        attrs["attributes"] = {name: attrs.pop(name) for name in REGISTRABLE_DATASET_ATTRIBUTES if name in attrs}
        return attrs
