"""HTTPS to a real TLS server on 127.0.0.1: CA verification and client certificates."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from tests.agent.pki import Pki
from tests.agent.server import AgentServer
from tests.support.procs import wait_for
from vurti.agent import AgentClient, AgentUnreachable, HostPoller, make_session
from vurti.agent.plan import PollRequest
from vurti.config import AgentSettings
from vurti.domain.report import FetchErrorKind


def _server_context(pki: Pki, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[AgentServer]:
    with AgentServer(_server_context(pki, require_client_cert=False)) as server:
        server.reply("Host.ping2", True)
        yield server


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[AgentServer]:
    with AgentServer(_server_context(pki, require_client_cert=True)) as server:
        server.reply("Host.ping2", True)
        yield server


def _client(settings: AgentSettings) -> AgentClient:
    return AgentClient(make_session(settings), settings)


def test_verification_with_the_ca_passes(tls_server: AgentServer, pki: Pki) -> None:
    client = _client(AgentSettings(ca_file=str(pki.ca), read_timeout=5))
    assert tls_server.url.startswith("https://")
    assert client.call(tls_server.url, "Host.ping2") is True


def test_without_the_ca_the_server_is_unreachable(tls_server: AgentServer) -> None:
    client = _client(AgentSettings(read_timeout=5))  # system trust store only
    with pytest.raises(AgentUnreachable, match="TLS failure") as info:
        client.call(tls_server.url, "Host.ping2")
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    assert tls_server.received == []


def test_a_poll_over_unverifiable_tls_reports_unreachable(tls_server: AgentServer) -> None:
    poller = HostPoller(_client(AgentSettings(read_timeout=5)))
    report = poller.poll_request(PollRequest("h1", tls_server.url, now=1.0, host_stats=True))
    assert report.error is not None and report.error.kind is FetchErrorKind.UNREACHABLE


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_off_accepts_any_certificate(tls_server: AgentServer) -> None:
    client = _client(AgentSettings(verify_tls=False, read_timeout=5))
    assert client.call(tls_server.url, "Host.ping2") is True


def test_the_client_certificate_is_presented_when_configured(mtls_server: AgentServer, pki: Pki) -> None:
    settings = AgentSettings(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    assert _client(settings).call(mtls_server.url, "Host.ping2") is True
    (cert,) = mtls_server.peer_certs
    assert (("commonName", "vurti-engine"),) in cert["subject"]


def test_without_a_client_certificate_a_server_that_requires_one_is_unreachable(
    mtls_server: AgentServer, pki: Pki
) -> None:
    client = _client(AgentSettings(ca_file=str(pki.ca), read_timeout=5))
    with pytest.raises(AgentUnreachable):
        client.call(mtls_server.url, "Host.ping2")
    assert mtls_server.received == []
    # The server thread counts the failed handshake after the client has seen it fail.
    wait_for(lambda: mtls_server.tls_failures >= 1, timeout=5, what="the server to record the refused handshake")
