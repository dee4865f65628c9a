#!/usr/bin/env bash
# Regenerates the dbt artifacts the ingestion tests read (tests/ingest/dbt_artifacts/), by running
# dbt-core with the dbt-postgres adapter on the checked-in projects (tests/ingest/dbt_projects/)
# against a throwaway PostgreSQL (scripts/pg.sh), and those of the demo warehouse's project
# (ingest/demo_dbt/project/ -> ingest/demo_dbt/target/, which `make run`'s load_demo ingests), run
# on the demo warehouse's own tables (governance.demo.write_demo_warehouse) copied into PostgreSQL.
# Not part of `make test`: the artifacts are checked in. dbt goes in its own virtualenv (DBT_VENV, default /tmp/accord-dbt-venv), since its
# pins differ from Accord's:
#   bash scripts/dbt_fixtures.sh
#   DBT_FIXTURES_ONLY=demo bash scripts/dbt_fixtures.sh    only the demo's (or only "tests")
set -euo pipefail
cd "$(dirname "$0")/.."
DBT_VERSION=1.10.23
DBT_POSTGRES_VERSION=1.10.2
DBT_VENV="${DBT_VENV:-/tmp/accord-dbt-venv}"
ONLY="${DBT_FIXTURES_ONLY:-tests demo}"
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
accord_demo:
  target: warehouse
  outputs:
    warehouse:
      type: postgres
      host: 127.0.0.1
      port: $PG_PORT
      user: accord
      password: ""
      dbname: warehouse
      schema: marts
      threads: 1
YAML
export DBT_PROFILES_DIR="$WORK" DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1
dbt() { "$DBT_VENV/bin/dbt" --no-use-colors --log-level warn "$@"; }
out=tests/ingest/dbt_artifacts
[[ " $ONLY " == *" tests "* ]] && rm -rf "$out"
for project in shop finance; do
  [[ " $ONLY " == *" tests "* ]] || continue
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

# The demo warehouse's project reads the demo's staging leads and its (empty) account dimension: the
# tables as the demo writes them (fixed time), copied into PostgreSQL with their declared types.
SECRET_KEY=dbt-fixtures ACCORD_VAR_DIR="$WORK/var" DJANGO_SETTINGS_MODULE=config.settings .venv/bin/python - \
  "$WORK/demo_warehouse.sqlite3" > "$WORK/demo_warehouse.sql" <<'PY'
import datetime, sqlite3, sys
import django
django.setup()
from governance.demo import write_demo_warehouse
path = sys.argv[1]
write_demo_warehouse(__import__("pathlib").Path(path), at=datetime.datetime(2025, 6, 1, 2, 0))
db = sqlite3.connect(path)
literal = lambda v: "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"
for table in ("staging.stg_leads", "marts.dim_account"):
    schema, name = table.split(".")
    columns = [(row[1], row[2]) for row in db.execute(f'PRAGMA table_info("{table}")')]
    print(f"CREATE SCHEMA IF NOT EXISTS {schema};")
    print(f"CREATE TABLE {table} (" + ", ".join(f'"{c}" {t}' for c, t in columns) + ");")
    for row in db.execute(f'SELECT * FROM "{table}"'):
        print(f"INSERT INTO {table} VALUES (" + ", ".join(map(literal, row)) + ");")
PY
if [[ " $ONLY " == *" demo "* ]]; then
psql_ -f "$WORK/demo_warehouse.sql"
demo=ingest/demo_dbt
cp -r "$demo/project" "$WORK/demo"
cd "$WORK/demo"
dbt run
dbt test || true   # failing and warning tests are part of the demo
mkdir -p "$OLDPWD/$demo/target.new"
cp target/run_results.json "$OLDPWD/$demo/target.new/"
# The catalog of the models only: the sources' columns are the demo warehouse's harvest's to say.
dbt docs generate --select "resource_type:model"
cp target/manifest.json target/catalog.json "$OLDPWD/$demo/target.new/"
cd "$OLDPWD"
rm -rf "$demo/target" && mv "$demo/target.new" "$demo/target"
fi

echo "Artifacts written (${ONLY}) to $out/ and $demo/target/ (dbt-core $DBT_VERSION, dbt-postgres $DBT_POSTGRES_VERSION)"
