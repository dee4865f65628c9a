"""PostgreSQL as Django's backend runs it, with the audit chain's change records appended
in the same round trip as the COMMIT of the transaction they record.

A change made in an outermost transaction (``transaction.atomic()`` with ``audit.batch()``
inside, as every service and API write does) leaves its records pending when the batch
ends (``permissions.audit``); the commit sends them and ``COMMIT`` as one message. If an
append fails, PostgreSQL skips the ``COMMIT`` and the whole change rolls back. Any other
statement before the commit sends the pending records first; a rollback drops them.
"""

from __future__ import annotations

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    #: ``permissions.audit`` may leave an outermost transaction's records for its commit.
    accord_appends_at_commit = True

    def _commit(self):
        from permissions import audit

        if self.connection is not None and audit.commit_with_pending(self):
            return None
        return super()._commit()

    def _rollback(self):
        from permissions import audit

        audit.drop_pending(self)
        return super()._rollback()

    def _close(self):
        from permissions import audit

        audit.drop_pending(self)
        return super()._close()
