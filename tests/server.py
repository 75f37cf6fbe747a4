"""A real chatr server process (daphne or uvicorn) on a free port, with its own database, for socket tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``python -m daphne`` (or uvicorn) serving chatr.asgi; ``start``/``stop``/``restart`` keep the database."""

    def __init__(self, env: dict[str, str], port: int | None = None, *, server: str = "daphne") -> None:
        self.server = server
        self.port = port or free_port()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process: subprocess.Popen | None = None
        self.log_path = Path(env.get("CHATR_TEST_LOG", f"/tmp/chatr-test-server-{self.port}.log"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        if self.server == "uvicorn":
            return [
                *(sys.executable, "-m", "uvicorn", "chatr.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--lifespan", "off", "--no-access-log"),
            ]
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "chatr.asgi:application"]

    def start(self) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early, see {self.log_path}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer in 30 s, see {self.log_path}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()


def sqlite_server(tmp_path: Path, *, server: str = "daphne", **env: str) -> ServerProcess:
    process = ServerProcess({"CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3"), **env}, server=server)
    process.migrate()
    return process.start()
