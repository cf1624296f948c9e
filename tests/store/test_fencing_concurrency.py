"""Two writers of one host with fencing tokens 5 and 6, on one snapshot: never both written.

Token 6 first: 5 is refused (a writer that lost its lock). Token 5 first: 6 wrote on a
snapshot 5 has written over since, so it is refused as a conflict (the update service
redoes it on a fresh snapshot), not written over 5's change.

The interleavings are forced, not hoped for: a writer can be held just before its
commit (after its fencing UPDATE took the host's row lock), and the test waits,
by polling pg_stat_activity, until the other writer is blocked on that lock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.procs import wait_for
from vurti.domain.analysis import Analysis
from vurti.domain.events import HostStatusChanged
from vurti.domain.model import HostSnapshot, VmState, replace
from vurti.domain.status import HostStatus, VmStatus
from vurti.store import ApplyResult, SqlUnitOfWork, apply_analysis
from vurti.store.tables import outbox


class HeldUnitOfWork(SqlUnitOfWork):
    """Pauses in commit() until released, with the transaction (and its row locks) open."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.at_commit = threading.Event()
        self.release = threading.Event()

    def commit(self) -> None:
        self.at_commit.set()
        assert self.release.wait(30), "never released"
        super().commit()


def writer_analysis(snap: HostSnapshot, token: int) -> Analysis:
    return Analysis(
        host=replace(snap.state, status=HostStatus.Up, status_reason=f"token {token}"),
        vms=(replace(snap.vms["vm-1"], status=VmStatus.Paused, pause_code=f"token {token}"),),
        events=(HostStatusChanged("h1", float(token), "Unassigned", "Up", f"token {token}"),),
    )


def write(uow: SqlUnitOfWork, snap: HostSnapshot, token: int) -> ApplyResult:
    with uow:
        return apply_analysis(uow, snap, writer_analysis(snap, token), token, float(token), ["audit"])


def prepare(uow: SqlUnitOfWork) -> HostSnapshot:
    with uow:
        uow.vms.save_vms({}, [VmState("vm-1", name="one", host_id="h1", status=VmStatus.Up)])
        uow.commit()
    with uow:
        snap = uow.hosts.load_snapshot("h1")
    assert snap is not None
    return snap


def final(uow: SqlUnitOfWork) -> tuple[str | None, str | None, int]:
    with uow:
        snap = uow.hosts.load_snapshot("h1")
        assert snap is not None
        return snap.state.status_reason, snap.vms["vm-1"].pause_code, snap.fence_token


def outbox_reasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(p["data"]["reason"] for p in conn.execute(sa.select(outbox.c.payload)).scalars())


@pytest.mark.parametrize("order", [(5, 6), (6, 5)])
def test_sequential_writers_newest_token_wins(
    engine: Engine, uow: SqlUnitOfWork, hosts: object, order: tuple[int, int]
) -> None:
    snap = prepare(uow)
    results = {t: write(SqlUnitOfWork(engine), snap, t) for t in order}
    winner = order[0]
    assert bool(results[winner]) and not results[11 - winner]
    assert results[6].conflict == (order == (5, 6))  # behind 5's write, not a lost lock: redone
    assert final(uow) == (f"token {winner}", f"token {winner}", winner)


def lock_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("first", [5, 6])
def test_concurrent_writers_newest_token_wins(
    db_url: str, engine: Engine, uow: SqlUnitOfWork, hosts: object, first: int
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between two connections: PostgreSQL")
    snap = prepare(uow)
    second = 11 - first
    held = HeldUnitOfWork(engine)
    with ThreadPoolExecutor(2) as pool:
        first_result = pool.submit(write, held, snap, first)
        assert held.at_commit.wait(30)  # first writer: fenced and written, not committed
        second_result = pool.submit(write, SqlUnitOfWork(engine), snap, second)
        wait_for(lambda: lock_waiters(engine) >= 1, what="second writer blocked on the host row")
        assert not second_result.done()
        held.release.set()
        results = {first: first_result.result(30), second: second_result.result(30)}
    # 6 first: 5 wakes up, sees token 6 and writes nothing. 5 first: 6 wakes up, sees its snapshot
    # written over and writes nothing either (a conflict: the update service redoes it).
    assert bool(results[first]) and not results[second]
    assert results[second].conflict == (first == 5)
    assert final(uow) == (f"token {first}", f"token {first}", first)
    assert outbox_reasons(engine) == [f"token {first}"]
