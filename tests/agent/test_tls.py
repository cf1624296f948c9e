"""stomps:// to a real TLS agent on 127.0.0.1, set up as the oVirt engine sets it up (vdsm-stomp.md §1).

The chain is verified against the engine CA, the host name is not checked, the
client presents its certificate (VDSM requires one), and one TLS connection
serves every call to a host: no handshake per poll.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import wire
from tests.agent.helpers import agent_links, aio, until
from tests.agent.pki import Pki, make_pki
from tests.agent.server import AgentServer, echo
from vurti.agent import AgentUnreachable, PollRequest
from vurti.agent.aio import BatchPoller
from vurti.config import AgentSettings


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA altogether: its certificates do not chain to `pki`'s."""
    return make_pki(tmp_path_factory.mktemp("foreign-pki"))


def _context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """VDSM's side: its certificate, and with `client_ca` a client certificate required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def _engine(pki: Pki, **changes: object) -> AgentSettings:
    settings = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key),
                "connect_timeout": 3.0, "read_timeout": 5.0}
    settings.update(changes)
    return AgentSettings(**settings)  # type: ignore[arg-type]


@pytest.fixture
def vdsm(pki: Pki) -> Iterator[AgentServer]:
    """As VDSM: a certificate from the engine CA, a client certificate required."""
    with AgentServer(_context(pki.server_cert, pki.server_key, client_ca=pki.ca)) as server:
        server.on("*", echo)
        yield server


@aio
async def test_a_verified_chain_with_a_client_certificate_serves_every_call_on_one_connection(
    vdsm: AgentServer, pki: Pki
) -> None:
    assert vdsm.url.startswith("stomps://")
    async with agent_links(_engine(pki)) as links:
        for i in range(10):
            assert await links.call(vdsm.url, "Test.echo", {"n": i}) == {"n": i}
        results = await asyncio.gather(*(links.call(vdsm.url, "Test.echo", {"n": i}) for i in range(20)))
    assert results == [{"n": i} for i in range(20)]
    assert vdsm.connections == 1 and vdsm.tls_failures == 0
    (cert,) = vdsm.peer_certs
    assert (("commonName", "vurti-engine"),) in cert["subject"]


def test_polls_reuse_the_tls_connection(vdsm: AgentServer, pki: Pki) -> None:
    vdsm.reply("Host.getVMList", wire.vm_list(2))
    poller = BatchPoller(_engine(pki))
    try:
        for round_ in range(5):
            (report,) = poller.poll_many([PollRequest("h1", vdsm.url, now=float(round_))])
            assert report.ok and report.vms is not None and len(report.vms) == 2
    finally:
        poller.close()
    assert vdsm.connections == 1  # five polls, one handshake


@aio
async def test_a_certificate_from_another_ca_is_unreachable_and_says_tls(foreign: Pki, pki: Pki) -> None:
    with AgentServer(_context(foreign.server_cert, foreign.server_key)) as server:
        async with agent_links(_engine(pki)) as links:
            with pytest.raises(AgentUnreachable, match="TLS failure") as info:
                await links.call(server.url, "Host.ping2")
        assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
        await until(lambda: server.tls_failures == 1, what="the server to count the failed handshake")
        assert server.frames() == []


@aio
async def test_without_the_engine_ca_only_the_system_store_is_trusted(vdsm: AgentServer, pki: Pki) -> None:
    async with agent_links(_engine(pki, ca_file=None)) as links:
        with pytest.raises(AgentUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await links.call(vdsm.url, "Host.ping2")
    assert vdsm.frames() == []


@aio
async def test_without_a_client_certificate_vdsm_refuses_and_the_host_is_unreachable(
    vdsm: AgentServer, pki: Pki
) -> None:
    async with agent_links(_engine(pki, cert_file=None, key_file=None)) as links:
        with pytest.raises(AgentUnreachable):
            await links.call(vdsm.url, "Host.ping2")
    await until(lambda: vdsm.tls_failures == 1, what="the server to count the refused handshake")
    assert vdsm.frames() == [] and vdsm.peer_certs == []


@aio
async def test_verify_tls_off_accepts_a_certificate_from_an_unknown_ca(foreign: Pki, pki: Pki) -> None:
    with AgentServer(_context(foreign.server_cert, foreign.server_key, client_ca=pki.ca)) as server:
        server.on("*", echo)
        async with agent_links(_engine(pki, ca_file=None, verify_tls=False)) as links:
            assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}
        assert server.tls_failures == 0


@aio
async def test_host_names_are_not_checked_when_the_chain_verifies(pki: Pki) -> None:
    with AgentServer(_context(pki.other_cert, pki.other_key, client_ca=pki.ca)) as server:
        server.on("*", echo)
        assert server.url.startswith("stomps://127.0.0.1:")  # the certificate names other.example only
        async with agent_links(_engine(pki)) as links:
            assert await links.call(server.url, "Test.echo", {"n": 1}) == {"n": 1}


@aio
async def test_plain_stomp_to_a_tls_agent_is_unreachable(vdsm: AgentServer, pki: Pki) -> None:
    plain = vdsm.url.replace("stomps://", "stomp://")
    async with agent_links(_engine(pki, connect_timeout=1.0)) as links:
        with pytest.raises(AgentUnreachable):
            await links.call(plain, "Host.ping2")
    assert vdsm.frames() == []


@aio
async def test_tls_files_that_cannot_be_read_make_the_host_unreachable(vdsm: AgentServer, pki: Pki) -> None:
    async with agent_links(_engine(pki, cert_file="/nonexistent/client.pem")) as links:
        with pytest.raises(AgentUnreachable, match="agent TLS files cannot be used"):
            await links.call(vdsm.url, "Host.ping2")
    assert vdsm.connections == 0
