import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from permissions import checkpoints
from permissions.context import system_actor


class Command(BaseCommand):
    help = ("Verify the audit chain, sign its head with the key outside the database and publish the checkpoint "
            "(ACCORD_AUDIT_CHECKPOINT_FILE, the audit.checkpoint webhook event); print the published line.")

    def add_arguments(self, parser):
        parser.add_argument("--public-key", action="store_true",
                            help="Print the Ed25519 public key (PEM) of the signing key instead, for verifiers.")

    def handle(self, *args, public_key=False, **options):
        try:
            if public_key:
                self.stdout.write(checkpoints.public_key_pem().rstrip())
                return
            with system_actor("audit_checkpoint", reason="Signed audit checkpoint (manage.py audit_checkpoint)") as ctx:
                checkpoint = checkpoints.make_checkpoint(actor=ctx.actor)
        except checkpoints.CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(checkpoint.published, sort_keys=True))
        if not settings.ACCORD_AUDIT_CHECKPOINT_FILE:
            self.stderr.write("Note: ACCORD_AUDIT_CHECKPOINT_FILE is not set: the checkpoint was only stored and sent "
                              "to audit.checkpoint subscribers; keep the line above somewhere the database's admins "
                              "cannot edit.")
