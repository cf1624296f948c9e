"""vm_devices rows and vm_dynamic.jobs, written by apply_analysis and read back (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from vurti.domain.analysis import Analysis
from vurti.domain.devices import VmDevice, VmJob
from vurti.domain.model import HostConfig, HostState, VmState, replace
from vurti.domain.report import HostReport, VmReport
from vurti.domain.status import HostStatus, VmStatus
from vurti.pipeline.update import with_devices
from vurti.store import SqlUnitOfWork
from vurti.store.instrument import StatementCounter
from vurti.store.updater import apply_analysis

DISK = VmDevice("d1", "disk", "disk", '{"unit":"0"}', "ua-d1", managed=True)
SERIAL = VmDevice("s1", "controller", "virtio-serial", '{"slot":"0x09"}', "virtio-serial0")
JOB = VmJob("j1", "block", "commit", "img-1", cur=5, end=10)


def _vm_on_h1(uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]) -> None:
    with uow:
        uow.hosts.save_host_state(HostState("h1"), HostState("h1", status=HostStatus.Up))
        uow.vms.save_vms({}, [VmState("v1", name="web", host_id="h1", status=VmStatus.Up)])
        uow.commit()


def _apply(uow: SqlUnitOfWork, analysis: Analysis) -> None:
    with uow:
        snap = uow.hosts.load_snapshot("h1", ["v1"])
        assert snap is not None
        assert apply_analysis(uow, snap, analysis, 1, 100.0, ("audit",))


def test_devices_saved_updated_and_removed(uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]) -> None:
    _vm_on_h1(uow, hosts)
    _apply(uow, Analysis(devices_saved=(("v1", DISK), ("v1", SERIAL))))
    with uow:
        assert uow.vms.devices_of(["v1", "v2"]) == {"v1": (DISK, SERIAL)}
    unplugged = replace(DISK, plugged=False, address="")
    _apply(uow, Analysis(devices_saved=(("v1", unplugged),), devices_removed=(("v1", "s1"),)))
    with uow:
        assert uow.vms.devices_of(["v1"]) == {"v1": (unplugged,)}


def test_jobs_round_trip_with_the_vm(uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]) -> None:
    _vm_on_h1(uow, hosts)
    with uow:
        snap = uow.hosts.load_snapshot("h1", ["v1"])
        assert snap is not None and snap.vms["v1"].jobs == ()
        changed = replace(snap.vms["v1"], jobs=(JOB,))
        assert apply_analysis(uow, snap, Analysis(vms=(changed,)), 1, 100.0, ("audit",))
    with uow:
        snap = uow.hosts.load_snapshot("h1", ["v1"])
        assert snap is not None and snap.vms["v1"].jobs == (JOB,)


def test_stored_devices_are_loaded_only_for_reports_that_carry_devices(
    engine: Engine, uow: SqlUnitOfWork, hosts: tuple[HostConfig, HostConfig]
) -> None:
    _vm_on_h1(uow, hosts)
    _apply(uow, Analysis(devices_saved=(("v1", DISK),)))
    plain = HostReport("h1", 100.0, vms=(VmReport("v1", VmStatus.Up),), vms_full=True)
    with uow:
        snap = uow.hosts.load_snapshot("h1", ["v1"])
        assert snap is not None
        with StatementCounter(engine) as sql:
            same = with_devices(uow, {"h1": snap}, [plain])
        assert same["h1"] is snap and sql.count == 0  # the common case: no query
        carrying = replace(plain, vms=(VmReport("v1", VmStatus.Up, devices=()),))
        with StatementCounter(engine) as sql:
            loaded = with_devices(uow, {"h1": snap}, [carrying])
        assert loaded["h1"].devices == {"v1": (DISK,)} and sql.count == 1
