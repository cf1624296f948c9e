#!/usr/bin/env bash
# Install what vurti needs on a Debian machine: redis-server (and, with --postgres,
# what the tests need: PostgreSQL, Prometheus, and Chromium for the Flower browser
# test) through apt when missing, then a virtualenv in .venv with the Python
# packages and vurti itself. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want_pg=0
[ "${1:-}" = "--postgres" ] && want_pg=1

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "$want_pg" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ "$want_pg" = 1 ]; then
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing with apt: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
