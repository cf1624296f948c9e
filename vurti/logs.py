"""Log lines for people and for machines: text by default, JSON lines on request
(VURTI_LOG_FORMAT=json); every line that mentions a host or VM id names it too; no
configured secret ever reaches a line.

Handlers carry two filters, so they cover every logger (vurti's, Celery's, libraries'):
`Redactor` replaces each configured secret (passwords in VURTI_REDIS_URL and
VURTI_DATABASE_URL, Flower's password) in the message and in tracebacks; `Namer` finds
UUIDs in the message and writes `name (id)` for the hosts and VMs it can name (host
names from beat's Redis hash, VM names from the database, looked up only for lines
that carry an id it has not seen, and remembered).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
MASK = "***"
RETRY_UNKNOWN_AFTER = 30.0  # seconds before an id that could not be named is looked up again

Resolver = Callable[[list[str]], Mapping[str, tuple[str, str]]]  # ids -> {id: (kind, name)}


def secrets_of(settings: Any) -> list[str]:
    """Every secret in the settings that could end up in a message."""
    found = [urlsplit(url).password for url in (settings.redis_url, settings.database_url)]
    auth = settings.ops.flower_auth
    found.append(auth.split(":", 1)[1] if auth else None)
    return [s for s in found if s]


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg, record.args = self.redact(record.getMessage()), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
        return True


class Namer(logging.Filter):
    """Adds names to the ids in a message; `resolve` is asked only about ids not seen yet."""

    def __init__(self, resolve: Resolver, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._resolve = resolve
        self._clock = clock
        self._names: dict[str, tuple[str, str]] = {}
        self._unknown: dict[str, float] = {}  # id -> when it could not be named
        self._failed_at = -1e18  # the last lookup that raised: Redis or the database is down
        self._busy = threading.local()  # a lookup that logs must not look up again

    OWN = ("vurti", "tasks")  # Celery's own lines carry task ids, not host or VM ids

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.OWN):
            return True
        message = record.getMessage()
        ids = list(dict.fromkeys(UUID.findall(message)))
        if not ids or getattr(self._busy, "on", False):
            return True
        self._learn(ids)
        named = [(i, self._names[i]) for i in ids if i in self._names]
        if named:
            for host_or_vm_id, (kind, name) in named:
                message = re.sub(rf"(?<!\()\b{host_or_vm_id}\b", f"{name} ({host_or_vm_id})", message)
                setattr(record, f"{kind}_id", host_or_vm_id)
                setattr(record, f"{kind}_name", name)
            record.msg, record.args = message, ()
        return True

    def _learn(self, ids: list[str]) -> None:
        now = self._clock()
        ask = [i for i in ids if i not in self._names and now - self._unknown.get(i, -1e18) > RETRY_UNKNOWN_AFTER]
        if not ask or now - self._failed_at < RETRY_UNKNOWN_AFTER:
            return  # while a store is down, lines go out unnamed rather than each waiting on a timeout
        self._busy.on = True
        try:
            found = self._resolve(ask)
        except Exception:  # noqa: BLE001 - naming is a courtesy: the line goes out without names
            self._failed_at = now
            return
        finally:
            self._busy.on = False
        for i in ask:
            if i in found:
                self._names[i] = found[i]
                self._unknown.pop(i, None)
            else:
                self._unknown[i] = now


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, host/VM names and ids, traceback."""

    FIELDS = ("host_id", "host_name", "vm_id", "vm_name")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()


def store_resolver(services: Any) -> Resolver:
    """Names from beat's host-name hash in Redis, then the database's VM table."""

    def resolve(ids: list[str]) -> dict[str, tuple[str, str]]:
        from sqlalchemy import select

        from vurti.runtime import keys
        from vurti.store.tables import vm_static

        out: dict[str, tuple[str, str]] = {}
        for i, raw in zip(ids, services.redis.hmget(keys.HOST_NAMES, ids), strict=True):
            if raw is not None:
                out[i] = ("host", raw.decode() if isinstance(raw, bytes) else str(raw))
        rest = [i for i in ids if i not in out]
        if rest:
            with services.engine.connect() as conn:
                for vm_id, name in conn.execute(select(vm_static.c.vm_id, vm_static.c.name)
                                                .where(vm_static.c.vm_id.in_(rest))):
                    out[str(vm_id)] = ("vm", str(name))
        return out

    return resolve


def configure(log_format: str, level: int | str, secrets: Iterable[str], resolve: Resolver | None = None,
              stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records to one handler on `stream` (stderr), in `log_format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    if resolve is not None:
        handler.addFilter(Namer(resolve))
    handler.addFilter(Redactor(secrets))  # last: also covers what the namer wrote
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def configure_from_services(services: Any, level: int | str, stream: IO[str] | None = None) -> logging.Handler:
    settings = services.settings
    return configure(settings.ops.log_format, level, secrets_of(settings), store_resolver(services), stream)
