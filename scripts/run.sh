#!/usr/bin/env bash
# Set up (see setup.sh) and run the whole system on embedded defaults: a local
# redis-server, SQLite, a simulated fleet, workers and beat. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/vurti run "$@"
