"""Database sessions (``SESSION_ENGINE``), loaded with one plain statement.

Every authenticated request loads its session before anything else. Django's database
backend builds and compiles an ORM query for it each time, which costs several times
the statement itself; this store sends the same statement as SQL text. Everything else
(saving, expiry, cycling keys, clearing expired sessions) is Django's own.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:  # missing or expired: as Django's store, forget the key
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
