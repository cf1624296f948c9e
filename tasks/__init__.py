"""Celery wiring for vurti: `celery -A tasks worker|beat` finds `app` here.

Tasks are thin: they turn messages into calls on the services that
vurti.bootstrap builds once per worker process, after the fork.
"""

from __future__ import annotations

import sys

from celery import Celery

from tasks import serialization  # noqa: F401 - registers the report serializer before any message
from vurti.config import ConfigError, Settings

try:  # a worker or beat with unusable settings stops here, with one line naming the variable
    Settings.from_env()
except ConfigError as exc:
    sys.stderr.write(f"vurti: bad configuration: {exc}\n")
    raise SystemExit(2) from None

app = Celery("vurti", set_as_current=False, include=["tasks.monitoring", "tasks.holding"])
app.config_from_object("celeryconfig")

__all__ = ["app"]
