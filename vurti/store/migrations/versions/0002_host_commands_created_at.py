"""Index host_commands by creation time, so repeats of a recent command are found cheaply.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_host_commands_created_at", "host_commands", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_host_commands_created_at", table_name="host_commands")
