"""Initial schema: clusters, hosts, VMs (static / dynamic / statistics), outbox, audit log, host commands.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("host_id", sa.String(length=128), nullable=True),
        sa.Column("vm_id", sa.String(length=128), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_audit_log_outbox_id")),
    )
    op.create_index(op.f("ix_audit_log_host_id_id"), "audit_log", ["host_id", "id"], unique=False)

    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("refresh_interval", sa.Float(), nullable=False),
        sa.Column("required_cpu_flags", sa.JSON(), nullable=False),
        sa.Column("required_networks", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "host_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("host_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_commands")),
        sa.UniqueConstraint("key", name=op.f("uq_host_commands_key")),
    )
    op.create_index(
        op.f("ix_host_commands_state_next_attempt_at"), "host_commands", ["state", "next_attempt_at"], unique=False
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("host_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_outbox_dedup_key")),
    )
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"], unique=False)

    op.create_table(
        "vm_static",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("auto_start", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("vm_id", name=op.f("pk_vm_static")),
    )
    op.create_table(
        "outbox_delivery",
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.Float(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_delivery_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subscriber", "outbox_id", name=op.f("pk_outbox_delivery")),
    )
    op.create_index(op.f("ix_outbox_delivery_outbox_id"), "outbox_delivery", ["outbox_id"], unique=False)

    op.create_table(
        "vds_static",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("cluster_id", sa.String(length=128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("is_spm", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_vds_static_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vds_static")),
        sa.UniqueConstraint("name", name=op.f("uq_vds_static_name")),
    )
    op.create_index(op.f("ix_vds_static_cluster_id"), "vds_static", ["cluster_id"], unique=False)

    op.create_table(
        "vm_dynamic",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("run_on_host", sa.String(length=128), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("migrating_to_host", sa.String(length=128), nullable=True),
        sa.Column("status_time", sa.BigInteger(), nullable=True),
        sa.Column("status_time_host", sa.String(length=128), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("exit_reason", sa.Integer(), nullable=True),
        sa.Column("exit_message", sa.Text(), nullable=True),
        sa.Column("pause_code", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=255), nullable=True),
        sa.Column("guest_ips", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=255), nullable=True),
        sa.Column("last_watchdog_time", sa.Float(), nullable=True),
        sa.Column("nic_states", sa.JSON(), nullable=False),
        sa.Column("migrating_from_host", sa.String(length=128), nullable=True),
        sa.Column("guest_mem_low", sa.Boolean(), nullable=False),
        sa.Column("balloon_misses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm_static.vm_id"], name=op.f("fk_vm_dynamic_vm_id_vm_static"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vm_id", name=op.f("pk_vm_dynamic")),
    )
    op.create_index(op.f("ix_vm_dynamic_migrating_to_host"), "vm_dynamic", ["migrating_to_host"], unique=False)
    op.create_index(op.f("ix_vm_dynamic_run_on_host"), "vm_dynamic", ["run_on_host"], unique=False)

    op.create_table(
        "vm_statistics",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("cpu_user", sa.Float(), nullable=False),
        sa.Column("cpu_sys", sa.Float(), nullable=False),
        sa.Column("elapsed_time", sa.Float(), nullable=False),
        sa.Column("mem_usage", sa.Integer(), nullable=False),
        sa.Column("balloon_cur", sa.BigInteger(), nullable=True),
        sa.Column("balloon_target", sa.BigInteger(), nullable=True),
        sa.Column("balloon_min", sa.BigInteger(), nullable=True),
        sa.Column("balloon_max", sa.BigInteger(), nullable=True),
        sa.Column("guest_mem_free", sa.BigInteger(), nullable=True),
        sa.Column("guest_mem_total", sa.BigInteger(), nullable=True),
        sa.Column("guest_mem_unused", sa.BigInteger(), nullable=True),
        sa.Column("migration_progress", sa.Integer(), nullable=True),
        sa.Column("nics", sa.JSON(), nullable=False),
        sa.Column("disks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm_static.vm_id"], name=op.f("fk_vm_statistics_vm_id_vm_static"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vm_id", name=op.f("pk_vm_statistics")),
    )
    op.create_table(
        "vds_dynamic",
        sa.Column("vds_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("unanswered_attempts", sa.Integer(), nullable=False),
        sa.Column("last_success_at", sa.Float(), nullable=True),
        sa.Column("last_report_at", sa.Float(), nullable=True),
        sa.Column("recovering_since", sa.Float(), nullable=True),
        sa.Column("boot_time", sa.String(length=64), nullable=True),
        sa.Column("cpu_model", sa.String(length=255), nullable=True),
        sa.Column("cpu_flags", sa.JSON(), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("vdsm_version", sa.String(length=64), nullable=True),
        sa.Column("vm_count", sa.Integer(), nullable=False),
        sa.Column("fence_token", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["vds_id"], ["vds_static.id"], name=op.f("fk_vds_dynamic_vds_id_vds_static"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vds_id", name=op.f("pk_vds_dynamic")),
    )
    op.create_table(
        "vds_statistics",
        sa.Column("vds_id", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("cpu_user", sa.Float(), nullable=False),
        sa.Column("cpu_sys", sa.Float(), nullable=False),
        sa.Column("cpu_idle", sa.Float(), nullable=False),
        sa.Column("cpu_load", sa.Float(), nullable=False),
        sa.Column("mem_free", sa.BigInteger(), nullable=False),
        sa.Column("mem_used", sa.Integer(), nullable=False),
        sa.Column("mem_shared", sa.BigInteger(), nullable=False),
        sa.Column("swap_free", sa.BigInteger(), nullable=False),
        sa.Column("swap_total", sa.BigInteger(), nullable=False),
        sa.Column("vm_count", sa.Integer(), nullable=False),
        sa.Column("vm_active", sa.Integer(), nullable=False),
        sa.Column("vm_migrating", sa.Integer(), nullable=False),
        sa.Column("elapsed_time", sa.Float(), nullable=False),
        sa.Column("boot_time", sa.String(length=64), nullable=True),
        sa.Column("nics", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vds_id"], ["vds_static.id"], name=op.f("fk_vds_statistics_vds_id_vds_static"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vds_id", name=op.f("pk_vds_statistics")),
    )


def downgrade() -> None:
    op.drop_table("vds_statistics")
    op.drop_table("vds_dynamic")
    op.drop_table("vm_statistics")
    op.drop_index(op.f("ix_vm_dynamic_run_on_host"), table_name="vm_dynamic")
    op.drop_index(op.f("ix_vm_dynamic_migrating_to_host"), table_name="vm_dynamic")

    op.drop_table("vm_dynamic")
    op.drop_index(op.f("ix_vds_static_cluster_id"), table_name="vds_static")

    op.drop_table("vds_static")
    op.drop_index(op.f("ix_outbox_delivery_outbox_id"), table_name="outbox_delivery")

    op.drop_table("outbox_delivery")
    op.drop_table("vm_static")
    op.drop_index(op.f("ix_outbox_created_at"), table_name="outbox")

    op.drop_table("outbox")
    op.drop_index(op.f("ix_host_commands_state_next_attempt_at"), table_name="host_commands")

    op.drop_table("host_commands")
    op.drop_table("clusters")
    op.drop_index(op.f("ix_audit_log_host_id_id"), table_name="audit_log")

    op.drop_table("audit_log")
