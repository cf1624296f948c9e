"""What an administrator asks of a host (oVirt's MaintenanceNumberOfVdss / ActivateVds commands)."""

from __future__ import annotations

from enum import StrEnum


class AdminAction(StrEnum):
    MAINTENANCE = "maintenance"  # -> PreparingForMaintenance; monitoring moves it on to Maintenance
    ACTIVATE = "activate"  # Maintenance (or still preparing) -> Unassigned; monitoring initialises it
