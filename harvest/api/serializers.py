from __future__ import annotations

from rest_framework import serializers

from catalog.api.serializers import system_ref
from harvest.models import FieldRelationship, HarvestRun, HarvestSettings, SchemaChange
from permissions.api.serializers import AccordModelSerializer, BriefRelatedField, BriefUserField, RunMessagesMixin

# Read-only references, shown briefly as the catalog's serializers show them.
SYSTEM_BRIEF = ("id", "name", "slug", "kind")
DATASET_BRIEF = ("id", "qualified_name", "name", "system_id")
FIELD_BRIEF = ("id", "name", "dataset_id")


class HarvestSettingsSerializer(AccordModelSerializer):
    system = system_ref()

    class Meta:
        model = HarvestSettings
        fields = ["id", "system", "include", "exclude", "schedule", "created_at", "updated_at"]


class HarvestRunSerializer(RunMessagesMixin, AccordModelSerializer):
    system = BriefRelatedField(brief_fields=SYSTEM_BRIEF, read_only=True)
    requested_by = BriefUserField(read_only=True)
    counts = serializers.JSONField(read_only=True, help_text=HarvestRun._meta.get_field("counts").help_text)

    class Meta:
        model = HarvestRun
        fields = ["id", "system", "trigger", "scheduled_for", "requested_by", "status", "started_at",
                  "finished_at", "counts", "warnings", "errors"]
        read_only_fields = fields



class SchemaChangeSerializer(AccordModelSerializer):
    dataset = BriefRelatedField(brief_fields=DATASET_BRIEF, read_only=True)
    field = BriefRelatedField(brief_fields=FIELD_BRIEF, read_only=True, allow_null=True)

    class Meta:
        model = SchemaChange
        # ``contracts`` (the ids of the contracts broken) is left out: a contract the reader may not
        # see would show through its id; the contract's own incident and checks say the rest.
        fields = ["id", "run", "dataset", "field", "field_name", "kind", "before", "after", "compatibility",
                  "detected_at"]
        read_only_fields = fields


class FieldRelationshipSerializer(AccordModelSerializer):
    system = BriefRelatedField(brief_fields=SYSTEM_BRIEF, read_only=True)
    from_field = BriefRelatedField(brief_fields=FIELD_BRIEF, read_only=True)
    to_field = BriefRelatedField(brief_fields=FIELD_BRIEF, read_only=True)

    class Meta:
        model = FieldRelationship
        fields = ["id", "system", "constraint_name", "from_field", "to_field", "position", "created_at",
                  "updated_at"]
        read_only_fields = fields
