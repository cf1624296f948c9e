"""`vurti bench` as a script: `.venv/bin/python benchmarks/bench.py --hosts 500 --seconds 60` (same options)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vurti.cli.bench_cmd import bench

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    bench()
