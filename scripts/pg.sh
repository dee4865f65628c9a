#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and benchmarks.
#   source scripts/pg.sh; pg_start; ...; pg_stop
# pg_start initdbs into a temporary folder, listens on 127.0.0.1 at a free port
# and on a private socket in that folder, and exports DATABASE_URL. pg_stop stops
# it and removes the folder. PostgreSQL refuses to run as root, so as root the
# server runs as the 'postgres' account (created if missing).

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || dirname "$(command -v pg_ctl)")}"

_pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

pg_start() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL 15 server binaries not found (looked in $PG_BIN)." >&2
    return 1
  fi
  PG_OS_USER=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    PG_OS_USER=postgres
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  fi
  PG_DIR=$(mktemp -d /tmp/accord-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$PG_DIR"
  PG_PORT=$("${PYTHON_FOR_PORT:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U accord --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${PG_EXTRA_OPTS:-}" >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }
  _pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U accord accord
  export PG_DIR PG_PORT PG_OS_USER
  export DATABASE_URL="postgres://accord@127.0.0.1:$PG_PORT/accord"
  echo "PostgreSQL 15 started on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    echo "PostgreSQL stopped"
  fi
  unset PG_DIR
}
