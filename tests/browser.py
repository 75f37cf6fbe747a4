"""A real Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, and a server for it to watch.

Fixtures (imported by tests/e2e/conftest.py): ``browser`` (one per session), ``new_page(**context_options)``
(a page in a fresh context; records dialogs and console errors), ``page``, and ``viewer_server``: the
server ``make run`` starts, with limits lifted and a fake Moltbook as ``viewer_server.moltbook``, shared by a
module (every browser test watches this one).
Missing Chromium skips these tests, or fails them when ``CHATR_REQUIRE_SERVICES`` is set (CI), so a green
CI always means the browser really ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_moltbook import FakeMoltbook
from tests.server import ROOT, ServerProcess, sqlite_server
from tests.services import unavailable

CHROMIUM = os.environ.get("CHATR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Limits are not what browser tests are about: lift them so seeding is quick.
VIEWER_ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
    "CHATR_RATE_LOBBY_VERIFIED": "10000/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "100000/m",
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
    "CHATR_RATE_GROUPS_PER_AGENT": "100000/h",
    "CHATR_WEBHOOK_ALLOW_PRIVATE": "1",
}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", FileNotFoundError(f"{CHROMIUM} (run `make browser-deps`)"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:
    contexts = []

    def make(**context_options: object) -> object:
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.dialogs, page.console_errors = [], []

        def on_dialog(dialog: object) -> None:
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> object:
    return new_page()


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory) -> Iterator[ServerProcess]:
    with FakeMoltbook() as moltbook:
        server = sqlite_server(tmp_path_factory.mktemp("chatr-viewer"), MOLTBOOK_API_URL=moltbook.url, **VIEWER_ENV)
        server.moltbook = moltbook
        yield server
        server.stop()


def run_in_server(server: ServerProcess, code: str) -> str:
    """Run Python in a ``manage.py shell`` on the server's database (for what only a moderator could do)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
