"""`vurti doctor`'s checks: each one looks at one part of a deployment and says OK, or
what is wrong and what to do.

Every check takes what it inspects as arguments (settings, a Redis client, an engine,
a function that asks the workers for their queues) and returns a Check; none raises.
The order is the order a person would look: configuration, Redis, the database, the
workers, beat, the queues, the hosts, certificates, the backlogs.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vurti.config import ConfigError, Settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"
CERT_WARN_DAYS = 30  # an agent certificate expiring sooner than this is worth a line
QUEUES = ("fetch", "update")


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # OK, WARN (works, but look at it) or FAIL (broken: the exit status says so)
    message: str

    @property
    def failed(self) -> bool:
        return self.level == FAIL

    def line(self) -> str:
        return f"{self.level:<4} {self.name}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def check_config(env: Mapping[str, str]) -> tuple[Check, Settings | None]:
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        return Check("configuration", FAIL, f"{exc}: fix the variable and run again"), None
    return Check("configuration", OK, "every VURTI_* setting is valid"), settings


def check_redis(client: Any) -> Check:
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return Check("redis", FAIL, f"not reachable ({type(exc).__name__}): check VURTI_REDIS_URL and that "
                                    "redis-server runs")
    persistence = _redis_persistence(client)
    if persistence is None:
        return Check("redis", OK, "reachable (persistence setting not readable: CONFIG is disabled)")
    if persistence == "none":
        return Check("redis", WARN, "reachable, but no persistence (appendonly no, no save points): queued "
                                    "messages and the schedule are lost if it restarts; set appendonly yes")
    return Check("redis", OK, f"reachable, persistence: {persistence}")


def _redis_persistence(client: Any) -> str | None:
    try:
        config = client.config_get("appendonly")
        config.update(client.config_get("save"))
    except Exception:  # noqa: BLE001 - CONFIG may be renamed away in managed Redis
        return None
    aof = _text(config.get("appendonly", "no")) == "yes"
    save = _text(config.get("save", "")).strip()
    parts = (["appendonly"] if aof else []) + ([f"save {save}"] if save else [])
    return ", ".join(parts) if parts else "none"


def check_database(engine: Any, head: str | None, current: Callable[[Any], str | None]) -> Check:
    try:
        revision = current(engine)
    except Exception as exc:  # noqa: BLE001
        return Check("database", FAIL, f"not reachable ({type(exc).__name__}): check VURTI_DATABASE_URL")
    if revision is None:
        return Check("database", FAIL, "reachable but empty: run `vurti db upgrade`")
    if revision != head:
        return Check("database", FAIL, f"at migration {revision}, latest is {head}: run `vurti db upgrade`")
    return Check("database", OK, f"reachable, at the latest migration ({revision})")


def check_workers(active_queues: Callable[[], Mapping[str, Sequence[str]] | None]) -> Check:
    """`active_queues`: worker name -> the queues it consumes (None if the broadcast failed)."""
    try:
        replies = active_queues()
    except Exception as exc:  # noqa: BLE001
        return Check("workers", FAIL, f"could not ask the workers ({type(exc).__name__}): is Redis reachable?")
    by_queue: dict[str, list[str]] = {q: [] for q in QUEUES}
    for worker, queues in (replies or {}).items():
        for queue in queues:
            by_queue.setdefault(queue, []).append(worker)
    missing = [q for q in QUEUES if not by_queue[q]]
    summary = "; ".join(f"{q}: {len(by_queue[q])}" for q in QUEUES)
    if missing:
        return Check("workers", FAIL, f"no worker on {', '.join(missing)} ({summary}): start "
                                      + " and ".join(f"`celery -A tasks worker -Q {q}`" for q in missing))
    return Check("workers", OK, f"alive on every queue ({summary})")


def check_beat(state: Any, hosts_in_db: int, grace: float) -> Check:
    if not hosts_in_db:
        return Check("beat", OK, "no hosts yet: nothing tells whether beat runs")
    if not state.hosts_scheduled:
        return Check("beat", FAIL, f"{hosts_in_db} hosts in the database, none in the schedule: start "
                                   "`celery -A tasks beat`")
    if state.oldest_due_seconds > grace:
        return Check("beat", FAIL, f"the most overdue host has waited {state.oldest_due_seconds:.0f}s to be "
                                   "claimed: is `celery -A tasks beat` running? (or see the queue line)")
    return Check("beat", OK, f"claiming hosts on time ({state.hosts_scheduled} scheduled)")


def check_queues(state: Any, fetch_backlog: int, update_backlog: int) -> Check:
    """Beat's own limits: `fetch_backlog` per fetch worker (each has a queue of its own), `update_backlog`."""
    limits = {"fetch": fetch_backlog * max(1, state.fetch_members), "update": update_backlog}
    full = [f"{q} {state.queue_depths.get(q, 0)} of {limits[q]}" for q in QUEUES
            if state.queue_depths.get(q, 0) >= limits[q]]
    depths = ", ".join(f"{q} {state.queue_depths.get(q, 0)}" for q in QUEUES)
    if full:
        return Check("queues", FAIL, f"backed up ({', '.join(full)}): beat holds polls back; add workers on "
                                     "those queues")
    return Check("queues", OK, f"not backed up ({depths})")


