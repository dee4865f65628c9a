"""PostgreSQL connection tuning Django does not do itself."""

from __future__ import annotations

from functools import lru_cache

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid


def use_fast_timestamptz_loader(sender, connection, **kwargs) -> None:
    """Parse ``timestamptz`` columns with psycopg's C loader (a ``connection_created`` receiver).

    Django registers its own loader, to put the connection's time zone on every value,
    and builds it on psycopg's pure-Python parser: about 5 µs a value, 2-3 ms for a page
    of 100 datasets with six timestamps each. This one leaves the parsing to psycopg's C
    implementation (when psycopg runs it) and puts on the same time zone.
    """
    adapters = getattr(connection.connection, "adapters", None)
    if connection.vendor != "postgresql" or adapters is None:
        return
    c_loader = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if c_loader is None or c_loader.__module__.startswith("psycopg."):
        return  # psycopg's pure-Python implementation: nothing faster to hand over to
    django_loader = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    adapters.register_loader(TIMESTAMPTZ_OID, _loader_for(c_loader, django_loader.timezone))


@lru_cache
def _loader_for(c_loader: type, timezone) -> type:
    class TimestamptzLoader(Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = c_loader(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=self.timezone)

    # Django's cursors compare it with the connection's time zone (create_cursor).
    TimestamptzLoader.timezone = timezone
    return TimestamptzLoader
