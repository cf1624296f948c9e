"""`vurti doctor`'s checks, each on literal inputs: the line names the problem and the fix."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from vurti.config import AgentSettings
from vurti.doctor import (
    FAIL,
    OK,
    WARN,
    check_backlogs,
    check_beat,
    check_certificates,
    check_config,
    check_database,
    check_queues,
    check_workers,
)
from vurti.metrics.fleet_state import FleetState


def test_config_names_the_bad_variable() -> None:
    check, settings = check_config({"VURTI_FETCH_BATCH": "zero"})
    assert check.level == FAIL and "VURTI_FETCH_BATCH" in check.message and settings is None
    assert check_config({})[0].level == OK


def test_workers_missing_on_a_queue_say_which_command_to_start() -> None:
    check = check_workers(lambda: {"fetch@a": ["fetch"]})
    assert check.level == FAIL and "-Q update" in check.message
    assert check_workers(lambda: {"fetch@a": ["fetch"], "update@b": ["update"]}).level == OK
    assert check_workers(lambda: None).level == FAIL


def test_database_behind_the_latest_migration() -> None:
    assert check_database(None, "0002", lambda _: "0001").level == FAIL
    assert "vurti db upgrade" in check_database(None, "0002", lambda _: None).message
    assert check_database(None, "0002", lambda _: "0002").level == OK


def test_beat_queues_and_backlogs() -> None:
    late = FleetState(hosts_scheduled=3, oldest_due_seconds=30.0)
    assert check_beat(late, 3, grace=6).level == FAIL
    assert check_beat(FleetState(), 3, grace=6).level == FAIL  # hosts, none scheduled: beat never ran
    assert check_beat(FleetState(hosts_scheduled=3, oldest_due_seconds=0.5), 3, grace=6).level == OK
    assert check_queues(FleetState(queue_depths={"fetch": 0, "update": 40}), 20, 40).level == FAIL
    assert check_queues(FleetState(queue_depths={"fetch": 1, "update": 2}), 20, 40).level == OK
    # Two fetch workers, each with its own queue: beat lets 20 wait for each.
    assert check_queues(FleetState(queue_depths={"fetch": 30, "update": 0}, fetch_members=2), 20, 40).level == OK
    assert check_queues(FleetState(queue_depths={"fetch": 40, "update": 0}, fetch_members=2), 20, 40).level == FAIL
    stuck = FleetState(outbox_pending={"LiveFeed": 5}, outbox_oldest_seconds={"LiveFeed": 600.0},
                       commands_by_state={"failed": 2})
    outbox, commands = check_backlogs(stuck, stuck_after=60)
    assert outbox.level == FAIL and "LiveFeed" in outbox.message
    assert commands.level == WARN


def _cert(tmp_path: Path, days: int) -> AgentSettings:
    cert, key = tmp_path / f"cert{days}.pem", tmp_path / f"key{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=vurti-engine",
                    "-days", str(days), "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return AgentSettings(ca_file=str(cert), cert_file=str(cert), key_file=str(key))


def test_certificates_valid_near_expiry_and_expired(tmp_path: Path) -> None:
    valid, near, short, other = (_cert(tmp_path, days) for days in (400, 10, 1, 50))
    now = time.time() + 1  # certificates are valid from the second they were made
    assert [c.level for c in check_certificates(valid, now)] == [OK, OK]
    assert {c.level for c in check_certificates(near, now)} == {WARN}
    expired = check_certificates(short, now + 3 * 86400)
    assert {c.level for c in expired} == {FAIL} and "renew" in expired[0].message
    mismatched = AgentSettings(cert_file=valid.cert_file, key_file=other.key_file)
    assert FAIL in [c.level for c in check_certificates(mismatched, now)]
