"""Clusters' push interval: safety-net polls of a host while its VDSM events flow (oVirt 4.x: 15 s).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("push_interval", sa.Float(), nullable=False, server_default="15"))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("push_interval")
