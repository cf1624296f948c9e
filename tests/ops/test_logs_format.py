"""vurti.logs on literal records: text and JSON lines, ids named, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from vurti.config import Settings
from vurti.logs import configure, secrets_of

HOST = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
VM = "6fa459ea-ee8a-3ca4-894e-db77e160355e"
UNKNOWN = "16fd2706-8baf-433b-82eb-8c7fada847da"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _resolver(calls: list[list[str]]):  # type: ignore[no-untyped-def]
    def resolve(ids: list[str]) -> dict[str, tuple[str, str]]:
        calls.append(ids)
        table = {HOST: ("host", "host-0007"), VM: ("vm", "web-01")}
        return {i: table[i] for i in ids if i in table}

    return resolve


def test_text_lines_name_hosts_and_vms_and_ask_once(restore_root: None) -> None:
    out, calls = io.StringIO(), []
    configure("text", logging.INFO, [], _resolver(calls), out)
    log = logging.getLogger("vurti.pipeline.commands")
    log.warning("destroy of VM %s on host %s failed", VM, HOST)
    log.warning("again: VM %s on host %s, and %s", VM, HOST, UNKNOWN)
    lines = out.getvalue().splitlines()
    assert f"destroy of VM web-01 ({VM}) on host host-0007 ({HOST}) failed" in lines[0]
    assert " WARNING " in lines[0] and "vurti.pipeline.commands" in lines[0]
    assert UNKNOWN in lines[1] and "(" + UNKNOWN not in lines[1]
    assert calls == [[VM, HOST], [UNKNOWN]]  # each id looked up once, the unknown one remembered too
    logging.getLogger("vurti.x").info("host %s", UNKNOWN)
    assert len(calls) == 2


def test_json_lines_carry_names_and_ids(restore_root: None) -> None:
    out = io.StringIO()
    configure("json", logging.INFO, [], _resolver([]), out)
    logging.getLogger("tasks.monitoring").info("host %s refreshed", HOST)
    logging.getLogger("celery.app.trace").info("Task x[%s] succeeded", HOST)  # Celery's ids are task ids
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["host_name"] == "host-0007" and first["host_id"] == HOST and first["level"] == "INFO"
    assert first["message"] == f"host host-0007 ({HOST}) refreshed"
    assert "host_name" not in second


def test_no_secret_in_a_message_or_a_traceback(restore_root: None) -> None:
    settings = Settings.from_env({
        "VURTI_REDIS_URL": "redis://:redis-pw-123@127.0.0.1:6379/0",
        "VURTI_DATABASE_URL": "postgresql+psycopg://vurti:db-pw-456@db/vurti",
        "VURTI_FLOWER_AUTH": "admin:flower-pw-789",
    })
    secrets = secrets_of(settings)
    assert sorted(secrets) == ["db-pw-456", "flower-pw-789", "redis-pw-123"]
    out = io.StringIO()
    configure("json", logging.INFO, secrets, None, out)
    log = logging.getLogger("vurti.test")
    log.error("connecting to %s", settings.redis_url)
    try:
        raise ConnectionError(f"cannot reach {settings.database_url} as admin:flower-pw-789")
    except ConnectionError:
        log.exception("failed")
    text = out.getvalue()
    assert all(s not in text for s in secrets), text
    assert "redis://:***@127.0.0.1:6379/0" in text and "ConnectionError" in text


def test_a_store_that_is_down_is_not_asked_again_for_a_while(restore_root: None) -> None:
    out, calls = io.StringIO(), []

    def broken(ids: list[str]) -> dict[str, tuple[str, str]]:
        calls.append(ids)
        raise ConnectionError("redis is down")

    configure("text", logging.INFO, [], broken, out)
    log = logging.getLogger("vurti.pipeline.update")
    log.error("host %s: update failed", HOST)
    log.error("host %s: update failed", UNKNOWN)  # another id: still no lookup while the store is down
    assert calls == [[HOST]]
    assert f"host {HOST}: update failed" in out.getvalue()
