"""SQLite: never reuse the ids of outbox, audit_log and host_commands rows once rows are purged.

Without AUTOINCREMENT SQLite gives a new row the largest id in the table plus one, so
after the newest rows are deleted their ids come back; an audit line or a live-feed
entry keyed on a reused outbox id would then be taken for a redelivery and dropped.
The tables are rebuilt with AUTOINCREMENT, their rows copied, and each id sequence
starts above every id already handed out (for the outbox, also above the outbox ids the
audit log recorded). PostgreSQL's sequences never reuse ids: nothing to do there.

The old tables are renamed, not dropped first: dropping `outbox` would cascade to its
pending deliveries.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SERIAL = sa.Integer()  # the SQLite form of the id columns


def _tables() -> dict[str, tuple[list[sa.schema.SchemaItem], list[tuple[str, list[str]]]]]:
    """Per table: its columns and constraints as in 0001 (ids AUTOINCREMENT), and its indexes."""
    return {
        "outbox": (
            [
                sa.Column("id", SERIAL, autoincrement=True, nullable=False),
                sa.Column("host_id", sa.String(length=128), nullable=False),
                sa.Column("event_type", sa.String(length=64), nullable=False),
                sa.Column("payload", sa.JSON(), nullable=False),
                sa.Column("created_at", sa.Float(), nullable=False),
                sa.Column("dedup_key", sa.String(length=64), nullable=False),
                sa.PrimaryKeyConstraint("id", name="pk_outbox"),
                sa.UniqueConstraint("dedup_key", name="uq_outbox_dedup_key"),
            ],
            [("ix_outbox_created_at", ["created_at"])],
        ),
        "outbox_delivery": (
            [
                sa.Column("subscriber", sa.String(length=64), nullable=False),
                sa.Column("outbox_id", SERIAL, nullable=False),
                sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
                sa.Column("next_attempt_at", sa.Float(), server_default="0", nullable=False),
                sa.Column("last_error", sa.Text(), nullable=True),
                sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_outbox_delivery_outbox_id_outbox",
                                        ondelete="CASCADE"),
                sa.PrimaryKeyConstraint("subscriber", "outbox_id", name="pk_outbox_delivery"),
            ],
            [("ix_outbox_delivery_outbox_id", ["outbox_id"])],
        ),
        "audit_log": (
            [
                sa.Column("id", SERIAL, autoincrement=True, nullable=False),
                sa.Column("at", sa.Float(), nullable=False),
                sa.Column("severity", sa.String(length=16), nullable=False),
                sa.Column("host_id", sa.String(length=128), nullable=True),
                sa.Column("vm_id", sa.String(length=128), nullable=True),
                sa.Column("event_type", sa.String(length=64), nullable=False),
                sa.Column("message", sa.Text(), nullable=False),
                sa.Column("outbox_id", sa.BigInteger(), nullable=True),
                sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
                sa.UniqueConstraint("outbox_id", name="uq_audit_log_outbox_id"),
            ],
            [("ix_audit_log_host_id_id", ["host_id", "id"])],
        ),
        "host_commands": (
            [
                sa.Column("id", SERIAL, autoincrement=True, nullable=False),
                sa.Column("key", sa.String(length=512), nullable=False),
                sa.Column("host_id", sa.String(length=128), nullable=False),
                sa.Column("kind", sa.String(length=64), nullable=False),
                sa.Column("payload", sa.JSON(), nullable=False),
                sa.Column("state", sa.String(length=16), nullable=False),
                sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
                sa.Column("next_attempt_at", sa.Float(), nullable=False),
                sa.Column("created_at", sa.Float(), nullable=False),
                sa.Column("last_error", sa.Text(), nullable=True),
                sa.PrimaryKeyConstraint("id", name="pk_host_commands"),
                sa.UniqueConstraint("key", name="uq_host_commands_key"),
            ],
            [("ix_host_commands_state_next_attempt_at", ["state", "next_attempt_at"]),
             ("ix_host_commands_created_at", ["created_at"])],
        ),
    }


# The first id each rebuilt table may hand out is above these (SQLite's sqlite_sequence).
SEQUENCE_FLOORS = {
    "outbox": "SELECT max(coalesce((SELECT max(id) FROM outbox), 0), "
              "coalesce((SELECT max(outbox_id) FROM audit_log), 0))",
    "audit_log": "SELECT coalesce(max(id), 0) FROM audit_log",
    "host_commands": "SELECT coalesce(max(id), 0) FROM host_commands",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    floors = {name: int(bind.execute(sa.text(sql)).scalar() or 0) for name, sql in SEQUENCE_FLOORS.items()}
    tables = _tables()
    for name, (_, indexes) in tables.items():
        for index, _columns in indexes:
            op.execute(f'DROP INDEX IF EXISTS "{index}"')
        op.execute(f'ALTER TABLE "{name}" RENAME TO "_old_{name}"')
    for name, (items, indexes) in tables.items():
        op.create_table(name, *items, sqlite_autoincrement=name in SEQUENCE_FLOORS)
        for index, columns in indexes:
            op.create_index(index, name, columns, unique=False)
        names = ", ".join(f'"{c.name}"' for c in items if isinstance(c, sa.Column))
        op.execute(f'INSERT INTO "{name}" ({names}) SELECT {names} FROM "_old_{name}"')
    for name, seq in floors.items():
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :n"), {"n": name})
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :s)"), {"n": name, "s": seq})
    for name in ("outbox_delivery", "outbox", "audit_log", "host_commands"):  # children first
        op.execute(f'DROP TABLE "_old_{name}"')


def downgrade() -> None:
    """Nothing to undo: AUTOINCREMENT tables work with the 0002 code as they are."""
