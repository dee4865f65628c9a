#!/usr/bin/env bash
# Debian packages the test run needs, installed when missing:
#   chromium      the admin UI tests drive it through Playwright
#   redis-server  the reliability test runs a real Celery worker on a real Redis
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "Installing Debian packages for the tests: ${missing[*]}…"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
