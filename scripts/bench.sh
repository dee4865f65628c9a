#!/usr/bin/env bash
# The benchmarks (`make bench`): a throwaway PostgreSQL 15, migrated, filled with a
# generated catalog (10,000 then 1,000,000 fields), and the API timed against raw SQL.
#   BENCH_SCALE=small make bench   quick run (5,000 datasets at most, fewer iterations)
#   BENCH_PROFILE=1                also write cProfile reports and query plans
#   BENCH_STRICT=1                 exit 1 when a target is missed
# Results: bench/results/ (JSON per run, catalog-latest.md with the summary table).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
source scripts/pg.sh
export PYTHON_FOR_PORT=$BIN/python

WORK=$(mktemp -d /tmp/accord-bench.XXXXXX)
cleanup() { pg_stop; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

export DJANGO_SETTINGS_MODULE=config.settings
export ACCORD_VAR_DIR="$WORK/var"
export SECRET_KEY=bench-only-secret-key-not-for-production
export DEBUG=false
export LOG_LEVEL=WARNING
export BENCH_SCALE="${BENCH_SCALE:-full}"
mkdir -p "$ACCORD_VAR_DIR/static" bench/results

pg_start
echo "== migrate"
$BIN/python manage.py migrate --verbosity 0
echo "== catalog benchmark (BENCH_SCALE=$BENCH_SCALE)"
$BIN/python -m bench.catalog_bench
