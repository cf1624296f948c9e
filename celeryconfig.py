"""Celery's own settings for vurti (lowercase names, read by `app.config_from_object`).

Broker and result backend come from VURTI_REDIS_URL; everything vurti itself
needs is read by vurti.config.Settings.
"""

from __future__ import annotations

import os

from tasks.queues import FETCH, UPDATE
from vurti.config import Settings

# Validated here too, so a worker or beat with unusable settings stops at start with the reason.
_settings = Settings.from_env()

broker_url = _settings.redis_url  # redis://:PASSWORD@HOST:PORT/DB; Celery masks the password in its banner
result_backend = broker_url
if _settings.redis_tls():  # rediss://: the broker and results over TLS, the server's certificate verified
    import ssl

    broker_use_ssl = {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        **{k: v for k, v in _settings.redis_tls().items() if k != "ssl_cert_reqs"},
    }
    redis_backend_use_ssl = broker_use_ssl
broker_connection_retry_on_startup = True
# With acks late, Redis hands the messages a worker took but never acknowledged (the one it
# ran and those it prefetched) to another worker only after this timeout. A worker killed
# outright (kill -9, OOM, a lost machine; with -P solo nothing else is left to requeue them)
# thus delays those polls' updates by up to this long, so it is short: two minutes. It must
# exceed the longest a taken message waits and runs (prefetch x the update time limit, 4 x
# 20 s by default; no task is sent with a countdown), or a message still queued in a live
# worker is delivered twice; updates are idempotent (fencing tokens, report timestamps,
# outbox digests), so that would cost work only. Workers look for such messages every 10 s
# (kombu's default sweep is every 10th of those: 100 s more). Measured with a solo worker
# killed by kill -9 mid-task: its message ran again 122 s later (204 s with only the
# timeout lowered, an hour before).
# queue_order_strategy "priority": a worker reads its queues in the order it lists them, so an
# update worker takes a pushed event (`events`, listed first: tasks/queues.py) before queued polls.
broker_transport_options = {"visibility_timeout": 120, "unacked_restore_interval": 10, "unacked_restore_throttle": 1,
                            "queue_order_strategy": "priority"}

task_serializer = "json"
result_serializer = "json"
accept_content = ["json", "msgspec"]  # msgspec: report messages (tasks/serialization.py)
result_expires = 3600

# Idempotent updates: acknowledge after the work, redeliver if a worker dies mid-task.
task_acks_late = True
task_reject_on_worker_lost = True
task_ignore_result = True  # only refresh_host and expect_operation keep a result, for callers that wait on it
# One message per pool slot: the next waits in the broker, where an event can pass it, rather
# than in the worker's buffer behind a statistics batch (a fetch worker's 16 threads still
# hold 16 messages).
worker_prefetch_multiplier = 1

# Time limits below the lock TTL: a hung update is killed before its lock can expire under it
# (VURTI_UPDATE_TIME_LIMIT < VURTI_LOCK_TTL is checked by Settings). Enforced by the prefork
# pool; solo and threads pools cannot interrupt a task, the lease checks and fencing remain.
_update_limits = {"time_limit": _settings.update_time_limit, "soft_time_limit": 0.8 * _settings.update_time_limit}
task_annotations = {
    "vurti.update_host": _update_limits,
    "vurti.update_hosts": _update_limits,
    "vurti.drain_outbox": _update_limits,
}
worker_hijack_root_logger = False
# Task events cost three extra broker messages per task: off by default; start
# workers with -E (or `celery -A tasks control enable_events`) while watching Flower.
worker_send_task_events = os.environ.get("VURTI_TASK_EVENTS", "") == "1"
task_send_sent_event = worker_send_task_events

task_default_queue = UPDATE
task_routes = {  # pushed events: update_hosts sent to EVENTS (tasks/holding.py)
    "vurti.fetch_host": {"queue": FETCH},
    "vurti.fetch_hosts": {"queue": FETCH},
    "vurti.refresh_host": {"queue": FETCH},
    "vurti.send_commands": {"queue": FETCH},
    "vurti.update_host": {"queue": UPDATE},
    "vurti.update_hosts": {"queue": UPDATE},
    "vurti.drain_outbox": {"queue": UPDATE},
    "vurti.purge": {"queue": UPDATE},
    "vurti.expect_operation": {"queue": UPDATE},
}

# Beat dispatches the per-host polls itself (tasks.beat.HostScheduler) and runs the
# periodic housekeeping below.
beat_scheduler = "tasks.beat:HostScheduler"
beat_max_loop_interval = 1.0
beat_schedule = {
    "vurti-drain-outbox": {"task": "vurti.drain_outbox", "schedule": 10.0, "options": {"expires": 10.0}},
    "vurti-send-commands": {"task": "vurti.send_commands", "schedule": 10.0, "options": {"expires": 10.0}},
    # Retention (VURTI_RETAIN_*): rows past their time, never an event still to deliver.
    "vurti-purge": {"task": "vurti.purge", "schedule": 3600.0, "options": {"expires": 3600.0}},
}
