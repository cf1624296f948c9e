"""Settings, read once from the environment into a frozen object.

Every process (worker, beat, CLI) calls `Settings.from_env()` once and passes the
result down; nothing else reads the environment. Secrets are kept out of reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from vurti.domain.policy import MonitoringPolicy


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class AgentSettings:
    """How to talk to host agents: timeouts always set, TLS verified when https."""

    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = field(default=None, repr=False)
    max_reply_bytes: int = 16 * 1024 * 1024
    pool_size: int = 64  # connections per process, and agent calls in flight at once


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default="sqlite:///vurti.db", repr=False)
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    agent: AgentSettings = field(default_factory=AgentSettings)
    policy: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    lock_ttl: float = 30.0  # seconds; longer than an update task's time limit
    fetch_batch: int = 50  # hosts per fetch_hosts message when many are due at once
    fetch_backlog: int = 20  # fetch messages queued before beat stops claiming due hosts
    update_backlog: int = 40  # update messages queued before beat stops claiming due hosts
    bench_record_url: str | None = field(default=None, repr=False)  # Redis for `vurti bench` records; off if None
    ops: OpsSettings = field(default_factory=lambda: OpsSettings())

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={redact_url(self.database_url)!r}, redis_url={redact_url(self.redis_url)!r}, "
            f"agent={self.agent!r}, policy={self.policy!r}, lock_ttl={self.lock_ttl!r}, "
            f"fetch_batch={self.fetch_batch!r}, fetch_backlog={self.fetch_backlog!r}, "
            f"update_backlog={self.update_backlog!r}, ops={self.ops!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        agent = AgentSettings(
            connect_timeout=_float(env, "VURTI_AGENT_CONNECT_TIMEOUT", 2.0),
            read_timeout=_float(env, "VURTI_AGENT_READ_TIMEOUT", 10.0),
            verify_tls=_bool(env, "VURTI_AGENT_VERIFY_TLS", True),
            ca_file=_path(env, "VURTI_AGENT_CA_FILE"),
            cert_file=_path(env, "VURTI_AGENT_CERT_FILE"),
            key_file=_path(env, "VURTI_AGENT_KEY_FILE"),
            max_reply_bytes=_int(env, "VURTI_AGENT_MAX_REPLY_BYTES", 16 * 1024 * 1024),
            pool_size=_int(env, "VURTI_AGENT_POOL_SIZE", 64),
        )
        policy = MonitoringPolicy(
            refresh_interval=_float(env, "VURTI_REFRESH_INTERVAL", 3.0),
            stats_every=_int(env, "VURTI_STATS_EVERY", 5),
            reset_timeout=_float(env, "VURTI_RESET_TIMEOUT", 60.0),
            reset_delay_per_vm=_float(env, "VURTI_RESET_DELAY_PER_VM", 0.5),
            reset_delay_spm=_float(env, "VURTI_RESET_DELAY_SPM", 20.0),
            reset_attempts=_int(env, "VURTI_RESET_ATTEMPTS", 2),
            recovery_timeout=_float(env, "VURTI_RECOVERY_TIMEOUT", 180.0),
        )
        return cls(
            database_url=env.get("VURTI_DATABASE_URL") or f"sqlite:///{Path('vurti.db').resolve()}",
            redis_url=env.get("VURTI_REDIS_URL") or "redis://127.0.0.1:6379/0",
            agent=agent,
            policy=policy,
            lock_ttl=_float(env, "VURTI_LOCK_TTL", 30.0),
            fetch_batch=_int(env, "VURTI_FETCH_BATCH", 50),
            fetch_backlog=_int(env, "VURTI_FETCH_BACKLOG", 20),
            update_backlog=_int(env, "VURTI_UPDATE_BACKLOG", 40),
            bench_record_url=env.get("VURTI_BENCH_RECORD") or None,
            ops=OpsSettings.from_env(env),
        )


LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class OpsSettings:
    """Operations: task events for Flower, Flower's login, log format, metrics."""

    task_events: bool = False  # workers send the task events Flower shows (extra broker messages)
    flower_auth: str | None = field(default=None, repr=False)  # "user:password" for Flower's basic auth
    log_format: str = "text"  # text | json (one JSON object per line)
    metrics_dir: str | None = None  # prometheus_client's multiprocess directory; worker metrics off if None
    metrics_port: int = 9108  # `vurti metrics` listens here

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OpsSettings:
        auth = env.get("VURTI_FLOWER_AUTH") or None
        if auth is not None and (":" not in auth or not auth.split(":", 1)[0] or not auth.split(":", 1)[1]):
            raise ConfigError("VURTI_FLOWER_AUTH must be user:password")
        log_format = (env.get("VURTI_LOG_FORMAT") or "text").strip().lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"VURTI_LOG_FORMAT={log_format!r} must be one of {', '.join(LOG_FORMATS)}")
        metrics_dir = env.get("PROMETHEUS_MULTIPROC_DIR") or None  # prometheus_client's own name
        if metrics_dir is not None and not Path(metrics_dir).is_dir():
            raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={metrics_dir!r}: no such directory")
        port = _int(env, "VURTI_METRICS_PORT", 9108)
        if port > 65535:
            raise ConfigError(f"VURTI_METRICS_PORT={port} is not a port")
        return cls(
            task_events=_bool(env, "VURTI_TASK_EVENTS", False),
            flower_auth=auth,
            log_format=log_format,
            metrics_dir=metrics_dir,
            metrics_port=port,
        )

    @property
    def flower_user(self) -> str | None:
        return self.flower_auth.split(":", 1)[0] if self.flower_auth else None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _path(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if not Path(raw).is_file():
        raise ConfigError(f"{name}={raw!r}: no such file")
    return raw
