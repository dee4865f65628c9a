from django.core.management.base import BaseCommand, CommandError

from permissions.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; report OK or the first broken record."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"BROKEN at record #{result.broken_seq}: {result.problem} "
                f"({result.checked} records verified before it)."
            )
        self.stdout.write(f"OK: {result.checked} records, head #{result.head_seq or 0} {result.head_hash}")
