"""`vurti metrics`: one HTTP endpoint for Prometheus with the fleet's state (read from
Redis and the database on each scrape) and, when PROMETHEUS_MULTIPROC_DIR is set, the
counters and histograms the workers on this machine wrote there.

One exporter for the fleet's state rather than a gauge per worker: every worker would
report the same queues and tables, and a state read once per scrape costs the workers
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vurti.metrics.fleet_state import FleetState

log = logging.getLogger(__name__)


class FleetCollector(Collector):
    def __init__(self, read: Callable[[], FleetState]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("vurti_exporter_read_ok", "1 if Redis and the database answered this scrape")
        try:
            state = self._read()
        except Exception:
            log.exception("reading the fleet's state failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _by("vurti_hosts", "Hosts by status", "status", state.hosts_by_status)
        yield _by("vurti_vms", "VMs by status", "status", state.vms_by_status)
        yield _by("vurti_queue_depth", "Messages waiting in a Celery queue", "queue", state.queue_depths)
        yield _one("vurti_hosts_scheduled", "Hosts in the poll schedule", state.hosts_scheduled)
        yield _one("vurti_hosts_overdue", "Hosts due for a poll longer than two intervals ago, not yet claimed",
                   state.hosts_overdue)
        yield _one("vurti_schedule_oldest_due_seconds", "How long the most overdue host has waited for its poll",
                   state.oldest_due_seconds)
        yield _by("vurti_outbox_pending", "Events not yet delivered, per subscriber", "subscriber",
                  state.outbox_pending)
        yield _by("vurti_outbox_oldest_pending_seconds", "Age of each subscriber's oldest undelivered event",
                  "subscriber", state.outbox_oldest_seconds)
        yield _by("vurti_host_commands", "Host commands (VM.destroy) by state: pending, done (sent), failed",
                  "state", state.commands_by_state)


def _by(name: str, doc: str, label: str, values: dict[str, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


def _one(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def build_registry(read: Callable[[], FleetState], multiproc_dir: str | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(FleetCollector(read))
    if multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    return registry


def serve(svc: Any, bind: str, port: int) -> Any:
    """Start the endpoint in a thread; the HTTP server, for shutdown."""
    from vurti.metrics.fleet_state import read_fleet

    interval = svc.settings.policy.refresh_interval

    def read() -> FleetState:
        return read_fleet(svc.engine, svc.redis, time.time(), interval)

    registry = build_registry(read, svc.settings.ops.metrics_dir)
    server, _thread = start_http_server(port, addr=bind, registry=registry)
    return server
