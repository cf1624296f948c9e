"""A rule that raises is a bug: logged with its traceback, and told apart from bad agent data."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import vurti.analyze.vms
from tests.analyze.builders import NOW, POLICY, report, snapshot, up, vm
from vurti.analyze import analyze
from vurti.domain.events import InvalidVmData, VmAnalysisFailed


def test_a_rule_that_raises_is_logged_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = vurti.analyze.vms.analyze_reported

    def buggy(work: Any, reported: Any, *args: Any) -> Any:
        if reported.vm_id == "v1":
            raise KeyError("a rule bug")
        return real(work, reported, *args)

    monkeypatch.setattr(vurti.analyze.vms, "analyze_reported", buggy)
    caplog.set_level(logging.ERROR)
    result = analyze(snapshot(vms=(vm("v1"), vm("v2"))), report(vms=(up("v1"), up("v2"))), NOW, POLICY)
    failed = [e for e in result.events if isinstance(e, VmAnalysisFailed)]
    assert [e.vm_id for e in failed] == ["v1"] and "a rule bug" in failed[0].error
    assert not any(isinstance(e, InvalidVmData) for e in result.events)
    (record,) = [r for r in caplog.records if "analysis failed" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "h1" in record.getMessage() and "v1" in record.getMessage()


def test_bad_agent_data_stays_invalid_vm_data_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    result = analyze(snapshot(vms=(vm("v1"),)), report(vms=(up("v1", status=None, problem="bad status"),)), NOW, POLICY)
    assert [type(e) for e in result.events if e.__class__.__name__.endswith(("Data", "Failed"))] == [InvalidVmData]
    assert not caplog.records
