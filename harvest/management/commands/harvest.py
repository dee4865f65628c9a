"""manage.py harvest SYSTEM — harvest one System's live source now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import System
from harvest import services
from harvest.models import HarvestStatus, HarvestTrigger


class Command(BaseCommand):
    help = "Harvest a System's live source (by slug) into the catalog."

    def add_arguments(self, parser):
        parser.add_argument("system", help="The System's slug.")

    def handle(self, *args, **options):
        system = System.objects.filter(slug=options["system"]).first()
        if system is None:
            raise CommandError(f"No system with slug {options['system']!r}.")
        run = services.harvest(system, trigger=HarvestTrigger.COMMAND)
        self.stdout.write(f"Harvest #{run.pk} of {system.name}: {run.status} {run.counts}")
        for warning in run.warnings:
            self.stdout.write(f"warning: {warning}")
        if run.status == HarvestStatus.FAILED:
            raise CommandError("; ".join(run.errors))
