#!/usr/bin/env bash
# Set up (see setup.sh, with PostgreSQL), lint (ruff, over everything) and type-check
# (mypy, on the targets pyproject.toml names), then run every test: unit, integration
# (real redis-server and PostgreSQL) and end-to-end (real celery worker and beat).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --postgres
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
