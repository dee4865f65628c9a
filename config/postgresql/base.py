"""PostgreSQL as Django's backend runs it, with the change records of a transaction sent in the
same message as its ``COMMIT``.

A change made directly in an outermost transaction (``transaction.atomic()`` with
``audit.batch()`` inside, as services, tasks and commands write) leaves its audit records waiting
when the batch ends (``permissions.audit``). The commit sends their appends and ``COMMIT`` as one
message: one round trip fewer per write, and the audit chain's head row is locked only while the
server runs that message, never across a round trip to the application. If an append fails,
PostgreSQL skips the ``COMMIT`` and the change rolls back with it. Any other statement before the
commit appends the waiting records first, so the transaction reads its own records; a rollback
drops them with the change.
"""

from __future__ import annotations

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    #: ``permissions.audit`` may leave an outermost transaction's change records for its commit.
    accord_appends_at_commit = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.accord_pending_appends: list = []
        # First of the wrappers, for good: contexts that add and remove their own
        # (``execute_wrapper``) push and pop after it.
        self.execute_wrappers.insert(0, self._append_pending_first)

    def _append_pending_first(self, execute, sql, params, many, context):
        if self.accord_pending_appends:
            from permissions import audit

            audit.append_pending(self)
        return execute(sql, params, many, context)

    def _commit(self):
        if self.connection is None or not self.accord_pending_appends:
            return super()._commit()
        from permissions import audit

        audit.commit_with_pending(self)

    def _rollback(self):
        self.accord_pending_appends = []
        return super()._rollback()

    def _close(self):
        self.accord_pending_appends = []
        return super()._close()
