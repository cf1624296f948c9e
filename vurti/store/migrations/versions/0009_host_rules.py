"""Host rules: cluster thresholds and RNG sources, the host's NIC states, flood-regulated alerts, disk space.

Clusters may set their own memory threshold (a percentage, or free MB) and the RNG
sources their hosts must offer; a host's dynamic row remembers what the host rules
compare with the next report (KVM, RNG sources, each network's NICs, each bond's
slaves, their last state, since when a required network's NIC is down, when each alert was last raised);
its statistics row keeps the free space of its local disks.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CLUSTER_COLUMNS = (
    ("required_rng_sources", sa.JSON(), False, "[]"),
    ("max_memory_used_percent", sa.Float(), True, None),
    ("min_free_memory_mb", sa.Integer(), True, None),
)
HOST_COLUMNS = (
    ("kvm_enabled", sa.Boolean(), True, None),
    ("rng_sources", sa.JSON(), False, "[]"),
    ("network_nics", sa.JSON(), False, "[]"),
    ("bond_slaves", sa.JSON(), False, "[]"),
    ("nic_states", sa.JSON(), False, "[]"),
    ("nics_down_since", sa.Float(), True, None),
    ("alerts_sent", sa.JSON(), False, "[]"),
)
STATISTICS_COLUMNS = (("disks_free", sa.JSON(), False, "[]"),)
TABLES = (("clusters", CLUSTER_COLUMNS), ("vds_dynamic", HOST_COLUMNS), ("vds_statistics", STATISTICS_COLUMNS))


def upgrade() -> None:
    for table, columns in TABLES:
        for name, type_, nullable, default in columns:
            op.add_column(table, sa.Column(name, type_, nullable=nullable, server_default=default))


def downgrade() -> None:
    """ALTER TABLE ... DROP COLUMN (SQLite 3.35+ too): a rebuilt `clusters` table could not be
    dropped while hosts refer to it."""
    for table, columns in TABLES:
        for name, *_ in columns:
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{name}"')
