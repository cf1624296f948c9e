"""Settings.from_env: every numeric setting finite and in range, URLs that can be used."""

from __future__ import annotations

import pytest

from vurti.config import ConfigError, Settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VURTI_REFRESH_INTERVAL", "0"),
        ("VURTI_REFRESH_INTERVAL", "inf"),
        ("VURTI_REFRESH_INTERVAL", "nan"),
        ("VURTI_REFRESH_INTERVAL", "-3"),
        ("VURTI_LOCK_TTL", "0"),
        ("VURTI_LOCK_TTL", "nan"),
        ("VURTI_AGENT_CONNECT_TIMEOUT", "0"),
        ("VURTI_AGENT_READ_TIMEOUT", "inf"),
        ("VURTI_RESET_TIMEOUT", "nan"),
        ("VURTI_RECOVERY_TIMEOUT", "inf"),
        ("VURTI_RESET_DELAY_PER_VM", "-inf"),
        ("VURTI_STATS_EVERY", "0"),
        ("VURTI_FETCH_BATCH", "100000000"),
        ("VURTI_AGENT_MAX_REPLY_BYTES", "10"),
        ("VURTI_REDIS_URL", "notaurl"),
        ("VURTI_REDIS_URL", "http://127.0.0.1:6379/0"),
        ("VURTI_REDIS_URL", "redis://:secret@127.0.0.1:notaport/0"),
        ("VURTI_DATABASE_URL", "bogus://x"),
        ("VURTI_DATABASE_URL", "not a url"),
    ],
)
def test_unusable_values_are_refused_with_the_variables_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}=") and "\n" not in message
    assert "secret" not in message


def test_defaults_and_good_values_pass() -> None:
    settings = Settings.from_env({
        "VURTI_REFRESH_INTERVAL": "0.5",
        "VURTI_LOCK_TTL": "45",
        "VURTI_REDIS_URL": "rediss://:pw@redis.example:6380/1",
        "VURTI_DATABASE_URL": "postgresql+psycopg://vurti:pw@db.example/vurti",
    })
    assert settings.policy.refresh_interval == 0.5
    assert settings.lock_ttl == 45.0
    assert "pw" not in repr(settings)
    assert Settings.from_env({}).policy.refresh_interval == 3.0


def test_the_lock_must_outlive_the_update_time_limit() -> None:
    with pytest.raises(ConfigError, match="VURTI_LOCK_TTL=10 must be longer than VURTI_UPDATE_TIME_LIMIT=20"):
        Settings.from_env({"VURTI_LOCK_TTL": "10"})
    assert Settings.from_env({"VURTI_LOCK_TTL": "10", "VURTI_UPDATE_TIME_LIMIT": "8"}).update_time_limit == 8


def test_update_tasks_have_time_limits_below_the_lock_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import celeryconfig

    monkeypatch.setenv("VURTI_LOCK_TTL", "12")
    monkeypatch.setenv("VURTI_UPDATE_TIME_LIMIT", "9")
    config = importlib.reload(celeryconfig)
    try:
        for name in ("vurti.update_host", "vurti.update_hosts"):
            limits = config.task_annotations[name]
            assert limits["soft_time_limit"] < limits["time_limit"] == 9  # below the lock TTL of 12
        # A dead worker's messages come back within minutes, not the hour of the default.
        options = config.broker_transport_options
        assert options["visibility_timeout"] <= 300
        # ...and workers look for them often enough (kombu's sweep: interval x throttle seconds).
        assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 30
    finally:
        monkeypatch.undo()
        importlib.reload(celeryconfig)


@pytest.mark.parametrize("command", [["worker", "-P", "solo"], ["beat"]])
def test_a_worker_or_beat_with_unusable_settings_stops_with_one_line(command: list[str]) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "VURTI_REFRESH_INTERVAL": "nan", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "tasks", *command], cwd=root, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    expected = "vurti: bad configuration: VURTI_REFRESH_INTERVAL='nan' must be a number from 0.1 to 3600"
    assert out.stderr.strip().splitlines() == [expected]
