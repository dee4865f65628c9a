"""manage.py verify_contract SLUG [--version X] — do the signatures still cover what is stored?"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.models import DataContract
from governance.services import contracts as contract_services
from permissions.errors import Refused


class Command(BaseCommand):
    help = ("Recompute the content hash of a contract's active version (or --version X) from the stored rows and "
            "report whether every signature matches it. Exits 1 on a mismatch.")

    def add_base_argument(self, parser, *args, **kwargs):
        if "--version" not in args:  # here --version names the contract version, not Django's
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("contract", help="The contract's slug (or id).")
        parser.add_argument("--version", dest="label", help="A version label such as 1.2.0; default the active one.")

    def handle(self, *args, **options):
        key = options["contract"]
        contract = DataContract._base_manager.filter(slug=key).first()
        if contract is None and key.isdigit():
            contract = DataContract._base_manager.filter(pk=int(key)).first()
        if contract is None:
            raise CommandError(f"No contract {key!r}.")
        versions = contract.versions.all()
        version = (versions.filter(version=options["label"]).first() if options["label"]
                   else contract.active_version())
        if version is None:
            raise CommandError(f"{contract.slug} has no version {options['label']}." if options["label"]
                               else f"{contract.slug} has no active version; name one with --version.")
        try:
            report = contract_services.verify(version)
        except Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{contract.slug} {version.version} ({version.status}), hash scheme {report['hash_scheme']}")
        self.stdout.write(f"  stored     {report['stored_hash']}")
        self.stdout.write(f"  recomputed {report['recomputed_hash']}"
                          + ("" if report["content_matches"] else "  MISMATCH"))
        if not report["pinned_definitions_match"]:
            self.stdout.write("  a pinned state-definition version no longer has the content it was approved with")
        for signature in report["signatures"]:
            self.stdout.write(f"  {signature['department']}: signed by {signature['signed_by']} "
                              f"{'matches' if signature['matches'] else 'DOES NOT MATCH'}")
        for slug in report["missing_signatures"]:
            self.stdout.write(f"  {slug}: not signed")
        if not report["ok"]:
            raise CommandError(f"{contract.slug} {version.version}: the signatures do not cover what is stored.")
        self.stdout.write(self.style.SUCCESS(f"{contract.slug} {version.version}: every signature matches."))
