"""A VM's devices (refreshed when its device hash changes) and its block jobs.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vm_dynamic", sa.Column("jobs", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "vm_devices",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("plugged", sa.Boolean(), nullable=False),
        sa.Column("readonly", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["vm_id"], ["vm_static.vm_id"], name="fk_vm_devices_vm_id_vm_static",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("vm_id", "device_id", name="pk_vm_devices"),
    )


def downgrade() -> None:
    op.drop_table("vm_devices")
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.drop_column("jobs")
