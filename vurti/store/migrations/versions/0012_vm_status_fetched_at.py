"""The engine time of the report a VM's statusTime came from (vm_dynamic.status_fetched_at).

An absence from a full VM list carries no statusTime; it is ordered by this instead
(analyze/staleness.py:absence_is_stale).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.add_column(sa.Column("status_fetched_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vm_dynamic") as batch:
        batch.drop_column("status_fetched_at")
