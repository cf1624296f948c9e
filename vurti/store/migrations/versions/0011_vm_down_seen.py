"""A VM's Down record seen on another host while it ran on its own (vm_dynamic.down_seen_*).

Kept so that a later "migration succeeded" from the VM's host, with no destination known,
resolves to the host that reported it Down (analyze/lifecycle.py:down_reported).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.add_column(sa.Column("down_seen_on_host", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("down_seen_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.drop_column("down_seen_at")
        batch.drop_column("down_seen_on_host")
