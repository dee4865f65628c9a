"""manage.py ingest_dbt PATH_TO_TARGET [--system SLUG] — ingest a dbt project's artifacts now."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import System
from ingest import dbt
from ingest.models import IngestionStatus
from permissions.context import system_actor

FILES = {"manifest": "manifest.json", "catalog": "catalog.json", "run_results": "run_results.json"}


class Command(BaseCommand):
    help = ("Ingest dbt artifacts from a target folder (manifest.json, and catalog.json and run_results.json "
            "when present) into the catalog.")

    def add_arguments(self, parser):
        parser.add_argument("target", help="dbt's target folder (or a manifest.json).")
        parser.add_argument("--system", help="The System (slug) of a project not registered yet.")

    def handle(self, *args, **options):
        target = Path(options["target"])
        folder = target.parent if target.is_file() else target
        documents = {}
        for name, filename in FILES.items():
            path = target if name == "manifest" and target.is_file() else folder / filename
            if not path.exists():
                if name == "manifest":
                    raise CommandError(f"No manifest.json in {folder}.")
                continue
            try:
                documents[name] = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, RecursionError) as exc:
                raise CommandError(f"{path} is not valid JSON: {exc}") from None
        system = None
        if options["system"]:
            system = System.objects.filter(slug=options["system"]).first()
            if system is None:
                raise CommandError(f"No system with slug {options['system']!r}.")
        with system_actor("command", reason=f"manage.py ingest_dbt {folder}") as audit_context:
            try:
                artifacts = dbt.parse_artifacts(documents["manifest"], documents.get("catalog"),
                                                documents.get("run_results"))
                project = dbt.project_for(artifacts, system=system, actor=audit_context.actor)
            except dbt.IngestError as exc:
                raise CommandError(str(exc)) from None
            run = dbt.ingest(project, artifacts)
        self.stdout.write(f"Ingestion #{run.pk} of dbt project {project.name}: {run.status} {run.counts}")
        for warning in run.warnings:
            self.stdout.write(f"warning: {warning}")
        if run.status == IngestionStatus.FAILED:
            raise CommandError("; ".join(run.errors))
