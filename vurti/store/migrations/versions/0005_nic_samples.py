"""Keep each host's and VM's last NIC counters: VDSM sends counters, rates come from two samples.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("vds_dynamic", "vm_dynamic"):
        op.add_column(table, sa.Column("nic_samples", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in ("vds_dynamic", "vm_dynamic"):
        op.drop_column(table, "nic_samples")
