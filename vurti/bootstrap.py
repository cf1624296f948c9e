"""Build vurti's services from Settings: lazily, once per process, after any fork.

Tasks, beat, the CLI and tests all get their parts here; nothing opens a
connection at import time. `reset()` drops every pool so a forked worker child
opens its own (SQLAlchemy and redis-py pools must not cross a fork).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import redis

from vurti.config import Settings

REFRESH_ATTEMPTS = 3  # polls of one manual refresh when periodic polls keep overtaking it


class Services:
    holder: Any = None  # a fetch worker's Holder (hold_connections): it holds its hosts' connections

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock

    def reset(self) -> None:
        """Forget every connection pool (call in a forked child before first use)."""
        for name in list(vars(self)):
            if name not in ("settings", "clock"):
                delattr(self, name)

    # -- connections ---------------------------------------------------------
    @cached_property
    def engine(self) -> Any:
        from vurti.store.db import make_engine

        engine = make_engine(self.settings.database_url)
        if self.bench_recorder is not None:
            self.bench_recorder.count_sql(engine)
        return engine

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                    **self.settings.redis_tls())

    @cached_property
    def agent(self) -> Any:
        """The process's links to hosts (BatchPoller): polls and commands share them."""
        from vurti.agent.aio import BatchPoller

        holder = self.holder
        if holder is None or not self.settings.push:
            poller = BatchPoller(self.settings.agent)
        else:  # the links subscribe to their hosts' events, and say when they stop
            poller = BatchPoller(self.settings.agent, holder.on_event, holder.on_lost)
        # Close its connections before the interpreter tears the loop down (a clean exit, no warnings).
        atexit.register(poller.close)
        return poller

    @cached_property
    def bench_recorder(self) -> Any:
        """Benchmark instrumentation, only when VURTI_BENCH_RECORD is set (`vurti bench`)."""
        from vurti.bench.recorder import make_recorder

        return make_recorder(self.settings.bench_record_url)

    @cached_property
    def worker_metrics(self) -> Any:
        """Prometheus counters of this worker when PROMETHEUS_MULTIPROC_DIR is set, else None."""
        if self.settings.ops.metrics_dir is None:
            return None
        from vurti.metrics.worker import WorkerMetrics

        return WorkerMetrics(self.clock)

    @cached_property
    def recorder(self) -> Any:
        """What the pipeline reports each poll and update to: metrics, the benchmark, both or nothing."""
        found = [r for r in (self.bench_recorder, self.worker_metrics) if r is not None]
        if len(found) < 2:
            return found[0] if found else None
        from vurti.metrics.worker import Recorders

        return Recorders(*found)

    def lock_contended(self, reports: int) -> None:
        """Count reports skipped because another update held their host's lock."""
        if self.worker_metrics is not None:
            self.worker_metrics.contended(reports)

    @cached_property
    def update_outage(self) -> Any:
        """The database as the update tasks see it: one line when it stops answering, one when back."""
        import logging

        from vurti.runtime.outage import DB_DOWN, Outage

        return Outage("updates: the database", logging.getLogger("vurti.update"), DB_DOWN)

    def uow(self, scope: Any = None) -> Any:
        from vurti.store.unit_of_work import Scope, SqlUnitOfWork

        return SqlUnitOfWork(self.engine, scope or Scope())

    # -- runtime state in Redis ------------------------------------------------
    @cached_property
    def schedule(self) -> Any:
        from vurti.runtime.schedule import PollSchedule

        policy = self.settings.policy
        return PollSchedule(self.redis, policy.refresh_interval, policy.push_interval)

    @cached_property
    def members(self) -> Any:
        from vurti.runtime.members import Members

        return Members(self.redis)

    @cached_property
    def push(self) -> Any:
        from vurti.runtime.push import PushRegistry

        return PushRegistry(self.redis)

    @cached_property
    def cache(self) -> Any:
        from vurti.runtime.host_cache import HostCache

        return HostCache(self.redis)

    @cached_property
    def host_names(self) -> Any:
        from vurti.runtime.host_names import HostNames

        return HostNames(self.redis)

    @cached_property
    def locks(self) -> Any:
        from vurti.runtime.locking import HostLocks

        return HostLocks(self.redis, self.settings.lock_ttl)

    # -- services ------------------------------------------------------------
    @cached_property
    def bus(self) -> Any:
        from vurti.bus.messagebus import MessageBus
        from vurti.bus.subscribers import AuditLog, LiveFeed

        # The one registry of subscribers: each with the event types it takes (None: all).
        return MessageBus({AuditLog(self.uow): None, LiveFeed(self.redis): None}, self.uow, self.clock)

    @cached_property
    def fetch(self) -> Any:
        from vurti.pipeline.fetch import FetchService

        agent = self.settings.agent
        return FetchService(
            self.agent,
            self.cache,
            self.settings.policy,
            self.host_url,
            self.clock,
            guard_ttl=3 * (agent.connect_timeout + agent.read_timeout),
            pending_window=self.settings.lock_ttl,
            recorder=self.recorder,
            holder=self.holder,
        )

    @cached_property
    def update(self) -> Any:
        from vurti.pipeline.update import UpdateService

        return UpdateService(self.uow, self.locks, self.bus, self.cache, self.settings.policy, self.clock,
                             recorder=self.recorder)

    @cached_property
    def commands(self) -> Any:
        from vurti.agent import HostCommands
        from vurti.pipeline.commands import CommandService

        agent = self.settings.agent
        return CommandService(HostCommands(self.agent), self.uow, self.bus, self.clock,
                              call_time=agent.connect_timeout + agent.read_timeout)

    @cached_property
    def operations(self) -> Any:
        from vurti.operations import EngineOperations

        return EngineOperations(self.uow, self.settings.policy, self.clock)

    def hold_connections(self, member: str, send: Callable[[list[Any]], None]) -> Any:
        """Make this process a connection holder (a fetch worker), before its first poll."""
        from vurti.pipeline.holder import Holder

        self.holder = Holder(member, self.members, self.push, send, self.clock)
        return self.holder

    # -- operations used by tasks, beat and the CLI ---------------------------
    def host_url(self, host_id: str) -> str | None:
        with self.uow() as uow:
            found = uow.hosts.get_host(host_id)
        return found.url if found is not None else None

    def resolve_host(self, name_or_id: str) -> Any:
        with self.uow() as uow:
            return uow.hosts.get_host(name_or_id) or uow.hosts.get_host_by_name(name_or_id)

    def sync_schedule(self, now: float) -> tuple[int, int]:
        """Make the Redis schedule and poll cache match the hosts in the database.

        Only what changed since this process's last sync is written, except on the syncs
        that read Redis back (`PollSchedule.full_sync_due`)."""
        with self.uow() as uow:
            configs = uow.hosts.list_host_configs()
            clusters = {c.id: c for c in uow.hosts.list_clusters()}
        policy = self.settings.policy
        wanted, push_intervals = {}, {}
        for config in configs:
            cluster = clusters.get(config.cluster_id)
            wanted[config.id] = cluster.refresh_interval if cluster else policy.refresh_interval
            push_intervals[config.id] = cluster.push_interval if cluster else policy.push_interval
        self.host_names.sync({config.id: config.name for config in configs})
        full = self.schedule.full_sync_due(now)
        self.cache.sync_urls({config.id: config.url for config in configs}, verify=full)
        return self.schedule.sync(wanted, now, push_intervals, full=full)

    def purge(self) -> Any:
        """Delete rows older than the retention settings allow (outbox, audit, commands, statistics)."""
        from vurti.store.retention import purge

        return purge(self.uow, self.settings.retention, self.clock())

    def refresh(self, name_or_id: str) -> Any:
        """One immediate fetch and update of a host, waiting for its lock; what changed.

        A periodic poll fetched after this one but applied first makes this report
        stale: the host is then polled again, so that a refresh reports on a poll
        made after it was asked for (up to REFRESH_ATTEMPTS times).
        """
        from vurti.pipeline.update import STALE_REPORT, UpdateOutcome

        host = self.resolve_host(name_or_id)
        if host is None:
            return UpdateOutcome(name_or_id, False, "no such host")
        self.cache.put_host(host.id, host.url)
        for _attempt in range(REFRESH_ATTEMPTS):
            (outcome,) = self.fetch.fetch_many([(host.id, None)], force=True)
            if outcome.report is None:
                return UpdateOutcome(host.id, False, f"skipped: {outcome.skipped}")
            result = self.update.update(outcome.report, wait_for_lock=self.settings.lock_ttl)
            if result.reason != STALE_REPORT:
                break
        if result.commands:
            self.commands.run_due(host.id)
        return result


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    """The process's Services, built from the environment on first use."""
    global _services
    with _lock:
        if _services is None:
            _services = Services(Settings.from_env())
        return _services


def set_services(value: Services | None) -> None:
    """Install prebuilt services (tests, the CLI with explicit settings)."""
    global _services
    with _lock:
        _services = value
