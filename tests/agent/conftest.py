"""Fixtures: a real STOMP agent on 127.0.0.1, a throwaway CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.pki import Pki, make_pki
from tests.agent.server import AgentServer


@pytest.fixture
def server() -> Iterator[AgentServer]:
    with AgentServer() as s:
        yield s


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
