import json

from django.core.management.base import BaseCommand

from permissions.audit import chain_head


class Command(BaseCommand):
    help = "Print the audit chain head (sequence number and hash) as JSON, for anchoring elsewhere."

    def handle(self, *args, **options):
        head = chain_head()
        stamp = head["timestamp"].isoformat() if head["timestamp"] else None
        self.stdout.write(json.dumps({**head, "timestamp": stamp}))
