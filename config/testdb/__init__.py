"""Database backends for tests: Django's own, except that a flush between transactional
tests may empty the append-only audit table (and the chain's head row with it)."""

AUDIT_TABLE = "permissions_auditrecord"
HEAD_TABLE = "permissions_auditchainhead"


def head_reset(tables) -> list[str]:
    """The chain's head row caches the last record: emptied with the records (unless the flush
    empties its table anyway), so the next append starts it again from the genesis."""
    return [] if HEAD_TABLE in tables else [f"DELETE FROM {HEAD_TABLE}"]
