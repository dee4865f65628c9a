"""Ingestion of dbt artifacts: the projects Accord knows and how their relations map onto
Systems, what each ingestion run did, and the dbt nodes and tests it recorded."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from permissions.access import AccessSpec
from permissions.models import AccordModel
from permissions.querysets import RestrictedQuerySet


def _validate_schema_systems(value) -> None:
    if not isinstance(value, dict) or not all(
            isinstance(key, str) and key.strip() and isinstance(slug, str) and slug.strip()
            for key, slug in value.items()):
        raise ValidationError('Give an object of "database.schema" (or "schema") to system slug, '
                              'e.g. {"warehouse.crm": "crm-replica"}.')


class DbtProject(AccordModel):
    """A dbt project whose artifacts Accord ingests, by its ``name`` in dbt_project.yml.

    Each relation (model, seed, snapshot, source) lands on ``system`` unless ``schema_systems``
    maps its database and schema to another System; its qualified name there is
    ``schema.alias`` (or ``database.schema.alias`` with ``qualify_with_database``). Several
    projects live side by side: each ingestion touches only its own project's nodes, tests and
    lineage."""

    name = models.CharField(max_length=200, unique=True, help_text="The project's name in dbt_project.yml.")
    system = models.ForeignKey("catalog.System", on_delete=models.PROTECT, related_name="dbt_projects",
                               help_text="Where the project's relations are registered by default.")
    schema_systems = models.JSONField(
        default=dict, blank=True, validators=[_validate_schema_systems],
        help_text='Other Systems by "database.schema" or "schema", e.g. {"raw": "crm-replica"}.')
    qualify_with_database = models.BooleanField(
        default=False, help_text="Qualified names are database.schema.alias instead of schema.alias.")
    owner_meta_key = models.CharField(max_length=100, default="owner",
                                      help_text="The meta key naming a node's owner (a username or an email).")
    department_meta_key = models.CharField(max_length=100, default="department",
                                           help_text="The meta key naming a node's department (its slug).")

    access = AccessSpec(targetable=False, containers=("system",))
    audit_parent = "system"
    edit_container = "system"
    edit_department = "system.owner_department"

    class Meta:
        ordering = ["name"]
        verbose_name = "dbt project"

    def __str__(self) -> str:
        return self.name


class IngestionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with warnings"
    FAILED = "failed", "Failed"


class IngestionRun(models.Model):
    """One ingestion of a project's artifacts. Bookkeeping, not audited itself: what it changed
    in the catalog is, under the actor ``system:ingest:<id>``, so an ingestion that changes
    nothing leaves this row and no audit record."""

    project = models.ForeignKey(DbtProject, on_delete=models.CASCADE, related_name="runs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    status = models.CharField(max_length=16, choices=IngestionStatus.choices, default=IngestionStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    manifest_version = models.CharField(max_length=16, blank=True, help_text="The manifest's schema version.")
    dbt_version = models.CharField(max_length=32, blank=True)
    counts = models.JSONField(default=dict, blank=True,
                              help_text='Per kind (datasets, fields, tags, lineage, tests): '
                                        '{"added": n, "changed": n, "removed": n, "unchanged": n}.')
    warnings = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)

    objects = RestrictedQuerySet.as_manager()
    access = AccessSpec(targetable=False, containers=("project",))

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        project = self._state.fields_cache.get("project")
        return f"Ingestion #{self.pk} of {project.name if project else f'project #{self.project_id}'}"

    @property
    def actor_name(self) -> str:
        return f"ingest:{self.pk}"

    def messages_for(self, user, name: str) -> list[str]:
        """The run's ``warnings`` or ``errors`` as ``user`` may read them (``permissions.edit.source_messages``)."""
        from permissions.edit import source_messages

        return source_messages(user, getattr(self, name), name, self.project.system)


class DbtResourceType(models.TextChoices):
    MODEL = "model", "Model"
    SEED = "seed", "Seed"
    SNAPSHOT = "snapshot", "Snapshot"
    SOURCE = "source", "Source"


class DbtNode(AccordModel):
    """A dbt model, seed, snapshot or source and the dataset it is. Keeps what the last ingestion
    wrote (descriptions, owner, department, tags), so the next one changes only what dbt still
    owns: a value someone changed in Accord since is theirs and stays."""

    project = models.ForeignKey(DbtProject, on_delete=models.CASCADE, related_name="nodes")
    unique_id = models.CharField(max_length=500)
    resource_type = models.CharField(max_length=16, choices=DbtResourceType.choices)
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="dbt_nodes")
    materialized = models.CharField(max_length=32, blank=True)
    contract_enforced = models.BooleanField(default=False, help_text="The model's dbt contract is enforced.")
    has_compiled_code = models.BooleanField(default=False)
    written = models.JSONField(default=dict, blank=True,
                               help_text="What the last ingestion wrote, to tell dbt's values from people's.")

    access = AccessSpec(targetable=False, containers=("dataset",))
    audit_parent = "dataset"
    edit_container = "dataset"

    class Meta:
        ordering = ["project__name", "unique_id"]
        verbose_name = "dbt node"
        constraints = [models.UniqueConstraint(fields=["project", "unique_id"], name="dbt_node_unique_in_project")]

    def __str__(self) -> str:
        return self.unique_id


