"""manage.py check_contracts — run compliance checks now, in this process, and print each rule's result.

Run by cron and pipelines, so its fixed cost matters: it skips Django's system checks
(``requires_system_checks``), which would import every URL, view and serializer of the API to check
them; ``manage.py check`` runs them, and the test run does.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from governance.checks import data as data_checks
from governance.models import DataContract
from governance.models.compliance import RunTrigger
from governance.services import compliance
from governance.services.common import now
from permissions.context import system_actor

RESULT_FIELDS = ("key", "kind", "rule", "dataset", "field", "status", "observed", "threshold", "violations",
                 "duration_ms", "message")


def _result(result) -> dict:
    row = {name: getattr(result, name) for name in RESULT_FIELDS}
    row["dataset"] = result.dataset.qualified_name if result.dataset is not None else None
    return row


def _shown(value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


class Command(BaseCommand):
    help = ("Run the compliance checks of one contract (--contract SLUG, repeatable) or of every active one (--all); "
            "print each rule's observed value, threshold and outcome (--format json: one JSON document).")
    requires_system_checks = []  # see the module docstring

    def add_arguments(self, parser):
        parser.add_argument("--contract", action="append", default=[], help="Contract slug (repeatable).")
        parser.add_argument("--all", action="store_true", help="Every contract with an active version.")
        parser.add_argument("--format", choices=["text", "json"], default="text",
                            help="text (default): a line per contract and per rule; json: one document.")

    def handle(self, *args, **options):
        if not options["contract"] and not options["all"]:
            raise CommandError("Name a contract with --contract SLUG, or use --all.")
        contracts = DataContract.objects.filter(versions__status="active").distinct().order_by("slug")
        if options["contract"]:
            contracts = contracts.filter(slug__in=options["contract"])
            missing = set(options["contract"]) - set(contracts.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No contract with an active version: {', '.join(sorted(missing))}.")
        failed, report = 0, []
        with system_actor("check_contracts", reason="Compliance checks run from the command line") as audit_context:
            actor = audit_context.actor
            for contract in contracts:
                version = contract.active_version()
                run, _ = compliance.get_or_create_run(version, scheduled_for=now(), trigger=RunTrigger.COMMAND,
                                                      actor=actor)
                try:
                    run = compliance.execute(run, actor=actor)
                except data_checks.SourceUnavailable as exc:
                    run = compliance.record_unavailable(run, str(exc), actor=actor, final=True)
                results = [_result(r) for r in run.results.select_related("dataset").order_by("kind", "key")]
                entry = {"contract": contract.slug, "version": version.version, "run": run.pk,
                         "outcome": run.outcome, "summary": run.summary or {}, "error": run.last_error or None,
                         "results": results}
                report.append(entry)
                if options["format"] == "text":
                    self._write_text(entry)
                failed += run.outcome != "pass"
        if options["format"] == "json":
            self.stdout.write(json.dumps({"contracts": report, "failing": failed}, indent=2, ensure_ascii=False,
                                         default=str))
        if failed:
            raise CommandError(f"{failed} contract(s) not compliant.")

    def _write_text(self, entry: dict) -> None:
        summary = ", ".join(f"{count} {status}" for status, count in entry["summary"].items() if count)
        self.stdout.write(f"{entry['contract']} {entry['version']}: {entry['outcome']} ({summary})"
                          + (f" — {entry['error']}" if entry["error"] else ""))
        for result in entry["results"]:
            line = (f"  {result['status']:<5} {result['key']}  observed {_shown(result['observed'])}"
                    f"  threshold {result['threshold'] or '-'}")
            if result["violations"]:
                line += f"  violations {result['violations']:,}"
            if result["message"]:
                line += f"  ({result['message']})"
            self.stdout.write(line)
