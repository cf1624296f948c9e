"""Fixtures: a real agent server on 127.0.0.1, a client with short timeouts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.agent.pki import Pki, make_pki
from tests.agent.server import AgentServer
from vurti.agent import AgentClient, make_session
from vurti.config import AgentSettings

FAST = AgentSettings(connect_timeout=1.0, read_timeout=2.0, max_reply_bytes=1024 * 1024, pool_size=4)


@pytest.fixture
def server() -> Iterator[AgentServer]:
    with AgentServer() as s:
        yield s


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = make_session(FAST)
    yield s
    s.close()


@pytest.fixture
def client(session: requests.Session) -> AgentClient:
    return AgentClient(session, FAST)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
