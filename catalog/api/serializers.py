from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from catalog.models import Dataset, Department, DepartmentMembership, Field, LineageEdge, System, Tag
from permissions.api.serializers import AccordModelSerializer, BriefRelatedField, BriefUserField

User = get_user_model()


def department_ref(**kwargs) -> BriefRelatedField:
    if not kwargs.get("read_only"):
        kwargs["queryset"] = Department.objects.all()
    return BriefRelatedField(brief_fields=("id", "name", "slug"), natural_key="slug", **kwargs)


def tags_ref() -> BriefRelatedField:
    return BriefRelatedField(
        queryset=Tag.objects.all(), brief_fields=("id", "name", "slug"), natural_key="slug", many=True, required=False
    )


class DepartmentSerializer(AccordModelSerializer):
    parent = department_ref(required=False, allow_null=True)

    class Meta:
        model = Department
        fields = ["id", "name", "slug", "parent", "description", "created_at", "updated_at"]


class DepartmentMembershipSerializer(AccordModelSerializer):
    department = department_ref()
    user = BriefUserField()

    class Meta:
        model = DepartmentMembership
        fields = ["id", "department", "user", "role", "created_at", "updated_at"]


class TagSerializer(AccordModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug", "description", "color", "created_at", "updated_at"]


class SystemSerializer(AccordModelSerializer):
    owner_department = department_ref(required=False, allow_null=True)

    class Meta:
        model = System
        fields = [
            "id", "name", "slug", "kind", "vendor", "description", "owner_department",
            "connection_engine", "connection_env", "created_at", "updated_at",
        ]


def system_ref(**kwargs) -> BriefRelatedField:
    return BriefRelatedField(
        queryset=System.objects.all(), brief_fields=("id", "name", "slug", "kind"), natural_key="slug", **kwargs
    )


def dataset_ref(**kwargs) -> BriefRelatedField:
    return BriefRelatedField(
        queryset=Dataset.objects.all(), brief_fields=("id", "qualified_name", "name", "system_id"), **kwargs
    )


def field_ref(**kwargs) -> BriefRelatedField:
    return BriefRelatedField(queryset=Field.objects.all(), brief_fields=("id", "name", "dataset_id"), **kwargs)


DATASET_FIELDS = [
    "id", "system", "qualified_name", "name", "kind", "description", "owner_department", "steward",
    "lifecycle", "classification", "tags", "key_fields", "sort_order", "row_count", "size_bytes",
    "source_created_at", "published_at", "source_modified_at", "archived_at", "field_count",
    "created_at", "updated_at",
]


class DatasetSerializer(AccordModelSerializer):
    system = system_ref()
    owner_department = department_ref(required=False, allow_null=True)
    steward = BriefUserField(required=False, allow_null=True)
    tags = tags_ref()
    field_count = serializers.IntegerField(read_only=True, help_text="Fields of the dataset you may view.")

    class Meta:
        model = Dataset
        fields = DATASET_FIELDS


class FieldSerializer(AccordModelSerializer):
    dataset = dataset_ref()
    owner = BriefUserField(required=False, allow_null=True)
    owner_department = department_ref(required=False, allow_null=True)
    tags = tags_ref()

    class Meta:
        model = Field
        fields = [
            "id", "dataset", "name", "data_type", "nullable", "is_key", "position", "description",
            "classification", "owner", "owner_department", "tags", "created_at", "updated_at",
        ]


class NestedFieldSerializer(FieldSerializer):
    """A field inside its dataset's representation (the dataset is implied)."""

    class Meta(FieldSerializer.Meta):
        fields = [name for name in FieldSerializer.Meta.fields if name != "dataset"]


class DatasetDetailSerializer(DatasetSerializer):
    fields = NestedFieldSerializer(many=True, read_only=True, source="visible_fields")

    class Meta(DatasetSerializer.Meta):
        fields = DATASET_FIELDS + ["fields"]


class LineageEdgeSerializer(AccordModelSerializer):
    source = dataset_ref()
    target = dataset_ref()
    source_field = field_ref(required=False, allow_null=True)
    target_field = field_ref(required=False, allow_null=True)

    class Meta:
        model = LineageEdge
        fields = [
            "id", "source", "target", "source_field", "target_field", "transformation", "origin", "job",
            "last_run_at", "created_at", "updated_at",
        ]
        # Who made the edge (empty: people; else a harvest or an ingestion, which replaces its own edges),
        # what moved the data, and when it last ran: written by harvests and ingestions only.
        read_only_fields = ["origin", "job", "last_run_at"]
