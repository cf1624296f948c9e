"""The schema, in SQLAlchemy Core.

Core rather than the ORM: the hot path writes a few changed columns of many rows
per transaction, and Core lets one executemany carry every row that changes the
same column set, with no identity map, no change tracking of our own frozen
dataclasses and no per-object flush cost. Rows are mapped to and from the domain
dataclasses generically by field name (`vurti.store.codec`), so a field added to a
dataclass needs only a column here and a migration.

As in oVirt, each host and VM is split by how often its parts change: static
(administrator's configuration), dynamic (written on transitions, changed columns
only) and statistics (one row per host/VM, overwritten on statistics cycles).
Times are engine wall-clock seconds (float), as in the domain.
"""

from __future__ import annotations

import time

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ID = String(128)
NAME = String(255)
# SQLite auto-increments only an INTEGER PRIMARY KEY (the rowid alias).
SERIAL = BigInteger().with_variant(Integer(), "sqlite")
# ...and without AUTOINCREMENT it reuses the ids of the newest rows once they are deleted
# (purged): tables whose ids are referred to elsewhere never reuse them (sqlite_autoincrement,
# migration 0003).

clusters = Table(
    "clusters",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("refresh_interval", Float, nullable=False),
    Column("push_interval", Float, nullable=False, server_default="15"),
    Column("required_cpu_flags", JSON, nullable=False),
    Column("required_networks", JSON, nullable=False),
    Column("required_rng_sources", JSON, nullable=False, server_default="[]"),
    Column("max_memory_used_percent", Float),  # None: the system's threshold
    Column("min_free_memory_mb", Integer),  # set: alert on free memory (MB) instead of the percentage
)

