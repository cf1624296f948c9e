"""Ids of purged outbox rows never come back (SQLite without AUTOINCREMENT reuses them)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vurti.domain.events import HostStatusChanged
from vurti.store import SqlUnitOfWork, make_engine, upgrade
from vurti.store.tables import audit_log, outbox


def _events(start: int, n: int) -> list[HostStatusChanged]:
    return [HostStatusChanged("h1", float(t), "Up", "Down") for t in range(start, start + n)]


def test_purged_ids_are_not_handed_out_again(engine: Engine) -> None:
    uow = SqlUnitOfWork(engine)
    with uow:
        first = uow.outbox.add(_events(0, 3), ["audit"], now=1.0)
        uow.audit.add_many(first)
        uow.outbox.mark_delivered("audit", [i for i, _ in first])
        uow.commit()
    with uow:
        assert uow.outbox.purge_delivered(older_than=2.0) == 3  # all of them, the newest too
        uow.commit()
    with uow:
        again = uow.outbox.add(_events(10, 1), ["audit"], now=3.0)
        uow.audit.add_many(again)
        uow.commit()
    assert again[0][0] > max(i for i, _ in first)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 4  # no line dropped


def test_upgrade_to_0003_keeps_rows_and_pending_deliveries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        uow = SqlUnitOfWork(engine)
        with uow:
            items = uow.outbox.add(_events(0, 4), ["audit", "live"], now=1.0)
            uow.audit.add_many(items)
            uow.outbox.mark_delivered("audit", [i for i, _ in items])
            uow.commit()
        with engine.begin() as conn:  # the newest outbox row was purged before the upgrade
            conn.execute(sa.delete(outbox).where(outbox.c.id == items[-1][0]))
        engine.dispose()
        upgrade(url)
        with uow:
            assert [i for i, _ in uow.outbox.pending("live")] == [i for i, _ in items[:-1]]
            later = uow.outbox.add(_events(20, 1), ["audit"], now=5.0)
            uow.commit()
        assert later[0][0] > items[-1][0]  # above the id the audit log still refers to
        with engine.connect() as conn:
            assert "AUTOINCREMENT" in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'outbox'").scalar()
    finally:
        engine.dispose()
