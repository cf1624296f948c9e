"""Where each simulated host listens, and the PKI a TLS fleet is served with."""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from tests.support.sim import running_sim
from vurti.cli.sim_cmd import sim
from vurti.sim.agents import agent_address
from vurti.sim.pki import client_context, ensure_pki, server_context


def test_default_addresses_are_one_loopback_address_per_host() -> None:
    assert agent_address(0, "127.0.0.1", 54321, None) == ("127.1.0.1", 54321)
    assert agent_address(254, "127.0.0.1", 54321, None) == ("127.1.0.255", 54321)
    assert agent_address(255, "127.0.0.1", 54321, None) == ("127.1.1.0", 54321)
    assert agent_address(4999, "127.0.0.1", 54321, None) == ("127.1.19.136", 54321)


def test_port_base_puts_every_host_on_the_bind_address() -> None:
    assert agent_address(0, "10.0.0.5", 54321, 60000) == ("10.0.0.5", 60000)
    assert agent_address(9, "10.0.0.5", 54321, 60000) == ("10.0.0.5", 60009)


def _free_run(n: int) -> int:
    """The first of `n` consecutive free loopback ports (free when checked)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + n > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports")


def test_a_fleet_on_a_port_base_answers_on_each_port() -> None:
    base = _free_run(3)
    with running_sim(hosts=3, vms_per_host=1, extra_args=("--agent-port-base", str(base))) as fleet:
        assert fleet.host_addresses == [f"stomp://127.0.0.1:{base + i}" for i in range(3)]
        for name in fleet.host_names:
            assert fleet.result(name, "Host.ping") is True
        assert fleet.control.host("host-0003")["uuid"] == fleet.result("host-0003", "Host.getCapabilities")["uuid"]


def test_pki_is_made_once_and_chains(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    first = pki.ca.read_bytes()
    assert oct(pki.host_key.stat().st_mode & 0o777) == "0o600"
    assert oct(pki.engine_key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "cakey.pem").stat().st_mode & 0o777) == "0o600"
    assert ensure_pki(tmp_path).ca.read_bytes() == first  # kept, not made again
    pki.engine_cert.unlink()
    assert ensure_pki(tmp_path).ca.read_bytes() != first  # a missing file: a whole new set

    pki = ensure_pki(tmp_path)
    server, client = server_context(pki), client_context(pki)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        seen: list[object] = []

        def accept() -> None:
            conn, _ = listener.accept()
            with server.wrap_socket(conn, server_side=True) as tls:
                seen.append(tls.getpeercert())
                tls.sendall(b"ok")

        thread = threading.Thread(target=accept)
        thread.start()
        with socket.create_connection(("127.0.0.1", port)) as raw, client.wrap_socket(raw) as tls:
            assert tls.recv(2) == b"ok"
        thread.join(5)
    assert seen and seen[0]  # the engine's certificate was required and checked

    for name in ("127.0.0.1", "127.1.0.1", "127.1.0.16", "localhost"):  # for clients that check names (stomp.py)
        assert _named(pki.host_cert, name)
    assert not _named(pki.host_cert, "127.1.0.17")


def _named(cert_path: Path, name: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    try:
        return ipaddress.ip_address(name) in names.get_values_for_type(x509.IPAddress)
    except ValueError:
        return name in names.get_values_for_type(x509.DNSName)


def test_port_base_beyond_the_last_port_is_refused() -> None:
    result = CliRunner().invoke(sim, ["--agent-port-base", "65535", "--hosts", "2"])
    assert result.exit_code == 2 and "leaves no port for host 2" in result.output
