"""Outage: one log line when a dependency stops answering, one when it is back, backing off between."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from vurti.runtime.outage import Outage


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    outage = Outage("sync", logging.getLogger("t"), first_retry=1.0, max_retry=8.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="t")
    delays = []
    for _ in range(50):  # 50 failed attempts
        delays.append(outage.failed(RedisConnectionError("Connection refused")))
        now[0] += 1
    assert outage.down
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]
    outage.succeeded()
    assert not outage.down
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "Connection refused" in lines[0] and not caplog.records[0].exc_info
    assert "works again after 50.0s (50 failed attempts)" in lines[1]


def test_an_unexpected_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("sync", logging.getLogger("t"))
    caplog.set_level(logging.INFO, logger="t")
    outage.failed(KeyError("bug"))
    assert caplog.records[0].exc_info is not None
