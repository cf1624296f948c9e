"""Migrations create the schema the code expects, and every domain field has a column."""

from __future__ import annotations

from dataclasses import fields

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from vurti.domain.model import Cluster, HostConfig, HostState, VmState, VmUsage, field_names
from vurti.domain.report import HostStats, VmStats
from vurti.store import make_engine, upgrade
from vurti.store.db import alembic_config, current_revision
from vurti.store.tables import clusters, metadata, vds_dynamic, vds_static, vds_statistics, vm_statistics
from vurti.store.vm_codec import STATIC_COLUMNS, VM


def test_upgrade_from_empty_is_idempotent_and_matches_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(db_url)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert current_revision(engine) == head
        upgrade(db_url)  # again: nothing to do, no error
        assert current_revision(engine) == head
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("cls", "table", "renames", "extra"),
    [
        (Cluster, clusters, {}, set()),
        (HostConfig, vds_static, {}, set()),
        (HostState, vds_dynamic, {"host_id": "vds_id"}, {"fence_token", "updated_at"}),
        (HostStats, vds_statistics, {}, {"vds_id", "updated_at"}),
        (VmStats, vm_statistics, {}, {"vm_id", "updated_at"} | {f.name for f in fields(VmUsage)}),
    ],
)
def test_every_field_has_a_column(cls: type, table: object, renames: dict[str, str], extra: set[str]) -> None:
    expected = {renames.get(name, name) for name in field_names(cls)} | extra
    assert {c.name for c in table.c} == expected  # type: ignore[attr-defined]


def test_every_vm_field_has_a_column() -> None:
    from vurti.store.tables import vm_dynamic, vm_static

    columns = set(VM.columns.values())
    assert {c.name for c in vm_static.c} == STATIC_COLUMNS | {"vm_id"}
    assert {c.name for c in vm_dynamic.c} == (columns - STATIC_COLUMNS)
    assert len(VM.columns) == len(fields(VmState))


def test_engine_is_not_created_at_import() -> None:
    from vurti import store

    assert not any(isinstance(v, Engine) for v in vars(store).values())
