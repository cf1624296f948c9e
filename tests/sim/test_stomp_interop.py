"""An independent STOMP 1.2 client (stomp.py) talks to the simulator: standard STOMP, not only vurti's codec.

stomp.py needs `with_connect_command=True` (CONNECT, not STOMP, which VDSM
closes), a `vhost` (it writes CONNECT headers unescaped) and, with TLS, the
host's address among the certificate's names, since it checks them once
`ca_certs` is set (reference/vdsm-stomp.md §9).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import stomp

from tests.support.sim import SimProcess, running_sim
from vurti.sim.pki import paths

VALIDATOR = Path(__file__).resolve().parents[3] / "shared" / "tools" / "vdsm_validate.py"


class Collect(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.frames: queue.Queue[Any] = queue.Queue()
        self.errors: list[Any] = []

    def on_message(self, frame: Any) -> None:
        self.frames.put(frame)

    def on_error(self, frame: Any) -> None:
        self.errors.append(frame)

    def next(self, timeout: float = 10.0) -> Any:
        return self.frames.get(timeout=timeout)


@pytest.fixture(scope="module", params=["plain", "tls"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tls_dir = tmp_path_factory.mktemp("pki") if request.param == "tls" else None
    with running_sim(hosts=2, vms_per_host=3, seed=23, tls_dir=tls_dir) as s:
        yield s


def _connect(sim: SimProcess, host: str) -> tuple[stomp.Connection12, Collect]:
    url = urlsplit(sim.address(host))
    where = (url.hostname, url.port)
    conn = stomp.Connection12([where], heartbeats=(0, 15000), vhost="null", reconnect_attempts_max=1)
    if url.scheme == "stomps":
        assert sim.tls_dir is not None
        pki = paths(sim.tls_dir)
        conn.set_ssl(for_hosts=[where], key_file=str(pki.engine_key), cert_file=str(pki.engine_cert),
                     ca_certs=str(pki.ca))
    listener = Collect()
    conn.set_listener("collect", listener)
    conn.connect(wait=True, with_connect_command=True)
    return conn, listener


def test_stomp_py_subscribes_calls_and_receives_an_event(sim: SimProcess) -> None:
    host = "host-0001"
    conn, listener = _connect(sim, host)
    try:
        reply_to = f"interop-{uuid.uuid4()}"
        conn.subscribe(destination="jms.queue.events", id="events-1", ack="auto")
        conn.subscribe(destination=reply_to, id="replies-1", ack="auto")
        req_id = str(uuid.uuid4())
        conn.send(destination="jms.topic.vdsm_requests", headers={"reply-to": reply_to},
                  body=json.dumps({"jsonrpc": "2.0", "id": req_id, "method": "Host.getVMList", "params": {}}))
        reply = listener.next()
        assert reply.headers["destination"] == reply_to and reply.headers["subscription"] == "replies-1"
        data = json.loads(reply.body)
        assert data["id"] == req_id and len(data["result"]) == 3
        vm_id, status_time = data["result"][0]["vmId"], int(data["result"][0]["statusTime"])

        sim.control.pause(vm_id, code="ENOSPC")
        event = listener.next()
        assert event.headers["destination"] == "jms.queue.events" and event.headers["subscription"] == "events-1"
        body = json.loads(event.body)
        assert body["method"] == f"|virt|VM_status|{vm_id}"
        assert body["params"][vm_id]["status"] == "Paused" and body["params"]["notify_time"] >= status_time
        assert not listener.errors
    finally:
        conn.disconnect()


def test_tls_requires_a_client_certificate(sim: SimProcess) -> None:
    if sim.tls_dir is None:
        pytest.skip("plain TCP")
    import socket
    import ssl

    url = urlsplit(sim.address("host-0002"))
    ctx = ssl.create_default_context(cafile=str(paths(sim.tls_dir).ca))
    with (socket.create_connection((url.hostname, url.port), timeout=5) as raw,
          pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)),
          ctx.wrap_socket(raw, server_hostname=url.hostname) as tls):
        tls.sendall(b"CONNECT\naccept-version:1.2\n\n\0")
        assert tls.recv(100) == b""  # TLS 1.3: the refusal arrives with the first read
        raise ConnectionResetError("closed without a reply")


@pytest.mark.skipif(not VALIDATOR.exists(), reason=f"no validator at {VALIDATOR} (outside a clone)")
def test_shared_validator_passes(sim: SimProcess) -> None:
    env = None
    if sim.tls_dir is not None:
        pki = paths(sim.tls_dir)
        env = {"PATH": "/usr/bin:/bin", "VDSM_CA": str(pki.ca), "VDSM_CERT": str(pki.engine_cert),
               "VDSM_KEY": str(pki.engine_key)}
    out = subprocess.run([sys.executable, str(VALIDATOR), *sim.host_addresses], capture_output=True, text=True,
                         timeout=120, env=env, check=False)
    assert out.stdout.strip().endswith("8 replies, 0 violations"), out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode == 0
    assert all(a.startswith("stomps://" if sim.tls_dir else "stomp://") for a in sim.host_addresses)
