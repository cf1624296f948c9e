"""Celery wiring for vurti: `celery -A tasks worker|beat` finds `app` here.

Tasks are thin: they turn messages into calls on the services that
vurti.bootstrap builds once per worker process, after the fork.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from tasks import serialization  # noqa: F401 - registers the report serializer before any message
from vurti.config import ConfigError, Settings

try:  # a worker or beat with unusable settings stops here, with one line naming the variable
    Settings.from_env()
except ConfigError as exc:
    sys.stderr.write(f"vurti: bad configuration: {exc}\n")
    raise SystemExit(2) from None

app = Celery("vurti", set_as_current=False, include=["tasks.queues", "tasks.monitoring", "tasks.holding"])
app.config_from_object("celeryconfig")


@setup_logging.connect
def _logging(loglevel: Any = None, **_: Any) -> None:
    """Workers and beat log through vurti.logs: text or JSON lines, hosts named, secrets masked."""
    from vurti.bootstrap import services
    from vurti.logs import configure_from_services

    configure_from_services(services(), loglevel or "INFO")


__all__ = ["app"]
