"""manage.py check_contracts — run compliance checks now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.checks import data as data_checks
from governance.models import DataContract
from governance.models.compliance import RunTrigger
from governance.services import compliance
from governance.services.common import now
from permissions.context import system_actor


class Command(BaseCommand):
    help = "Run the compliance checks of one contract (--contract SLUG, repeatable) or of every active one (--all)."

    def add_arguments(self, parser):
        parser.add_argument("--contract", action="append", default=[], help="Contract slug (repeatable).")
        parser.add_argument("--all", action="store_true", help="Every contract with an active version.")

    def handle(self, *args, **options):
        if not options["contract"] and not options["all"]:
            raise CommandError("Name a contract with --contract SLUG, or use --all.")
        contracts = DataContract.objects.filter(versions__status="active").distinct().order_by("slug")
        if options["contract"]:
            contracts = contracts.filter(slug__in=options["contract"])
            missing = set(options["contract"]) - set(contracts.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No contract with an active version: {', '.join(sorted(missing))}.")
        failed = 0
        with system_actor("check_contracts", reason="Compliance checks run from the command line") as audit_context:
            actor = audit_context.actor
            for contract in contracts:
                run, _ = compliance.get_or_create_run(contract.active_version(), scheduled_for=now(),
                                                      trigger=RunTrigger.COMMAND, actor=actor)
                try:
                    run = compliance.execute(run, actor=actor)
                except data_checks.SourceUnavailable as exc:
                    run = compliance.record_unavailable(run, str(exc), actor=actor, final=True)
                summary = ", ".join(f"{count} {status}" for status, count in (run.summary or {}).items() if count)
                self.stdout.write(f"{contract.slug}: {run.outcome} ({summary})")
                failed += run.outcome != "pass"
        if failed:
            raise CommandError(f"{failed} contract(s) not compliant.")
