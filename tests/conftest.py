"""Session-wide real servers: one redis-server and one PostgreSQL for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import postgres_server
from tests.support.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url
