"""The report serializer: typed straight into HostReport, one decode per body, plain JSON for anything else."""

from __future__ import annotations

from kombu.serialization import dumps, loads

from tasks import serialization
from tasks.serialization import CONTENT_TYPE, NAME
from vurti.domain.report import DiskStats, HostReport, HostStats, NicStats, VmReport, VmStats
from vurti.domain.status import VmStatus

STATS = VmStats(cpu_user=1.5, mem_usage=7, nics=(NicStats("eth0", "up", rx_bytes=3),), disks=(DiskStats("vda"),))
REPORTS = [
    HostReport("h1", 10.0, stats=HostStats(cpu_user=2.0), stats_due=True, vms_full=True,
               vms=(VmReport("v1", VmStatus.Up, "Up", status_time=5, stats=STATS),)),
    HostReport("h2", 11.0, vms=(VmReport("v2", VmStatus.Paused, "Paused"),), warnings=("odd",)),
]


def body_of(args: list[object]) -> bytes:
    content_type, encoding, body = dumps([args, {}, {"callbacks": None}], serializer=NAME)
    assert content_type == CONTENT_TYPE and encoding == "utf-8"
    return body if isinstance(body, bytes) else body.encode()


def decode(body: bytes) -> object:
    return loads(body, CONTENT_TYPE, "utf-8", accept=[CONTENT_TYPE])


def test_a_batch_body_decodes_into_the_reports_that_were_sent() -> None:
    args, kwargs, embed = decode(body_of([REPORTS]))  # type: ignore[misc]
    (reports,) = args
    assert reports == REPORTS and all(type(r) is HostReport for r in reports)
    assert kwargs == {} and embed == {"callbacks": None}
    (single,), _, _ = decode(body_of([REPORTS[0]]))  # type: ignore[misc]
    assert single == REPORTS[0]


def test_the_same_body_is_decoded_once() -> None:
    """Celery's consumer decodes each body to tell protocols apart, then the task decodes it again."""
    body = body_of([REPORTS])
    first = decode(body)
    assert decode(body) is first
    other = bytes(bytearray(body))  # equal bytes, another message
    assert other is not body and decode(other) == first and decode(other) is not first


def test_a_bad_report_leaves_the_batch_as_plain_json() -> None:
    """The task then drops the bad report alone (tests/pipeline/test_eager.py)."""
    good = serialization.encode(REPORTS[0])
    body = b'[[[' + good + b', {"host_id": 5}]], {}, {}]'
    (reports,), _, _ = decode(body)  # type: ignore[misc]
    assert reports[1] == {"host_id": 5} and isinstance(reports[0], dict) and reports[0]["host_id"] == "h1"


def test_other_bodies_are_plain_json() -> None:
    (args, kwargs, _) = decode(body_of(["host-1", 3]))  # type: ignore[misc]
    assert args == ["host-1", 3] and kwargs == {}
    assert decode(b'{"not": "a task body"}') == {"not": "a task body"}
