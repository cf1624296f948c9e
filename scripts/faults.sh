#!/usr/bin/env bash
# The fault suite (docs/reliability.md): every case, or `--short`, `--case NAME`, `--db postgres`.
# Real redis-server, PostgreSQL, celery workers and beat, and the simulator; prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh --postgres
exec .venv/bin/python -m vurti.cli.main faults "$@"
