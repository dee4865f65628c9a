#!/usr/bin/env bash
# Regenerates the dbt artifacts the ingestion tests read (tests/ingest/dbt_artifacts/), by running
# dbt-core with the dbt-postgres adapter on the checked-in projects (tests/ingest/dbt_projects/)
# against a throwaway PostgreSQL (scripts/pg.sh). Not part of `make test`: the artifacts are
# checked in. dbt goes in its own virtualenv (DBT_VENV, default /tmp/accord-dbt-venv), since its
# pins differ from Accord's:
#   bash scripts/dbt_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DBT_VERSION=1.10.23
DBT_POSTGRES_VERSION=1.10.2
DBT_VENV="${DBT_VENV:-/tmp/accord-dbt-venv}"
if [ ! -x "$DBT_VENV/bin/dbt" ]; then
  python3 -m venv "$DBT_VENV"
  "$DBT_VENV/bin/pip" install --quiet "dbt-core==$DBT_VERSION" "dbt-postgres==$DBT_POSTGRES_VERSION"
fi
source scripts/pg.sh
WORK=$(mktemp -d /tmp/accord-dbt.XXXXXX)
trap 'pg_stop; rm -rf "$WORK"' EXIT
pg_start >/dev/null
psql_() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U accord -d warehouse -v ON_ERROR_STOP=1 -q "$@"; }
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U accord warehouse
psql_ -c "CREATE SCHEMA crm; CREATE TABLE crm.accounts (account_id bigint PRIMARY KEY, account_name text);
          INSERT INTO crm.accounts VALUES (1, 'Acme');"
cat > "$WORK/profiles.yml" <<YAML
accord_fixtures:
  target: warehouse
  outputs:
    warehouse:
      type: postgres
      host: 127.0.0.1
      port: $PG_PORT
      user: accord
      password: ""
      dbname: warehouse
      schema: public
      threads: 1
YAML
export DBT_PROFILES_DIR="$WORK" DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1
dbt() { "$DBT_VENV/bin/dbt" --no-use-colors --log-level warn "$@"; }
out=tests/ingest/dbt_artifacts
rm -rf "$out"
for project in shop finance; do
  cp -r "tests/ingest/dbt_projects/$project" "$WORK/$project"
  cd "$WORK/$project"
  # A dbt build in steps, so run_results.json is the tests' (`dbt docs generate` writes its own).
  [ -d seeds ] && dbt seed --target-path target
  dbt run
  [ -d snapshots ] && dbt snapshot
  dbt test || true   # failing tests are part of the fixture
  mkdir -p "$OLDPWD/$out/$project/built"
  cp target/run_results.json "$OLDPWD/$out/$project/built/"
  dbt docs generate
  cp target/manifest.json target/catalog.json "$OLDPWD/$out/$project/built/"
  # `dbt parse` alone writes a manifest without compiled code (as `dbt test` does in dbt 1.12).
  rm -rf target && dbt parse
  mkdir -p "$OLDPWD/$out/$project/parsed" && cp target/manifest.json "$OLDPWD/$out/$project/parsed/"
  cd "$OLDPWD"
done
echo "Artifacts written to $out/ (dbt-core $DBT_VERSION, dbt-postgres $DBT_POSTGRES_VERSION)"