vds_static = Table(
    "vds_static",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("cluster_id", ID, ForeignKey("clusters.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("is_spm", Boolean, nullable=False),
)

vds_dynamic = Table(
    "vds_dynamic",
    metadata,
    Column("vds_id", ID, ForeignKey("vds_static.id", ondelete="CASCADE"), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("status_reason", Text),
    Column("unanswered_attempts", Integer, nullable=False),
    Column("last_success_at", Float),
    Column("last_report_at", Float),
    Column("recovering_since", Float),
    Column("boot_time", String(64)),
    Column("cpu_model", NAME),
    Column("cpu_flags", JSON, nullable=False),
    Column("networks", JSON, nullable=False),
    Column("vdsm_version", String(64)),
    Column("vm_count", Integer, nullable=False),
    Column("fence_token", BigInteger, nullable=False, server_default="0"),
    Column("nic_samples", JSON, nullable=False, server_default="[]"),  # counters for the next NIC rates
    Column("kvm_enabled", Boolean),
    Column("rng_sources", JSON, nullable=False, server_default="[]"),
    Column("network_nics", JSON, nullable=False, server_default="[]"),  # each network's NICs, from capabilities
    Column("bond_slaves", JSON, nullable=False, server_default="[]"),  # each bond's slaves, from capabilities
    Column("nic_states", JSON, nullable=False, server_default="[]"),  # last seen state of those NICs
    Column("nics_down_since", Float),  # a required network's NIC first seen down
    Column("alerts_sent", JSON, nullable=False, server_default="[]"),  # the flood regulator's last alerts
    Column("non_responsive_since", Float),
    Column("lease_restart_at", Float),
    Column("updated_at", Float, default=time.time, onupdate=time.time),
)

vds_statistics = Table(
    "vds_statistics",
    metadata,
    Column("vds_id", ID, ForeignKey("vds_static.id", ondelete="CASCADE"), primary_key=True),
    Column("updated_at", Float, nullable=False),
    Column("cpu_user", Float, nullable=False),
    Column("cpu_sys", Float, nullable=False),
    Column("cpu_idle", Float, nullable=False),
    Column("cpu_load", Float, nullable=False),
    Column("mem_free", BigInteger, nullable=False),
    Column("mem_used", Integer, nullable=False),
    Column("mem_shared", BigInteger, nullable=False),
    Column("swap_free", BigInteger, nullable=False),
    Column("swap_total", BigInteger, nullable=False),
    Column("vm_count", Integer, nullable=False),
    Column("vm_active", Integer, nullable=False),
    Column("vm_migrating", Integer, nullable=False),
    Column("elapsed_time", Float, nullable=False),
    Column("boot_time", String(64)),
    Column("nics", JSON, nullable=False),
    Column("disks_free", JSON, nullable=False, server_default="[]"),
)

vm_static = Table(
    "vm_static",
    metadata,
    Column("vm_id", ID, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("managed", Boolean, nullable=False),
    Column("auto_start", Boolean, nullable=False),
    Column("lease_sd_id", ID),  # storage domain of the VM's lease (an administrator's setting)
)

vm_dynamic = Table(
    "vm_dynamic",
    metadata,
    Column("vm_id", ID, ForeignKey("vm_static.vm_id", ondelete="CASCADE"), primary_key=True),
    # No foreign keys to vds_static: a VM outlives the host it last ran on (see remove_host).
    Column("run_on_host", ID, index=True),
    Column("status", Integer, nullable=False),
    Column("migrating_to_host", ID, index=True),
    Column("status_time", BigInteger),
    Column("status_time_host", ID),
    Column("exit_code", Integer),
    Column("exit_reason", Integer),
    Column("exit_message", Text),
    Column("pause_code", String(64)),
    Column("client_ip", NAME),
    Column("guest_ips", Text),
    Column("hash", NAME),
    Column("last_watchdog_time", Float),
    Column("nic_states", JSON, nullable=False),
    Column("migrating_from_host", ID),
    Column("guest_mem_low", Boolean, nullable=False),
    Column("balloon_misses", Integer, nullable=False),
    Column("jobs", JSON, nullable=False, server_default="[]"),  # block jobs running (vmJobs), with progress
    Column("down_seen_on_host", ID),  # a Down record of the VM from another host while it ran here
    Column("down_seen_at", Float),
    Column("status_fetched_at", Float),  # engine time of the report status_time came from
)

# A VM's devices, refreshed when its device hash changes (oVirt's vm_device, VmDevicesMonitoring).
vm_devices = Table(
    "vm_devices",
    metadata,
    Column("vm_id", ID, ForeignKey("vm_static.vm_id", ondelete="CASCADE"), primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("device", String(64), nullable=False),
    Column("address", Text, nullable=False),
    Column("alias", NAME, nullable=False),
    Column("managed", Boolean, nullable=False),
    Column("plugged", Boolean, nullable=False),
    Column("readonly", Boolean, nullable=False),
    Column("updated_at", Float, nullable=False),
)

vm_statistics = Table(
    "vm_statistics",
    metadata,
    Column("vm_id", ID, ForeignKey("vm_static.vm_id", ondelete="CASCADE"), primary_key=True),
    Column("updated_at", Float, nullable=False),
    Column("cpu_user", Float, nullable=False),
    Column("cpu_sys", Float, nullable=False),
    Column("elapsed_time", Float, nullable=False),
    Column("mem_usage", Integer, nullable=False),
    Column("balloon_cur", BigInteger),
    Column("balloon_target", BigInteger),
    Column("balloon_min", BigInteger),
    Column("balloon_max", BigInteger),
    Column("guest_mem_free", BigInteger),
    Column("guest_mem_total", BigInteger),
    Column("guest_mem_unused", BigInteger),
    Column("migration_progress", Integer),
    Column("vcpu_count", Integer),
    Column("nics", JSON, nullable=False),
    Column("disks", JSON, nullable=False),
    # VmUsage: what the next statistics cycle builds on, kept here so it never rewrites vm_dynamic.
    Column("usage_cpu_percent", Integer),
    Column("usage_network_percent", Integer),
    Column("cpu_usage_history", JSON, nullable=False, server_default="[]"),
    Column("memory_usage_history", JSON, nullable=False, server_default="[]"),
    Column("network_usage_history", JSON, nullable=False, server_default="[]"),
    Column("nic_samples", JSON, nullable=False, server_default="[]"),  # counters for the next NIC rates
)

# The outbox: events written in the same transaction as the state change.
# `dedup_key` (a digest of the whole event record) makes a re-applied analysis a no-op.
outbox = Table(
    "outbox",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("host_id", ID, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Index("ix_outbox_created_at", "created_at"),
    sqlite_autoincrement=True,
)

# One row per (event, subscriber) still to deliver: each subscriber progresses and
# retries on its own; a delivered row is deleted, so "pending" stays a short index range.
outbox_delivery = Table(
    "outbox_delivery",
    metadata,
    Column("subscriber", String(64), primary_key=True),
    Column("outbox_id", SERIAL, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=False, server_default="0"),
    Column("last_error", Text),
    Index("ix_outbox_delivery_outbox_id", "outbox_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("host_id", ID),
    Column("vm_id", ID),
    Column("event_type", String(64), nullable=False),
    Column("message", Text, nullable=False),
    # No foreign key: the log outlives purged outbox rows; UNIQUE makes redelivery harmless.
    Column("outbox_id", BigInteger, unique=True),
    Index("ix_audit_log_host_id_id", "host_id", "id"),
    sqlite_autoincrement=True,
)

host_commands = Table(
    "host_commands",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("host_id", ID, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # pending / done / failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_error", Text),
    Index("ix_host_commands_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_host_commands_created_at", "created_at"),  # recent commands: repeats are refused
    sqlite_autoincrement=True,
)

# Engine-started runs and migrations the monitor is to confirm (oVirt's asyncRunningVms): one per VM,
# few at a time. `host_id`: where a run starts, or a migration's source. No foreign keys: the
# analysis that settles one deletes it, and a host removed meanwhile leaves it to time out.
pending_operations = Table(
    "pending_operations",
    metadata,
    Column("vm_id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("host_id", ID, nullable=False, index=True),
    Column("destination_host_id", ID, index=True),
    Column("started_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
)
