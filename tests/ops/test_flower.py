"""Flower as a person uses it: logged in through basic auth in a real headless Chromium,
vurti's tasks listed with host names, a refresh triggered through Flower's API."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from tests.ops.conftest import OpsStack
from tests.support.procs import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _launch(playwright: object, auth: tuple[str, str] | None) -> tuple[object, Path]:
    """Chromium with a fresh profile each time: nothing remembered between a refused and a logged-in visit."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium missing: scripts/setup.sh --postgres installs it")
    user_data = Path(tempfile.mkdtemp(prefix="vurti-chromium-"))
    login = {"http_credentials": {"username": auth[0], "password": auth[1]}} if auth else {}
    context = playwright.chromium.launch_persistent_context(  # type: ignore[attr-defined]
        str(user_data), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900}, **login,
    )
    return context, user_data


def test_flower_refuses_a_visitor_without_the_login(ops_stack: OpsStack) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url = ops_stack.flower_url
    assert requests.get(f"{url}/", timeout=5).status_code == 401
    assert requests.get(f"{url}/api/workers", timeout=5).status_code == 401
    assert requests.get(f"{url}/api/tasks", auth=("ops-admin", "wrong"), timeout=5).status_code == 401
    assert requests.post(f"{url}/api/task/async-apply/vurti.refresh_host", json={"args": ["x"]},
                         timeout=5).status_code == 401
    with sync_playwright() as p:
        context, user_data = _launch(p, None)
        try:
            page = context.new_page()  # type: ignore[attr-defined]
            # Chromium answers a basic-auth challenge it has no credentials for by giving up the page.
            with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
                page.goto(f"{url}/tasks")
        finally:
            context.close()  # type: ignore[attr-defined]
            shutil.rmtree(user_data, ignore_errors=True)


def test_a_person_logs_in_and_sees_vurti_tasks_with_host_names(ops_stack: OpsStack, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    name = ops_stack.host_names[0]
    with sync_playwright() as p:
        context, user_data = _launch(p, ops_stack.flower_auth)
        try:
            page = context.new_page()  # type: ignore[attr-defined]
            response = page.goto(f"{ops_stack.flower_url}/tasks")
            assert response is not None and response.status == 200

            seen = [""]

            def listed() -> bool:
                page.reload()
                page.wait_for_selector("#tasks-table tbody tr", timeout=5000)
                seen[0] = page.inner_text("body")
                return "vurti.fetch_host" in seen[0] and name in seen[0]

            try:
                wait_for(listed, timeout=60, interval=1.0, what=f"vurti.fetch_host for {name} in Flower's task list")
            finally:
                page.screenshot(path=str(tmp_path / "flower-tasks.png"))
            assert (tmp_path / "flower-tasks.png").stat().st_size > 10_000
            page.goto(f"{ops_stack.flower_url}/workers")
            page.wait_for_selector("text=fetch@", timeout=30_000)
            page.screenshot(path=str(tmp_path / "flower-workers.png"))
        finally:
            context.close()  # type: ignore[attr-defined]
            shutil.rmtree(user_data, ignore_errors=True)


def test_refresh_host_triggered_through_flowers_api(ops_stack: OpsStack) -> None:
    url, auth = ops_stack.flower_url, ops_stack.flower_auth
    name = ops_stack.host_names[1]
    sent = requests.post(f"{url}/api/task/async-apply/vurti.refresh_host", json={"args": [name]}, auth=auth,
                         timeout=10)
    assert sent.status_code == 200, sent.text
    task_id = sent.json()["task-id"]

    def finished() -> dict[str, object] | None:
        reply = requests.get(f"{url}/api/task/result/{task_id}", auth=auth, timeout=5).json()
        return reply if reply.get("state") == "SUCCESS" else None

    result = wait_for(finished, timeout=60, interval=0.5, what="refresh_host result through Flower")
    assert isinstance(result, dict)
    outcome = result["result"]
    assert isinstance(outcome, dict) and outcome["host_id"] == ops_stack.svc.resolve_host(name).id
    # Applied (its status), or a reason why not (a periodic poll of the host overtook it every time).
    assert outcome["status"] == "Up" if outcome["applied"] else outcome["reason"], outcome

    def shown() -> dict[str, object] | None:
        info = requests.get(f"{url}/api/task/info/{task_id}", auth=auth, timeout=5)
        return info.json() if info.status_code == 200 and info.json().get("state") == "SUCCESS" else None

    info = wait_for(shown, timeout=30, interval=0.5, what="the refresh in Flower's task list")
    assert isinstance(info, dict)
    assert info["name"] == "vurti.refresh_host" and name in str(info["args"])
