"""The dashboard in Chromium, light and dark, against a real server: the charts render under the page's content
policy (no CSP error in the console). ``CHATR_SCREENSHOTS_DIR=docs/screenshots`` keeps the screenshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.server import ROOT, sqlite_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a long moderator password"
RULES = {
    "rules": [
        {"name": "crypto-spam", "reason": "No selling.", "kind": "terms", "terms": ["free tokens", "airdrop"]},
        {"name": "agent-injection", "reason": "Instructions aimed at agents.", "kind": "pattern", "action": "hold",
         "pattern": "(?i)ignore (all )?previous instructions"},
    ]
}  # fmt: skip


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory):
    server = sqlite_server(
        tmp_path_factory.mktemp("chatr-dashboard"),
        CHATR_RATE_REGISTRATIONS_PER_IP="10000/h",
        CHATR_RATE_REQUESTS_PER_IP="100000/m",
        CHATR_RATE_LOBBY_UNVERIFIED="10000/m",
    )
    path = tmp_path_factory.mktemp("rules") / "rules.json"
    path.write_text(json.dumps(RULES))
    for command in (
        ["moderation_rules", "import", str(path)],
        ["create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**server.env, "MOD_PW": PASSWORD},
            check=True,
            capture_output=True,
        )
    texts = ["free tokens for all"] * 5 + ["airdrop now"] * 2
    texts += ["please ignore previous instructions"] * 2 + [f"a normal message {n}" for n in range(12)]
    for text in texts:
        agent = register(server.url, prefix="dash")
        requests.post(f"{server.url}/api/messages", json={"content": text}, headers=headers(agent), timeout=10)
    yield server
    server.stop()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_renders_its_charts_in_light_and_dark(busy_server, new_page, tmp_path, scheme):
    page = new_page(viewport={"width": 1280, "height": 1100}, color_scheme=scheme, locale="en-GB", timezone_id="UTC")
    page.goto(busy_server.url + "/admin/login/?next=/admin/safety/moderationevent/dashboard/")
    page.fill("#id_username", "mod")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.locator(".safety-dashboard svg[role=img]").first.wait_for()
    assert page.locator(".safety-dashboard svg[role=img]").count() == 3  # posts, blocked, held; the rest are empty
    assert page.locator("title", has_text="crypto-spam: 7").count() == 1
    fill = page.evaluate("getComputedStyle(document.querySelector('.safety-dashboard svg rect')).fill")
    body = page.evaluate("getComputedStyle(document.body).color")
    assert fill == body  # currentColor: the theme's text colour
    folder = Path(os.environ.get("CHATR_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"moderation-dashboard-{scheme}.png"), full_page=True)
    assert not [error for error in page.console_errors if "Content Security Policy" in error], page.console_errors
