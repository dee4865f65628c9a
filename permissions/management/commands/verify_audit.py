from django.core.management.base import BaseCommand, CommandError

from permissions import checkpoints as _checkpoints


class Command(BaseCommand):
    help = ("Verify the audit log's hash chain from the last verified checkpoint (--full: from the genesis) and "
            "against every signed checkpoint stored or given; report OK or the first record that disagrees.")

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Walk the whole chain, not only what is new.")
        parser.add_argument("--checkpoints", action="append", default=[], metavar="FILE",
                            help="A published checkpoint file (JSON Lines) to check the chain against; repeatable.")
        parser.add_argument("--public-key", metavar="FILE",
                            help="An Ed25519 public key (PEM) to check the checkpoints' signatures with.")

    def handle(self, *args, full=False, checkpoints=(), public_key=None, **options):
        try:
            lines = [line for path in checkpoints for line in _checkpoints.read_file(path)]
            verifiers = [_checkpoints.public_key_verifier(public_key)] if public_key else []
        except _checkpoints.CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        result = _checkpoints.verify(full=full, checkpoint_lines=lines, verifiers=verifiers)
        if not result.ok:
            raise CommandError(
                f"BROKEN at record #{result.broken_seq}: {result.problem} "
                f"({result.checked} records walked from #{result.from_seq} before it)."
            )
        start = "the genesis" if result.from_seq == 0 else f"checkpoint #{result.from_seq}"
        self.stdout.write(f"OK: {result.checked} records from {start}, head #{result.head_seq or 0} "
                          f"{result.head_hash}; {result.checkpoints_checked} signed checkpoints agree "
                          f"({result.signatures_checked} signatures checked)")
        for note in result.notes:
            self.stdout.write(f"Note: {note}")

