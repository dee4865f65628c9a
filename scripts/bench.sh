#!/usr/bin/env bash
# The benchmarks (`make bench`): a throwaway PostgreSQL 15, migrated, and five benchmark modules:
#   catalog     the API against raw SQL on a generated catalog (10,000 then 1,000,000 fields)
#   trust       reads with 10,000 deny rules against none; writes with the audit chain against without
#   compliance  data checks on 1,000,000 rows against one SQL statement; 1,000 contracts through
#               real Celery workers and Redis (one, then two workers)
#   harvest     harvesting a generated source of 5,000 tables and 250,000 columns against reading its
#               catalog and bulk-copying the rows; unchanged and changed re-harvests; peak memory
#   ingest      ingesting a generated dbt project of 5,000 models and 100,000 columns against parsing it
#               and bulk-copying the rows; the same artifacts again against parsing alone
#   scorecard   the scorecard at 50,000 datasets / 1,040,000 fields against its aggregates in hand-written SQL,
#               with and without 10,000 deny rules
#   lineage_map the lineage map of depth 3 on 100,000 edges against the same walk in hand-written SQL,
#               with and without 10,000 deny rules
#   BENCH_ONLY="trust compliance" make bench   run only these modules (default: all of them, in this order)
#   BENCH_SCALE=small make bench               quick run (smaller data, fewer iterations)
#   BENCH_PROFILE=1                            also write cProfile reports and query plans
#   BENCH_STRICT=1                             exit 1 when a target is missed
# Results: bench/results/ (JSON per run; <module>-latest.md with each summary table).
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
# The benchmarks build their catalogs and users outside any request or system actor (a throwaway
# database); the timed requests and writes carry their own actors.
export ACCORD_AUDIT_REQUIRE_ACTOR=false
export BENCH_SCALE="${BENCH_SCALE:-full}"
export BENCH_TEMPLATE_DB=accord_migrated
BENCH_ONLY="${BENCH_ONLY:-catalog trust compliance harvest ingest scorecard lineage_map}"
mkdir -p "$ACCORD_VAR_DIR/static" bench/results

pg_start
echo "== migrate"
$BIN/python manage.py migrate --verbosity 0
# The trust and compliance benchmarks build their databases from this empty, migrated copy
# (the catalog benchmark fills the migrated database itself).
_pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U accord -T accord "$BENCH_TEMPLATE_DB"

failed=()
for module in ${BENCH_ONLY//,/ }; do
  case "$module" in
    catalog|trust|compliance|harvest|ingest|scorecard|lineage_map) ;;
    *) echo "BENCH_ONLY: unknown benchmark '$module' (catalog, trust, compliance, harvest, ingest, scorecard, lineage_map)" >&2; exit 2 ;;
  esac
  echo "== $module benchmark (BENCH_SCALE=$BENCH_SCALE)"
  started=$SECONDS
  if ! $BIN/python -m "bench.${module}_bench"; then
    failed+=("$module")
  fi
  echo "== $module benchmark: $((SECONDS - started)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "Failed or missed a target (BENCH_STRICT=1): ${failed[*]}" >&2
  exit 1
fi
