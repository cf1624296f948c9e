"""Pending engine operations: loaded with the snapshots of the hosts they concern (a query only
when there are some), deleted by the analysis that settles them, once."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from vurti.domain.analysis import Analysis
from vurti.domain.events import EngineOperationSucceeded
from vurti.domain.model import HostConfig, HostSnapshot, HostState, OperationKind, PendingOperation, VmState
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import SqlUnitOfWork, make_engine, upgrade
from vurti.store.instrument import StatementCounter
from vurti.store.updater import Write, apply_analyses

SUBSCRIBERS = ("audit", "live")


@pytest.fixture
def fleet(uow: SqlUnitOfWork, hosts: object) -> list[str]:
    """Hosts h3..h7, Up, with one VM each (`<host>-vm0`); returns their ids."""
    ids = [f"h{i}" for i in range(3, 8)]
    with uow:
        for host_id in ids:
            uow.hosts.add_host(HostConfig(host_id, f"host-{host_id}", "c1", "http://127.0.0.1:1"))
            uow.hosts.save_host_state(HostState(host_id), HostState(host_id, status=HostStatus.Up))
            uow.vms.save_vms({}, [VmState(f"{host_id}-vm0", name=f"{host_id}-vm0", host_id=host_id,
                                          status=VmStatus.Up, status_time=1, status_time_host=host_id)])
        uow.commit()
    return ids


def snapshots(uow: SqlUnitOfWork, host_ids: list[str]) -> dict[str, HostSnapshot]:
    with uow:
        return uow.hosts.load_snapshots([(h, ()) for h in host_ids])


def _expect(uow: SqlUnitOfWork, *ops: PendingOperation) -> None:
    with uow:
        for op in ops:
            uow.operations.expect(op)
        uow.commit()


def test_operations_come_with_the_snapshots_of_their_hosts(
    engine: Engine, uow: SqlUnitOfWork, fleet: list[str]
) -> None:
    with uow:
        uow.vms.save_vms({}, [VmState("stopped", name="stopped", status=VmStatus.Down)])
        uow.commit()
    run = PendingOperation("stopped", OperationKind.RUN, fleet[0], 10.0, 70.0)
    migrate = PendingOperation(f"{fleet[1]}-vm0", OperationKind.MIGRATE, fleet[1], 10.0, 70.0, fleet[2])
    _expect(uow, run, migrate)
    with StatementCounter(engine) as sql, uow:
        snaps = uow.hosts.load_snapshots([(h, ()) for h in fleet])
    assert sql.count == 3  # hosts, their operations, VMs
    assert snaps[fleet[0]].operations == {"stopped": run}
    assert snaps[fleet[0]].vms["stopped"].status is VmStatus.Down  # not on the host, loaded for its operation
    assert snaps[fleet[1]].operations == snaps[fleet[2]].operations == {migrate.vm_id: migrate}
    assert migrate.vm_id in snaps[fleet[2]].vms
    assert all(not snaps[h].operations for h in fleet[3:])
    # Hosts no operation concerns cost the two queries of a fleet without any.
    with StatementCounter(engine) as sql, uow:
        others = uow.hosts.load_snapshots([(h, ()) for h in fleet[3:]])
    assert sql.count == 2 and all(not s.operations for s in others.values())


def test_migration_0008_goes_down_and_up_again(db_url: str) -> None:
    from alembic import command

    from vurti.store.db import alembic_config

    upgrade(db_url)
    config = alembic_config(db_url)
    command.downgrade(config, "0006")
    engine = make_engine(db_url)
    try:
        assert "pending_operations" not in inspect(engine).get_table_names()
        assert "lease_sd_id" not in {c["name"] for c in inspect(engine).get_columns("vm_static")}
    finally:
        engine.dispose()
    upgrade(db_url)


def test_a_settled_operation_is_deleted_once(uow: SqlUnitOfWork, fleet: list[str]) -> None:
    vm_id = f"{fleet[0]}-vm0"
    op = PendingOperation(vm_id, OperationKind.RUN, fleet[0], 10.0, 70.0)
    _expect(uow, op)
    snap = snapshots(uow, [fleet[0]])[fleet[0]]
    event = EngineOperationSucceeded(fleet[0], 20.0, vm_id=vm_id, kind="run", status="Up")
    settled = Analysis(events=(event,), ended_operations=(vm_id,))
    with uow:
        assert apply_analyses(uow, [Write(snap, settled, 1)], 20.0, SUBSCRIBERS) is not None
    with uow:
        assert uow.operations.get(vm_id) is None
    # The same settlement from a snapshot read before: refused (redone), no second event.
    with uow:
        assert apply_analyses(uow, [Write(snap, settled, 2)], 21.0, SUBSCRIBERS) is None
    with uow:
        assert uow.outbox.pending_count("audit") == 1


def test_a_replaced_operation_is_not_settled_by_an_old_snapshot(uow: SqlUnitOfWork, fleet: list[str]) -> None:
    vm_id = f"{fleet[0]}-vm0"
    _expect(uow, PendingOperation(vm_id, OperationKind.RUN, fleet[0], 10.0, 70.0))
    snap = snapshots(uow, [fleet[0]])[fleet[0]]
    newer = PendingOperation(vm_id, OperationKind.RUN, fleet[0], 15.0, 75.0)
    _expect(uow, newer)
    with uow:
        assert apply_analyses(uow, [Write(snap, Analysis(ended_operations=(vm_id,)), 1)], 20.0, SUBSCRIBERS) is None
    with uow:
        assert uow.operations.get(vm_id) == newer
