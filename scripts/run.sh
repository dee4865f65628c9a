#!/usr/bin/env bash
# `make run`: Accord on the embedded default (SQLite and a filesystem Celery broker
# under var/, or ACCORD_VAR_DIR) in one terminal. Migrates, builds the JavaScript libraries
# (scripts/build_js.sh) and collects static files,
# loads the demo company and harvests its warehouse, makes sure there is an admin,
# then runs the web server (gunicorn), a Celery worker and Celery beat. Ctrl-C stops all three; if one of
# them dies, the others are stopped and the script exits non-zero.
#
#   PORT (8000)               where the web server listens, on 127.0.0.1
#   WEB_CONCURRENCY (2)       gunicorn worker processes
#   ACCORD_VAR_DIR (var/)     database, broker, secret key, static files, beat's pid
#   ACCORD_ADMIN_USERNAME / _EMAIL / _PASSWORD   the first superuser (see ensure_admin)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
PORT="${PORT:-8000}"
export ACCORD_VAR_DIR="${ACCORD_VAR_DIR:-$PWD/var}"
BASE_URL="http://127.0.0.1:$PORT"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if port_open; then
  echo "Port $PORT on 127.0.0.1 is already in use; stop what runs there or choose another: PORT=8001 make run" >&2
  exit 1
fi

mkdir -p "$ACCORD_VAR_DIR"
"$BIN/python" manage.py migrate --noinput
# The charts' and maps' JavaScript libraries (npm, pinned by package-lock.json), before collectstatic.
bash scripts/build_js.sh
"$BIN/python" manage.py collectstatic --noinput --verbosity 0
# The demo, then a harvest of its warehouse; the first time, a contracted column is dropped from
# the warehouse and harvested again, so a breaking schema drift (and its incident) is in the admin.
"$BIN/python" manage.py load_demo --harvest
"$BIN/python" manage.py ensure_admin
# A first compliance check of the demo contracts, so their status (and any incident)
# is in the admin right away; beat then runs them on their schedule. Failing checks
# are the point of the demo, so a non-zero exit here is expected.
"$BIN/python" manage.py check_contracts --all || true

# --- the three long-running processes ---------------------------------------------

pids=()
declare -A names=()

# start NAME COMMAND...: run COMMAND in the background in its own process group,
# so that stopping it also reaches its children (gunicorn workers, the Celery pool).
start() {
  local name=$1; shift
  set -m
  "$@" </dev/null &
  set +m
  pids+=("$!")
  names[$!]=$name
}

any_alive() {
  local pid
  for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && return 0; done
  return 1
}

# Ask each service to stop (it stops its own children), give them 20 s to finish,
# then kill whatever is left in their process groups.
stop_all() {
  trap '' INT TERM
  [ ${#pids[@]} -gt 0 ] || return 0
  echo "Stopping web server, worker and beat…"
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 100); do any_alive || break; sleep 0.2; done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start "web server (gunicorn)" "$BIN/gunicorn" config.wsgi:application \
  --bind "127.0.0.1:$PORT" --workers "${WEB_CONCURRENCY:-2}" \
  --access-logfile - --graceful-timeout 10 --control-socket "$ACCORD_VAR_DIR/gunicorn.ctl"
start "Celery worker" "$BIN/celery" -A config worker --loglevel=INFO --concurrency=1
start "Celery beat" "$BIN/celery" -A config beat --loglevel=INFO \
  --scheduler config.beat:AccordScheduler \
  --schedule "$ACCORD_VAR_DIR/celerybeat-schedule" --pidfile "$ACCORD_VAR_DIR/celerybeat.pid"

# Say where to log in once the web server answers (or stop waiting if it died).
for _ in $(seq 150); do
  if port_open; then
    cat <<EOF

  Accord is running (data in $ACCORD_VAR_DIR). Ctrl-C stops it.
    Admin          $BASE_URL/admin/
    REST API       $BASE_URL/api/v1/
    API docs       $BASE_URL/api/v1/docs/  and  $BASE_URL/api/v1/redoc/
    OpenAPI schema $BASE_URL/api/v1/schema/

EOF
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.2
done

# None of the three should ever stop on its own: when one does, stop the others.
exited_pid=""
set +e
wait -n -p exited_pid
status=$?
set -e
echo "The ${names[$exited_pid]:-process $exited_pid} stopped (exit status $status); stopping the others." >&2
exit $((status == 0 ? 1 : status))
