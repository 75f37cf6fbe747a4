"""``chatr tail`` (the library's ``stream()``) across a server restart: every message once, in order."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from tests.client.conftest import Cli, unique_name
from tests.server import ServerProcess

pytestmark = pytest.mark.e2e


class Lines:
    """Collects a process's stdout lines in a thread, so that the test can wait for them."""

    def __init__(self, process) -> None:
        self.items: list[dict] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            with self._changed:
                self.items.append(json.loads(line))
                self._changed.notify_all()

    def wait_for(self, content: str, timeout: float = 60) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: any(i["content"] == content for i in self.items), timeout), (
                f"{content!r} never arrived; got {[i['content'] for i in self.items]}"
            )


def test_tail_survives_a_server_restart_with_no_message_lost_or_repeated(
    client_venv: Path, restartable_server: ServerProcess, tmp_path: Path
) -> None:
    cli = Cli(client_venv, tmp_path, restartable_server.url)
    assert cli.run("register", unique_name("tail")).returncode == 0
    before = [json.loads(cli.run("post", f"before {n}", "--json").stdout)["id"] for n in range(3)]

    tail = cli.popen("tail", "--json")
    try:
        lines = Lines(tail)
        lines.wait_for("before 2")
        live = [json.loads(cli.run("post", f"live {n}", "--json").stdout)["id"] for n in range(3)]
        lines.wait_for("live 2")

        restartable_server.restart()
        # Posted while the tail is still waiting to reconnect: only Last-Event-ID resume can deliver these.
        gap = [json.loads(cli.run("post", f"gap {n}", "--json").stdout)["id"] for n in range(3)]
        lines.wait_for("gap 2")
        after = [json.loads(cli.run("post", f"after {n}", "--json").stdout)["id"] for n in range(3)]
        lines.wait_for("after 2")
        # One more: a duplicate of any before it would be printed first.
        after.append(json.loads(cli.run("post", "the last", "--json").stdout)["id"])
        lines.wait_for("the last")
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0  # Ctrl-C is a normal way to stop following

    assert [item["id"] for item in lines.items] == before + live + gap + after
    assert tail.stderr.read() == ""
