"""Retention: old rows go, an event some subscriber has not taken stays, whatever its age."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vurti.config import RetentionSettings, Settings
from vurti.domain.commands import DestroyVm
from vurti.domain.events import HostStatusChanged
from vurti.store import SqlUnitOfWork
from vurti.store.retention import DAY, Purged, purge
from vurti.store.tables import audit_log, host_commands, outbox, vm_static, vm_statistics

NOW = 100 * DAY
KEEP = RetentionSettings(outbox_days=1, audit_days=30, commands_days=7, stats_days=7)


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _stats_row(vm_id: str, updated_at: float) -> dict[str, object]:
    return {"vm_id": vm_id, "updated_at": updated_at, "cpu_user": 0.0, "cpu_sys": 0.0, "elapsed_time": 0.0,
            "mem_usage": 0, "nics": [], "disks": []}


def test_purge_deletes_only_what_is_past_its_time_and_delivered(engine: Engine) -> None:
    uow = SqlUnitOfWork(engine)
    old, recent = NOW - 40 * DAY, NOW - 0.5 * DAY
    with uow:
        delivered_old = uow.outbox.add([HostStatusChanged("h1", 1.0, "Up", "Down")], ["audit"], now=old)
        pending_old = uow.outbox.add([HostStatusChanged("h1", 2.0, "Up", "Down")], ["audit", "live"], now=old)
        uow.outbox.add([HostStatusChanged("h1", 3.0, "Up", "Down")], ["audit"], now=recent)
        uow.audit.add_many(delivered_old + pending_old)
        uow.outbox.mark_delivered("audit", [i for i, _ in delivered_old + pending_old])
        uow.outbox.mark_failed("live", [pending_old[0][0]], "poison", next_attempt_at=old)  # parked or pending
        keys = uow.commands.add([(DestroyVm("h1", f"vm-{i}", "down"), "x") for i in range(3)], now=old)
        uow.commands.mark_done(keys[0])
        uow.commands.mark_failed(keys[1], "refused", next_attempt_at=None)  # given up; keys[2] still pending
        uow.commit()
    with engine.begin() as conn:
        conn.execute(sa.update(audit_log).values(at=recent))
        conn.execute(sa.update(audit_log).where(audit_log.c.outbox_id == delivered_old[0][0]).values(at=old))
        conn.execute(vm_static.insert(), [{"vm_id": v, "name": v, "managed": True, "auto_start": False}
                                          for v in ("gone", "running")])
        conn.execute(vm_statistics.insert(), [_stats_row("gone", NOW - 8 * DAY), _stats_row("running", NOW - 60)])
    assert _count(engine, outbox) == 3 and _count(engine, host_commands) == 3

    purged = purge(lambda: uow, KEEP, NOW)

    assert purged == Purged(outbox=1, audit=1, commands=2, vm_statistics=1)
    with uow:
        # Still owed to "live": kept however old it is.
        assert [i for i, _ in uow.outbox.pending("live")] == [pending_old[0][0]]
        assert [c.key for c in uow.commands.list_commands()] == [keys[2]]
    with engine.connect() as conn:
        assert conn.execute(sa.select(vm_statistics.c.vm_id)).scalars().all() == ["running"]
    assert _count(engine, outbox) == 2 and _count(engine, audit_log) == 1
    assert purge(lambda: uow, KEEP, NOW) == Purged()  # nothing left to do


def test_retention_defaults_and_variables() -> None:
    assert Settings.from_env({}).retention == RetentionSettings(1.0, 30.0, 7.0, 7.0)
    custom = Settings.from_env({"VURTI_RETAIN_AUDIT_DAYS": "90", "VURTI_RETAIN_OUTBOX_DAYS": "0.5"}).retention
    assert custom.audit_days == 90 and custom.outbox_days == 0.5


def test_beat_runs_the_purge_hourly() -> None:
    import celeryconfig

    entry = celeryconfig.beat_schedule["vurti-purge"]
    assert entry["task"] == "vurti.purge" and entry["schedule"] == 3600.0
