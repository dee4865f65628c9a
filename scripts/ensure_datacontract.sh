#!/usr/bin/env bash
# datacontract-cli 1.2.8 for the interop tests (tests/interop/), in its own virtualenv.
#
# Its dependencies are not Accord's (it pins open-data-contract-standard 3.2 and its own pydantic, and
# brings ibis, pandas and pyarrow), so it lives beside .venv in .venv-interop (gitignored), installed with
# --no-deps from requirements-interop.txt, the full pinned set. The install is cached: when the stamp in
# the venv matches the checksum of requirements-interop.txt nothing is installed (no network needed).
# A fresh build takes under a minute (about 500 MB).
#
# Prints the path of the datacontract executable on success. Override the location with
# ACCORD_INTEROP_VENV, the interpreter with PYTHON (default python3, 3.10-3.14).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ACCORD_INTEROP_VENV:-$PWD/.venv-interop}
REQUIREMENTS=$PWD/requirements-interop.txt
STAMP=$VENV/.requirements.sha256
WANT=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)

if [ -x "$VENV/bin/datacontract" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "$VENV/bin/datacontract"
  exit 0
fi

echo "Building $VENV with datacontract-cli from requirements-interop.txt…" >&2
started=$SECONDS
rm -rf "$VENV"
"${PYTHON:-python3}" -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS" >&2
# --no-deps trusts the list: check it is complete and consistent.
"$VENV/bin/pip" check >&2
"$VENV/bin/datacontract" --version >&2
echo "$WANT" >"$STAMP"
echo "Built $VENV in $((SECONDS - started)) s." >&2
echo "$VENV/bin/datacontract"
