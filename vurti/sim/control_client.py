"""A thin client of the simulator's control API (requests), for tests, benchmarks and scripts."""

from __future__ import annotations

from typing import Any

import requests


class ControlError(RuntimeError):
    """The control API refused a request; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class ControlClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.base = base_url.rstrip("/") + "/control"
        self.timeout = timeout
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(method, self.base + path, json=body, params=params, timeout=self.timeout)
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text
            raise ControlError(resp.status_code, message)
        return resp.json()

    # -- reading -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def hosts(self, with_vms: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "/hosts", params={"vms": "1"} if with_vms else None)

    def host(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/hosts/{name}")

    def vms(self, host: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/vms", params={"host": host} if host else None)

    def vm(self, vm_id: str) -> dict[str, Any]:
        return self._call("GET", f"/vms/{vm_id}")

    def truth(self) -> dict[str, dict[str, Any]]:
        """Per VM: the host it runs on (None when down everywhere) and the engine-side status name."""
        return self._call("GET", "/truth")

    def destroys(self, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "/destroys", params={"since": since})

    def history(self, since: int = 0, limit: int = 100_000) -> list[dict[str, Any]]:
        return self._call("GET", "/history", params={"since": since, "limit": limit})

    # -- acting ------------------------------------------------------------------------

    def tick(self, n: int = 1) -> int:
        return int(self._call("POST", "/tick", {"n": n})["tick"])

    def create_vm(self, host: str, name: str | None = None, start: bool = True) -> dict[str, Any]:
        return self._call("POST", "/vms", {"host": host, "name": name, "start": start})

    def action(self, vm_id: str, name: str, /, **body: Any) -> dict[str, Any]:
        """Any VM action by name: start, stop, pause, resume, crash, migrate, reboot, hibernate, ..."""
        return self._call("POST", f"/vms/{vm_id}/{name}", body)

    def start(self, vm_id: str, host: str | None = None, fail: str | None = None) -> dict[str, Any]:
        """Launch the VM (on `host`); with `fail`, the launch fails: Down with an error and that message."""
        return self.action(vm_id, "start", host=host, fail=fail)

    def stop(self, vm_id: str, by: str = "admin") -> dict[str, Any]:
        return self.action(vm_id, "stop", by=by)

    def pause(self, vm_id: str, code: str | None = None) -> dict[str, Any]:
        return self.action(vm_id, "pause", code=code)

    def resume(self, vm_id: str) -> dict[str, Any]:
        return self.action(vm_id, "resume")

    def crash(self, vm_id: str, reason: int = 2, message: str = "") -> dict[str, Any]:
        return self.action(vm_id, "crash", reason=reason, message=message)

    def migrate(self, vm_id: str, to: str, mode: str = "precopy", steps: int = 3,
                postcopy_ticks: int | None = None) -> dict[str, Any]:
        """mode: "precopy", "postcopy" or "fail"; `postcopy_ticks`: how long the source shows
        Paused POSTCOPY (default 2 ticks)."""
        return self.action(vm_id, "migrate", to=to, mode=mode, steps=steps, postcopy_ticks=postcopy_ticks)

    def reboot(self, vm_id: str) -> dict[str, Any]:
        return self.action(vm_id, "reboot")

    def hibernate(self, vm_id: str) -> dict[str, Any]:
        return self.action(vm_id, "hibernate")

    def not_responding(self, vm_id: str, ticks: int = 0) -> dict[str, Any]:
        return self.action(vm_id, "not_responding", ticks=ticks)

    def watchdog(self, vm_id: str, action: str = "reset") -> dict[str, Any]:
        return self.action(vm_id, "watchdog", action=action)

    def hotplug(self, vm_id: str, kind: str = "disk") -> dict[str, Any]:
        return self.action(vm_id, "hotplug", kind=kind)

    def unplug(self, vm_id: str, device_id: str) -> dict[str, Any]:
        return self.action(vm_id, "unplug", device_id=device_id)

    def block_job(self, vm_id: str, kind: str = "commit", steps: int = 3) -> dict[str, Any]:
        return self.action(vm_id, "block_job", kind=kind, steps=steps)

    def set_fault(self, host: str, kind: str, **params: Any) -> dict[str, Any]:
        """kind: refuse, hang, slow, jsonrpc_error, malformed, truncated, wrong_types, unknown_status,
        recovering, restart, huge, drop, no_heartbeat, events_delay, events_duplicate, events_reorder,
        events_lose; params: seconds, code, message, size, status, vm_id, verbs, remaining."""
        return self._call("PUT", f"/hosts/{host}/fault", {"kind": kind, **params})

    def clear_fault(self, host: str) -> dict[str, Any]:
        return self._call("DELETE", f"/hosts/{host}/fault")

    def set_nic(self, host: str, nic: str, state: str) -> dict[str, Any]:
        """A host NIC's state in Host.getStats: "up", "down" or "unknown"."""
        return self._call("PUT", f"/hosts/{host}/nics/{nic}", {"state": state})

    def set_usage(self, host: str, **usage: Any) -> dict[str, Any]:
        """cpu, mem_used (percent), swap_free, disk_free (MB), nic_load ({nic: percent}); None restores one."""
        return self._call("PUT", f"/hosts/{host}/usage", usage)

    def set_capabilities(self, host: str, **caps: Any) -> dict[str, Any]:
        """kvm_enabled, cpu_flags, rng_sources, selinux_mode; None restores one. The host hints |net|host_conn|."""
        return self._call("PUT", f"/hosts/{host}/capabilities", caps)
