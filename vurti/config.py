"""Settings, read once from the environment into a frozen object.

Every process (worker, beat, CLI) calls `Settings.from_env()` once and passes the
result down; nothing else reads the environment. Secrets are kept out of reprs.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from vurti.domain.policy import MAX_INTERVAL, MIN_INTERVAL, MonitoringPolicy


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and reprs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a port that is not a number: keep nothing between "//" and "@"
        return re.sub(r"//[^/@]*@", "//***@", url)
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class AgentSettings:
    """How to talk to host agents: timeouts always set, TLS verified for stomps:// addresses."""

    connect_timeout: float = 2.0  # TCP connect, TLS handshake and CONNECTED together
    read_timeout: float = 10.0  # longest wait for the reply to one call
    heartbeat: float = 15.0  # seconds between the host's heart-beats; 1.5 of them silent breaks the link
    verify_tls: bool = True
    ca_file: str | None = None
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = field(default=None, repr=False)
    max_reply_bytes: int = 16 * 1024 * 1024
    pool_size: int = 64  # connections per process, and agent calls in flight at once


@dataclass(frozen=True)
class RetentionSettings:
    """Days each kind of row is kept (VURTI_RETAIN_*_DAYS)."""

    outbox_days: float = 1.0  # delivered events (the audit log keeps their lines)
    audit_days: float = 30.0
    commands_days: float = 7.0  # finished host commands (longer than a command's repeat window)
    stats_days: float = 7.0  # statistics of VMs not reported since


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
        port = _int(env, "VURTI_METRICS_PORT", 9108, 1, 65535)
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


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default="sqlite:///vurti.db", repr=False)
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    agent: AgentSettings = field(default_factory=AgentSettings)
    policy: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    lock_ttl: float = 30.0  # seconds; longer than an update task's time limit
    update_time_limit: float = 20.0  # seconds an update task may run before it is killed (prefork)
    fetch_batch: int = 50  # hosts per fetch_hosts message when many are due at once
    fetch_backlog: int = 20  # fetch messages queued before beat stops claiming due hosts
    update_backlog: int = 40  # update messages queued before beat stops claiming due hosts
    push: bool = True  # fetch workers subscribe to their hosts' events; polls become the safety net
    bench_record_url: str | None = field(default=None, repr=False)  # Redis for `vurti bench` records; off if None
    redis_ca_file: str | None = None  # rediss://: the CA that signed Redis' certificate (else the system's)
    redis_cert_file: str | None = None  # rediss://: a client certificate, when Redis asks for one
    redis_key_file: str | None = field(default=None, repr=False)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={redact_url(self.database_url)!r}, redis_url={redact_url(self.redis_url)!r}, "
            f"agent={self.agent!r}, policy={self.policy!r}, lock_ttl={self.lock_ttl!r}, "
            f"update_time_limit={self.update_time_limit!r}, "
            f"fetch_batch={self.fetch_batch!r}, fetch_backlog={self.fetch_backlog!r}, "
            f"update_backlog={self.update_backlog!r}, push={self.push!r}, retention={self.retention!r}, "
            f"ops={self.ops!r})"
        )

    def redis_tls(self) -> dict[str, str]:
        """redis-py's TLS options for a rediss:// URL (certificates always verified); {} otherwise."""
        if not self.redis_url.startswith("rediss://"):
            return {}
        options = {"ssl_cert_reqs": "required"}
        for name, value in (("ssl_ca_certs", self.redis_ca_file), ("ssl_certfile", self.redis_cert_file),
                            ("ssl_keyfile", self.redis_key_file)):
            if value:
                options[name] = value
        return options

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        agent = AgentSettings(
            connect_timeout=_float(env, "VURTI_AGENT_CONNECT_TIMEOUT", 2.0, 0.01, 300.0),
            read_timeout=_float(env, "VURTI_AGENT_READ_TIMEOUT", 10.0, 0.01, 3600.0),
            heartbeat=_float(env, "VURTI_AGENT_HEARTBEAT", 15.0, 1.0, 3600.0),
            verify_tls=_bool(env, "VURTI_AGENT_VERIFY_TLS", True),
            ca_file=_path(env, "VURTI_AGENT_CA_FILE"),
            cert_file=_path(env, "VURTI_AGENT_CERT_FILE"),
            key_file=_path(env, "VURTI_AGENT_KEY_FILE"),
            max_reply_bytes=_int(env, "VURTI_AGENT_MAX_REPLY_BYTES", 16 * 1024 * 1024, 1024, 2**31),
            pool_size=_int(env, "VURTI_AGENT_POOL_SIZE", 64, 1, 10_000),
        )
        policy = MonitoringPolicy(
            refresh_interval=_float(env, "VURTI_REFRESH_INTERVAL", 3.0, MIN_INTERVAL, MAX_INTERVAL),
            push_interval=_float(env, "VURTI_PUSH_INTERVAL", 15.0, MIN_INTERVAL, MAX_INTERVAL),
            stats_every=_int(env, "VURTI_STATS_EVERY", 5, 1, 10_000),
            reset_timeout=_float(env, "VURTI_RESET_TIMEOUT", 60.0, 0.0, DAY),
            reset_delay_per_vm=_float(env, "VURTI_RESET_DELAY_PER_VM", 0.5, 0.0, 3600.0),
            reset_delay_spm=_float(env, "VURTI_RESET_DELAY_SPM", 20.0, 0.0, 3600.0),
            reset_attempts=_int(env, "VURTI_RESET_ATTEMPTS", 2, 1, 1000),
            recovery_timeout=_float(env, "VURTI_RECOVERY_TIMEOUT", 180.0, 0.0, DAY),
            destroy_paused_vms=_bool(env, "VURTI_DESTROY_PAUSED_VMS", False),
            max_cpu_used_percent=_float(env, "VURTI_MAX_CPU_USED_PERCENT", 95.0, 0.0, 100.0),
            max_memory_used_percent=_float(env, "VURTI_MAX_MEMORY_USED_PERCENT", 95.0, 0.0, 100.0),
            max_swap_used_percent=_float(env, "VURTI_MAX_SWAP_USED_PERCENT", 95.0, 0.0, 100.0),
            min_free_swap_mb=_int(env, "VURTI_MIN_FREE_SWAP_MB", 1024, 0, 2**31),
            max_network_used_percent=_float(env, "VURTI_MAX_NETWORK_USED_PERCENT", 95.0, 0.0, 100.0),
            disk_low_free_mb=_int(env, "VURTI_DISK_LOW_FREE_MB", 1000, 0, 2**31),
            disk_critical_free_mb=_int(env, "VURTI_DISK_CRITICAL_FREE_MB", 500, 0, 2**31),
            nic_down_grace=_float(env, "VURTI_NIC_DOWN_GRACE", 60.0, 0.0, DAY),
            run_timeout=_float(env, "VURTI_RUN_TIMEOUT", 180.0, 1.0, DAY),
            migrate_timeout=_float(env, "VURTI_MIGRATE_TIMEOUT", 600.0, 1.0, DAY),
        )
        lock_ttl = _float(env, "VURTI_LOCK_TTL", 30.0, 1.0, 3600.0)
        update_time_limit = _float(env, "VURTI_UPDATE_TIME_LIMIT", 20.0, 1.0, 3600.0)
        if update_time_limit >= lock_ttl:
            # A lock that expires while its update still runs lets a second worker in.
            raise ConfigError(f"VURTI_LOCK_TTL={lock_ttl:g} must be longer than "
                              f"VURTI_UPDATE_TIME_LIMIT={update_time_limit:g}")
        return cls(
            database_url=_database_url(env.get("VURTI_DATABASE_URL") or f"sqlite:///{Path('vurti.db').resolve()}"),
            redis_url=_redis_url("VURTI_REDIS_URL", env.get("VURTI_REDIS_URL") or "redis://127.0.0.1:6379/0"),
            agent=agent,
            policy=policy,
            lock_ttl=lock_ttl,
            update_time_limit=update_time_limit,
            fetch_batch=_int(env, "VURTI_FETCH_BATCH", 50, 1, 10_000),
            fetch_backlog=_int(env, "VURTI_FETCH_BACKLOG", 20, 1, 1_000_000),
            update_backlog=_int(env, "VURTI_UPDATE_BACKLOG", 40, 1, 1_000_000),
            push=_bool(env, "VURTI_PUSH", True),
            bench_record_url=_optional_redis_url("VURTI_BENCH_RECORD", env.get("VURTI_BENCH_RECORD") or None),
            redis_ca_file=_path(env, "VURTI_REDIS_CA_FILE"),
            redis_cert_file=_path(env, "VURTI_REDIS_CERT_FILE"),
            redis_key_file=_path(env, "VURTI_REDIS_KEY_FILE"),
            retention=RetentionSettings(
                outbox_days=_float(env, "VURTI_RETAIN_OUTBOX_DAYS", 1.0, 0.01, 36_500.0),
                audit_days=_float(env, "VURTI_RETAIN_AUDIT_DAYS", 30.0, 0.01, 36_500.0),
                commands_days=_float(env, "VURTI_RETAIN_COMMANDS_DAYS", 7.0, 0.01, 36_500.0),
                stats_days=_float(env, "VURTI_RETAIN_STATS_DAYS", 7.0, 0.01, 36_500.0),
            ),
            ops=OpsSettings.from_env(env),
        )


DAY = 86_400.0
DATABASE_SCHEMES = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A finite number in [low, high]: 0, inf or nan in a timeout or interval breaks it for every host."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be a number from {low:g} to {high:g}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be an integer from {low} to {high}")
    return value


def _database_url(url: str) -> str:
    """A URL SQLAlchemy can open with a dialect vurti supports (never echoed with its password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"VURTI_DATABASE_URL={redact_url(url)!r} is not a database URL") from None
    if parsed.get_backend_name() not in DATABASE_SCHEMES:
        raise ConfigError(
            f"VURTI_DATABASE_URL={redact_url(url)!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    return url


def _redis_url(name: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{name}={redact_url(url)!r} is not a Redis URL") from None
    if parts.scheme not in REDIS_SCHEMES or (parts.scheme != "unix" and not parts.hostname) or port == 0:
        raise ConfigError(f"{name}={redact_url(url)!r}: use redis://[:PASSWORD@]HOST[:PORT]/DB or rediss://...")
    return url


def _optional_redis_url(name: str, url: str | None) -> str | None:
    return None if url is None else _redis_url(name, url)


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
