#!/usr/bin/env bash
# The whole test run: the JavaScript build, lint, migrations check, OpenAPI schema without warnings,
# then the pytest suite on a throwaway PostgreSQL 15 and again on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
source scripts/pg.sh
export PYTHON_FOR_PORT=$BIN/python

WORK=$(mktemp -d /tmp/accord-test.XXXXXX)
cleanup() { pg_stop; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

export DJANGO_SETTINGS_MODULE=config.settings_test
export ACCORD_VAR_DIR="$WORK/var"
export SECRET_KEY=test-only-secret-key-not-for-production

echo "== JavaScript build (scripts/build_js.sh)"
bash scripts/build_js.sh
echo "== datacontract-cli for the interop tests (.venv-interop, cached)"
bash scripts/ensure_datacontract.sh >/dev/null
echo "== ruff"
$BIN/ruff check .
echo "== makemigrations --check"
$BIN/python manage.py makemigrations --check --dry-run
echo "== OpenAPI schema (warnings are errors)"
$BIN/python manage.py spectacular --validate --fail-on-warn --file "$WORK/openapi.yaml"

echo "== pytest on PostgreSQL 15 (schemathesis: at least ${ST_MIN_CASES:-5000} cases per token)"
pg_start
ST_EXAMPLES=${ST_EXAMPLES:-10} ST_STATEFUL=${ST_STATEFUL:-20} ST_MIN_CASES=${ST_MIN_CASES:-5000} \
    $BIN/python -m pytest -p no:cacheprovider "$@"
pg_stop
unset DATABASE_URL

echo "== pytest on SQLite (schemathesis: a few cases per operation)"
ST_EXAMPLES=3 ST_STATEFUL=3 ST_MIN_CASES=0 $BIN/python -m pytest -p no:cacheprovider "$@"
