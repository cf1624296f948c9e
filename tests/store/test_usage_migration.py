"""Migration 0010: the NIC counters a VM's next rates start from move to its statistics row."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command

from vurti.domain.model import NicSample, VmUsage
from vurti.store import SqlUnitOfWork, make_engine, upgrade
from vurti.store.db import alembic_config

SAMPLES = '[{"name": "vnet0", "rx": 10, "tx": 20, "sample_time": 30.5}]'


def test_upgrade_moves_nic_samples_to_the_statistics_row_and_back(db_url: str) -> None:
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for vm_id in ("with-stats", "without-stats"):
                conn.execute(sa.text("INSERT INTO vm_static (vm_id, name, managed, auto_start) "
                                     "VALUES (:v, :v, true, false)"), {"v": vm_id})
                conn.execute(sa.text("INSERT INTO vm_dynamic (vm_id, status, nic_states, guest_mem_low, "
                                     "balloon_misses, nic_samples) VALUES (:v, 1, '[]', false, 0, :s)"),
                             {"v": vm_id, "s": SAMPLES})
            conn.execute(sa.text("INSERT INTO vm_statistics (vm_id, updated_at, cpu_user, cpu_sys, elapsed_time, "
                                 "mem_usage, nics, disks) VALUES ('with-stats', 1.0, 2.0, 3.0, 4.0, 5, '[]', '[]')"))
        engine.dispose()
        upgrade(db_url)
        with SqlUnitOfWork(engine) as uow:
            assert uow.vms.get_vm_usage("with-stats") == VmUsage(nic_samples=(NicSample("vnet0", 10, 20, 30.5),))
            assert uow.vms.get_vm_usage("without-stats") is None  # no statistics yet: the next cycle starts afresh
            assert uow.vms.get_vm("with-stats") is not None
        with engine.connect() as conn:
            assert "nic_samples" not in {c["name"] for c in sa.inspect(conn).get_columns("vm_dynamic")}
        with engine.connect() as conn:  # and back down: the counters return to vm_dynamic
            cfg = alembic_config(db_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
            conn.commit()
            moved = conn.execute(sa.text("SELECT vm_id, nic_samples FROM vm_dynamic ORDER BY vm_id")).all()
        assert [(vm_id, _json(s)) for vm_id, s in moved] == [("with-stats", _json(SAMPLES)), ("without-stats", [])]
    finally:
        engine.dispose()


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value
