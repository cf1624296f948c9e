"""Monitoring rules that a VURTI_* variable switches, read into the policy."""

from __future__ import annotations

import pytest

from vurti.config import ConfigError, Settings


def test_ovirts_destroy_of_paused_vms_is_off_by_default() -> None:
    assert Settings.from_env({}).policy.destroy_paused_vms is False


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("0", False), ("off", False)])
def test_ovirts_destroy_of_paused_vms_can_be_switched_on(raw: str, expected: bool) -> None:
    assert Settings.from_env({"VURTI_DESTROY_PAUSED_VMS": raw}).policy.destroy_paused_vms is expected


def test_a_bad_switch_is_refused() -> None:
    with pytest.raises(ConfigError, match="VURTI_DESTROY_PAUSED_VMS"):
        Settings.from_env({"VURTI_DESTROY_PAUSED_VMS": "maybe"})
