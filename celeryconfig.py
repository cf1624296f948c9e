"""Celery's own settings for vurti (lowercase names, read by `app.config_from_object`).

Broker and result backend come from VURTI_REDIS_URL; everything vurti itself
needs is read by vurti.config.Settings.
"""

from __future__ import annotations

import os

broker_url = os.environ.get("VURTI_REDIS_URL") or "redis://127.0.0.1:6379/0"
result_backend = broker_url
broker_connection_retry_on_startup = True
broker_transport_options = {"visibility_timeout": 3600}

task_serializer = "json"
result_serializer = "json"
accept_content = ["json", "msgspec"]  # msgspec: report messages (tasks/serialization.py)
result_expires = 3600

# Idempotent updates: acknowledge after the work, redeliver if a worker dies mid-task.
task_acks_late = True
task_reject_on_worker_lost = True
task_ignore_result = True  # only refresh_host keeps a result, for callers that wait on it
worker_prefetch_multiplier = 4
worker_hijack_root_logger = False
# Task events cost three extra broker messages per task: off by default; start
# workers with -E (or `celery -A tasks control enable_events`) while watching Flower.
worker_send_task_events = os.environ.get("VURTI_TASK_EVENTS", "") == "1"
task_send_sent_event = worker_send_task_events

task_default_queue = "update"
task_routes = {
    "vurti.fetch_host": {"queue": "fetch"},
    "vurti.fetch_hosts": {"queue": "fetch"},
    "vurti.refresh_host": {"queue": "fetch"},
    "vurti.send_commands": {"queue": "fetch"},
    "vurti.update_host": {"queue": "update"},
    "vurti.update_hosts": {"queue": "update"},
    "vurti.drain_outbox": {"queue": "update"},
}

# Beat dispatches the per-host polls itself (tasks.beat.HostScheduler) and runs the
# periodic housekeeping below.
beat_scheduler = "tasks.beat:HostScheduler"
beat_max_loop_interval = 1.0
beat_schedule = {
    "vurti-drain-outbox": {"task": "vurti.drain_outbox", "schedule": 10.0, "options": {"expires": 10.0}},
    "vurti-send-commands": {"task": "vurti.send_commands", "schedule": 10.0, "options": {"expires": 10.0}},
}