class DbtTestType(models.TextChoices):
    NOT_NULL = "not_null", "Not null"
    UNIQUE = "unique", "Unique"
    ACCEPTED_VALUES = "accepted_values", "Accepted values"
    RELATIONSHIPS = "relationships", "Relationships"
    OTHER = "other", "Other (singular or custom)"


class DbtTestStatus(models.TextChoices):
    NOT_RUN = "", "Not run"
    PASS = "pass", "Pass"
    WARN = "warn", "Warn"
    FAIL = "fail", "Fail"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"


class DbtTest(AccordModel):
    """A dbt data test on a dataset (and field), with its latest result from run_results.json:
    evidence of the data's quality recorded beside Accord's own compliance checks."""

    project = models.ForeignKey(DbtProject, on_delete=models.CASCADE, related_name="tests")
    unique_id = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    test_type = models.CharField(max_length=24, choices=DbtTestType.choices)
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="dbt_tests")
    field = models.ForeignKey("catalog.Field", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="dbt_tests")
    related_dataset = models.ForeignKey(
        "catalog.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="The other dataset a test reads (a relationships test's 'to'): the test is seen only with it.")
    column_name = models.CharField(max_length=255, blank=True)
    arguments = models.JSONField(default=dict, blank=True, help_text="The test's arguments (values, to, field…).")
    severity = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=8, choices=DbtTestStatus.choices, blank=True, default="")
    failures = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True, help_text="When dbt last ran the test.")

    # A test names what it reads: hidden with its dataset, its field, or the other dataset it reads.
    access = AccessSpec(targetable=False, containers=("dataset", "field", "related_dataset"))
    audit_parent = "dataset"
    edit_container = "dataset"

    class Meta:
        ordering = ["project__name", "unique_id"]
        verbose_name = "dbt test"
        constraints = [models.UniqueConstraint(fields=["project", "unique_id"], name="dbt_test_unique_in_project")]

    def __str__(self) -> str:
        return self.name


# --- OpenLineage --------------------------------------------------------------------------------


class LineageNamespace(AccordModel):
    """An OpenLineage dataset namespace (``postgres://db.example.com:5432/shop``,
    ``snowflake://acme-xy12345``, ``bigquery``, ``s3://raw-events``) and the System whose datasets
    it names. A dataset's ``name`` in the namespace becomes its qualified name there by the
    rule of the namespace's scheme (``ingest.openlineage.qualified_name``)."""

    namespace = models.CharField(max_length=500, unique=True,
                                 help_text="Exactly as OpenLineage events name it, e.g. postgres://db:5432/shop.")
    system = models.ForeignKey("catalog.System", on_delete=models.CASCADE, related_name="lineage_namespaces")

    access = AccessSpec(targetable=False, containers=("system",))
    audit_parent = "system"
    edit_container = "system"
    edit_department = "system.owner_department"

    class Meta:
        ordering = ["namespace"]
        verbose_name = "OpenLineage namespace"

    def __str__(self) -> str:
        return self.namespace


class UnknownNamespaceQuerySet(RestrictedQuerySet):
    def unmapped(self):
        """Those no System has yet: a namespace mapped since it was recorded drops out of the lists."""
        return self.exclude(namespace__in=LineageNamespace.objects.values("namespace"))


class UnknownNamespace(models.Model):
    """A namespace OpenLineage events named that no System has yet: kept, with how often and a
    few of its dataset names, for someone to map (an OpenLineage namespace on the right System).
    Bookkeeping written by the ingestion; mapping it makes the next events land."""

    namespace = models.CharField(max_length=500, unique=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    events = models.PositiveBigIntegerField(default=0, help_text="How many events named it.")
    example_names = models.JSONField(default=list, blank=True, help_text="Up to five dataset names seen in it.")

    objects = UnknownNamespaceQuerySet.as_manager()
    access = AccessSpec(targetable=False)

    class Meta:
        ordering = ["-last_seen_at", "namespace"]
        verbose_name = "unknown OpenLineage namespace"

    def __str__(self) -> str:
        return self.namespace
