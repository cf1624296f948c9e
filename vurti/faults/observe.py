"""What vurti stored, read straight from its database: delivered state changes, VM and host state."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vurti.domain.status import HostStatus, VmStatus
from vurti.faults.count import Change
from vurti.store.tables import audit_log, outbox, outbox_delivery, vds_dynamic, vds_static, vm_dynamic

AUDIT = "audit"


def last_outbox_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar() or 0)


def changes(engine: Engine, after_id: int) -> list[Change]:
    """VmStateChanged events after `after_id` that reached the audit log (what a user sees)."""
    query = (sa.select(outbox.c.id, outbox.c.payload)
             .join(audit_log, audit_log.c.outbox_id == outbox.c.id)
             .where(outbox.c.id > after_id, outbox.c.event_type == "VmStateChanged")
             .order_by(outbox.c.id))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for row in rows:
        data = row.payload["data"]
        out.append(Change(int(row.id), str(data["vm_id"]), str(data["old"]), str(data["new"]), float(data["at"])))
    return out


def events(engine: Engine, after_id: int) -> list[dict[str, object]]:
    """Every event written after `after_id` (the outbox, in order), for reading a case afterwards."""
    query = sa.select(outbox.c.id, outbox.c.event_type, outbox.c.payload).where(outbox.c.id > after_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(outbox.c.id)).all()
    return [{"id": int(r.id), "type": r.event_type, **r.payload} for r in rows]


def undelivered(engine: Engine) -> int:
    """Events the audit log has not taken yet."""
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(outbox_delivery).where(outbox_delivery.c.subscriber == AUDIT)
        return int(conn.execute(query).scalar() or 0)


def vms(engine: Engine) -> dict[str, tuple[str | None, str]]:
    """VM id -> (name of the host it runs on, status name)."""
    query = (sa.select(vm_dynamic.c.vm_id, vm_dynamic.c.status, vds_static.c.name)
             .select_from(vm_dynamic.outerjoin(vds_static, vds_static.c.id == vm_dynamic.c.run_on_host)))
    with engine.connect() as conn:
        return {str(r.vm_id): (r.name, VmStatus(r.status).name) for r in conn.execute(query)}


def hosts(engine: Engine) -> dict[str, str]:
    """Host name -> status name."""
    query = sa.select(vds_static.c.name, vds_dynamic.c.status).join(vds_dynamic, vds_dynamic.c.vds_id == vds_static.c.id)
    with engine.connect() as conn:
        return {str(r.name): HostStatus(r.status).name for r in conn.execute(query)}


def differences(truth: dict[str, dict[str, object]], stored_vms: dict[str, tuple[str | None, str]],
                stored_hosts: dict[str, str], host_names: list[str]) -> list[str]:
    """Where the stored state differs from the truth: VM status (and host, unless it runs nowhere), every host Up."""
    out = []
    for vm_id, t in truth.items():
        want = (t.get("host"), str(t["status"]))
        got = stored_vms.get(vm_id)
        if got is None or got[1] != want[1] or (want[0] is not None and got[0] != want[0]):
            out.append(f"VM {vm_id}: stored {got}, truth {want}")
    out += [f"host {h}: {stored_hosts.get(h)}" for h in host_names if stored_hosts.get(h) != "Up"]
    return out
