"""VM statistics users look at: vCPU count, CPU per vCPU, network usage, usage histories.

The NIC counters a VM's next rates start from move from vm_dynamic to vm_statistics:
they change on every statistics cycle, and in vm_dynamic they rewrote every VM's
dynamic row each cycle.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_HISTORIES = ("cpu_usage_history", "memory_usage_history", "network_usage_history")


def upgrade() -> None:
    with op.batch_alter_table("vm_statistics") as batch:
        batch.add_column(sa.Column("vcpu_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("usage_cpu_percent", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("usage_network_percent", sa.Integer(), nullable=True))
        for name in (*_HISTORIES, "nic_samples"):
            batch.add_column(sa.Column(name, sa.JSON(), nullable=False, server_default="[]"))
    op.execute(
        "UPDATE vm_statistics SET nic_samples = "
        "(SELECT d.nic_samples FROM vm_dynamic d WHERE d.vm_id = vm_statistics.vm_id) "
        "WHERE EXISTS (SELECT 1 FROM vm_dynamic d WHERE d.vm_id = vm_statistics.vm_id)"
    )
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.drop_column("nic_samples")


def downgrade() -> None:
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.add_column(sa.Column("nic_samples", sa.JSON(), nullable=False, server_default="[]"))
    op.execute(
        "UPDATE vm_dynamic SET nic_samples = "
        "(SELECT s.nic_samples FROM vm_statistics s WHERE s.vm_id = vm_dynamic.vm_id) "
        "WHERE EXISTS (SELECT 1 FROM vm_statistics s WHERE s.vm_id = vm_dynamic.vm_id)"
    )
    with op.batch_alter_table("vm_statistics") as batch:
        for name in ("nic_samples", *reversed(_HISTORIES), "usage_network_percent", "usage_cpu_percent",
                     "vcpu_count"):
            batch.drop_column(name)
