"""Highly available VMs' leases, lost hosts' lease clock, and pending engine-started operations.

vm_static.lease_sd_id (an administrator's setting, like auto_start); vds_dynamic's
non_responsive_since and lease_restart_at (VMs with a lease are restartable elsewhere
after a delay counted from the host becoming NonResponsive); pending_operations (runs
and migrations the engine started, until the monitor confirms or fails them).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vm_static", sa.Column("lease_sd_id", sa.String(length=128), nullable=True))
    op.add_column("vds_dynamic", sa.Column("non_responsive_since", sa.Float(), nullable=True))
    op.add_column("vds_dynamic", sa.Column("lease_restart_at", sa.Float(), nullable=True))
    op.create_table(
        "pending_operations",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host_id", sa.String(length=128), nullable=False),
        sa.Column("destination_host_id", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("vm_id", name="pk_pending_operations"),
    )
    op.create_index("ix_pending_operations_host_id", "pending_operations", ["host_id"])
    op.create_index("ix_pending_operations_destination_host_id", "pending_operations", ["destination_host_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_operations_destination_host_id", table_name="pending_operations")
    op.drop_index("ix_pending_operations_host_id", table_name="pending_operations")
    op.drop_table("pending_operations")
    op.drop_column("vds_dynamic", "lease_restart_at")
    op.drop_column("vds_dynamic", "non_responsive_since")
    op.drop_column("vm_static", "lease_sd_id")
