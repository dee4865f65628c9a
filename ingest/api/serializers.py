from __future__ import annotations

from rest_framework import serializers

from catalog.api.serializers import system_ref
from catalog.models import Department
from ingest.models import DbtNode, DbtProject, DbtTest, IngestionRun
from permissions.api.serializers import (
    AccordModelSerializer,
    BriefRelatedField,
    BriefUserField,
    RunMessagesMixin,
    request_user,
)

PROJECT_BRIEF = ("id", "name", "system_id")
DATASET_BRIEF = ("id", "qualified_name", "name", "system_id")
FIELD_BRIEF = ("id", "name", "dataset_id")


class DbtProjectSerializer(AccordModelSerializer):
    system = system_ref()

    class Meta:
        model = DbtProject
        fields = ["id", "name", "system", "schema_systems", "qualify_with_database", "owner_meta_key",
                  "department_meta_key", "created_at", "updated_at"]

    def validate_schema_systems(self, value):
        from ingest.dbt import schema_system_problems

        problems = schema_system_problems(request_user(self), value)
        if problems:
            raise serializers.ValidationError(problems)
        return value


class IngestionRunSerializer(RunMessagesMixin, AccordModelSerializer):
    project = BriefRelatedField(brief_fields=PROJECT_BRIEF, read_only=True)
    requested_by = BriefUserField(read_only=True)
    counts = serializers.JSONField(read_only=True, help_text=IngestionRun._meta.get_field("counts").help_text)

    class Meta:
        model = IngestionRun
        fields = ["id", "project", "requested_by", "status", "started_at", "finished_at", "manifest_version",
                  "dbt_version", "counts", "warnings", "errors"]
        read_only_fields = fields



class DbtNodeSerializer(AccordModelSerializer):
    project = BriefRelatedField(brief_fields=PROJECT_BRIEF, read_only=True)
    dataset = BriefRelatedField(brief_fields=DATASET_BRIEF, read_only=True)

    class Meta:
        model = DbtNode
        # ``written`` is bookkeeping (what dbt wrote last time), not shown.
        fields = ["id", "project", "unique_id", "resource_type", "dataset", "materialized", "contract_enforced",
                  "has_compiled_code", "created_at", "updated_at"]
        read_only_fields = fields


class DbtTestSerializer(AccordModelSerializer):
    project = BriefRelatedField(brief_fields=PROJECT_BRIEF, read_only=True)
    dataset = BriefRelatedField(brief_fields=DATASET_BRIEF, read_only=True)
    field = BriefRelatedField(brief_fields=FIELD_BRIEF, read_only=True, allow_null=True)
    related_dataset = BriefRelatedField(brief_fields=DATASET_BRIEF, read_only=True, allow_null=True)

    class Meta:
        model = DbtTest
        fields = ["id", "project", "unique_id", "name", "test_type", "dataset", "field", "related_dataset",
                  "column_name", "arguments",
                  "severity", "status", "failures", "message", "executed_at", "created_at", "updated_at"]
        read_only_fields = fields


class DbtIngestRequestSerializer(serializers.Serializer):
    """The artifacts, as uploaded files (multipart) or JSON objects (application/json)."""

    manifest = serializers.JSONField(help_text="manifest.json (schema v10 to v12: dbt 1.6 to 1.12).")
    catalog = serializers.JSONField(required=False, help_text="catalog.json (column types, from dbt docs generate).")
    run_results = serializers.JSONField(required=False, help_text="run_results.json (test results).")
    system = serializers.SlugField(required=False, help_text="The System (slug) of a project not registered yet.")


class DraftContractSerializer(serializers.Serializer):
    """The draft contract version (as ``contract-versions/`` shows it) and the tests left out of it."""

    id = serializers.IntegerField()
    contract = serializers.IntegerField()
    version = serializers.CharField()
    status = serializers.CharField()
    terms = serializers.JSONField()
    tests_left_out = serializers.ListField(child=serializers.CharField(),
                                           help_text="dbt tests with no Accord quality rule (relationships, "
                                                     "singular and custom tests).")


class DraftContractRequestSerializer(serializers.Serializer):
    consumers = serializers.SlugRelatedField(
        slug_field="slug", many=True, required=False, queryset=Department.objects.all(),
        help_text="The consuming departments (slugs); by default those downstream of the model in the lineage.")