def check_overdue(state: Any) -> Check:
    if state.hosts_overdue:
        return Check("hosts overdue", FAIL, f"{state.hosts_overdue} hosts not polled for two intervals: see the "
                                            "beat, workers and queues lines")
    return Check("hosts overdue", OK, "none")


def check_certificates(agent: Any, now: float) -> list[Check]:
    """The agent CA and client certificate: readable, valid now, not expiring within CERT_WARN_DAYS."""
    files = [("agent CA", agent.ca_file), ("agent certificate", agent.cert_file)]
    if not any(path for _, path in files):
        return [Check("certificates", OK, "no agent certificates configured (VURTI_AGENT_CA_FILE, "
                                          "VURTI_AGENT_CERT_FILE)")]
    out = []
    for name, path in files:
        if path:
            out.append(_check_cert(name, path, now))
    if agent.cert_file and agent.key_file:
        try:
            ssl.create_default_context().load_cert_chain(agent.cert_file, agent.key_file)
        except (OSError, ssl.SSLError) as exc:
            out.append(Check("agent key", FAIL, f"does not match the certificate or is unreadable ({exc.__class__.__name__})"))
    return out


def _check_cert(name: str, path: str, now: float) -> Check:
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
        not_before = ssl.cert_time_to_seconds(decoded["notBefore"])
        not_after = ssl.cert_time_to_seconds(decoded["notAfter"])
    except (OSError, ssl.SSLError, KeyError, ValueError) as exc:
        return Check(name, FAIL, f"{path} is not a readable PEM certificate ({exc.__class__.__name__})")
    days = (not_after - now) / 86400
    if now < not_before:
        return Check(name, FAIL, f"{path} is not valid before {decoded['notBefore']}")
    if days < 0:
        return Check(name, FAIL, f"{path} expired on {decoded['notAfter']}: renew it")
    if days < CERT_WARN_DAYS:
        return Check(name, WARN, f"{path} expires in {days:.0f} days ({decoded['notAfter']}): renew it soon")
    return Check(name, OK, f"{path} valid until {decoded['notAfter']}")


def check_backlogs(state: Any, stuck_after: float) -> list[Check]:
    stuck = {s: age for s, age in state.outbox_oldest_seconds.items() if age > stuck_after}
    pending = ", ".join(f"{s} {n}" for s, n in sorted(state.outbox_pending.items())) or "none"
    if stuck:
        names = ", ".join(f"{s} (oldest {age:.0f}s)" for s, age in sorted(stuck.items()))
        outbox = Check("outbox", FAIL, f"events stuck for {names}: the subscriber keeps failing; see the update "
                                       "workers' log")
    else:
        outbox = Check("outbox", OK, f"events pending: {pending}")
    commands = state.commands_by_state
    failed, waiting = commands.get("failed", 0), commands.get("pending", 0)
    if failed:
        command = Check("host commands", WARN, f"{failed} failed for good, {waiting} pending: `vurti events` "
                                               "shows VmDestroyFailed lines")
    else:
        command = Check("host commands", OK, f"{waiting} pending, none failed")
    return [outbox, command]


def run_all(env: Mapping[str, str], connect: Callable[[Settings], Any], now: Callable[[], float] = time.time
            ) -> list[Check]:
    """Every check; `connect(settings)` gives the deployment's parts (see vurti.cli.doctor)."""
    config, settings = check_config(env)
    if settings is None:
        return [config]
    parts = connect(settings)
    checks = [config, check_redis(parts.redis), check_database(parts.engine, parts.head, parts.current_revision)]
    checks.append(check_workers(parts.active_queues))
    if any(c.failed for c in checks[1:3]):  # Redis or the database: the fleet cannot be read
        checks.append(Check("fleet", FAIL, "beat, queues, hosts and backlogs not checked: fix the lines above"))
        return checks + check_certificates(settings.agent, now())
    try:
        state = parts.fleet_state()
        hosts = sum(state.hosts_by_status.values())
    except Exception as exc:  # noqa: BLE001 - Redis or the database is down: already said above
        checks.append(Check("fleet", FAIL, f"cannot read the fleet's state ({type(exc).__name__}): see above"))
    else:
        interval = settings.policy.refresh_interval
        from vurti.metrics.fleet_state import overdue_grace

        checks += [
            check_beat(state, hosts, overdue_grace(interval)),
            check_queues(state, settings.fetch_backlog, settings.update_backlog),
            check_overdue(state),
        ]
        checks += check_certificates(settings.agent, now())
        checks += check_backlogs(state, stuck_after=max(60.0, 6 * interval))
        return checks
    checks += check_certificates(settings.agent, now())
    return checks


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
