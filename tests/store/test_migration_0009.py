"""Migration 0009 (host rules): rows stored before it load with the rules' defaults, and it goes back down."""

from __future__ import annotations

import sqlalchemy as sa

from vurti.store import make_engine
from vurti.store.db import alembic_config, upgrade
from vurti.store.unit_of_work import SqlUnitOfWork

NETS = '["ovirtmgmt"]'


def test_rows_from_before_load_with_defaults_and_the_migration_goes_back_down(db_url: str) -> None:
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO clusters (id, name, refresh_interval, push_interval, required_cpu_flags, "
                                 "required_networks) VALUES ('c1', 'c1', 3, 15, '[]', :nets)"), {"nets": NETS})
            conn.execute(sa.text("INSERT INTO vds_static (id, name, cluster_id, url, is_spm) "
                                 "VALUES ('h1', 'h1', 'c1', 'stomp://h1:54321', false)"))
            conn.execute(sa.text("INSERT INTO vds_dynamic (vds_id, status, unanswered_attempts, cpu_flags, networks, "
                                 "vm_count) VALUES ('h1', 3, 0, '[]', :nets, 0)"), {"nets": NETS})
        upgrade(db_url)
        with SqlUnitOfWork(engine) as uow:
            snapshot = uow.hosts.load_snapshot("h1")
        assert snapshot is not None
        assert snapshot.cluster.required_rng_sources == () and snapshot.cluster.max_memory_used_percent is None
        state = snapshot.state
        assert (state.kvm_enabled, state.network_nics, state.nic_states, state.alerts_sent) == (None, (), (), ())
        from alembic import command
        from alembic.script import ScriptDirectory

        with engine.connect() as conn:
            cfg = alembic_config(db_url)
            cfg.attributes["connection"] = conn
            before = ScriptDirectory.from_config(cfg).get_revision("0009").down_revision
            command.downgrade(cfg, before)  # 0009 alone
            conn.commit()
        assert "alerts_sent" not in {c["name"] for c in sa.inspect(engine).get_columns("vds_dynamic")}
        assert "disks_free" not in {c["name"] for c in sa.inspect(engine).get_columns("vds_statistics")}
    finally:
        engine.dispose()
