"""Session-wide real servers: one redis-server and one PostgreSQL for the whole run; a clean Redis client per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.postgres import postgres_server
from tests.support.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's redis-server, on an empty database (emptied again after the test)."""
    c = redis.Redis.from_url(redis_url)
    c.flushdb()
    yield c
    c.flushdb()
    c.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url
