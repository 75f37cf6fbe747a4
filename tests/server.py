"""Real chatr server processes on free ports, each kind started in one place, for socket tests.

- ``ServerProcess``: ``python -m chatr.serve`` (uvicorn, as ``make run`` serves; ``server="daphne"`` only
  for tests about daphne), without the webhook worker.
- ``sqlite_server``: one server on its own SQLite file.
- ``postgres_redis_servers``: several servers sharing one fresh PostgreSQL and one fresh Redis database,
  as ``make run-cluster`` runs them.

A test that starts a server must be marked ``e2e`` (tests/conftest.py fails it otherwise), so that
``make test-fast`` never starts one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


TEMPLATES = Path(tempfile.gettempdir()) / "chatr-test-templates"


def copy_from_template(env: dict[str, str]) -> bool:
    """Give a new database the migrated schema by copying; False when it is not a new test database."""
    database_url = env.get("DATABASE_URL", "")
    if database_url:
        from tests.services import copy_postgres_template

        return copy_postgres_template(
            database_url, lambda template_url: run_migrate({**env, "DATABASE_URL": template_url})
        )
    path = Path(env.get("CHATR_SQLITE_PATH", ""))
    if not env.get("CHATR_SQLITE_PATH") or (path.exists() and path.stat().st_size):
        return False
    template = TEMPLATES / f"sqlite-{migrations_digest()}.sqlite3"
    if not template.exists():
        TEMPLATES.mkdir(exist_ok=True)
        building = TEMPLATES / f"building-{uuid.uuid4().hex}.sqlite3"
        run_migrate({**env, "CHATR_SQLITE_PATH": str(building)})
        with contextlib.closing(sqlite3.connect(building)) as done:
            done.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file we copy
        os.replace(building, template)  # whole or not at all, also with other suites building it at once
    shutil.copyfile(template, path)
    return True


# Set by tests/conftest.py to the test being set up, run or torn down: a server may only start in an e2e test.
current_test = None


def check_marked_e2e() -> None:
    if current_test is not None and current_test.get_closest_marker("e2e") is None:
        raise RuntimeError(f"{current_test.nodeid} starts a server process: mark it (or its module) e2e")


class ServerProcess:
    """chatr.asgi served as ``make run`` serves it (uvicorn through ``chatr.serve``; daphne on request);
    ``start``/``stop``/``restart`` keep the database."""

    def __init__(
        self, env: dict[str, str], port: int | None = None, *, server: str = "uvicorn", host: str = "127.0.0.1"
    ) -> None:
        self.server = server
        self.host = host
        self.port = port or free_port()
        # A stop waits this long for open streams to end (uvicorn's graceful shutdown): short, since every
        # restart in the tests would pay it (tests/chat/test_stream.py tests the grace itself).
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHATR_SHUTDOWN_GRACE_SECONDS": "0.5", **env}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process: subprocess.Popen | None = None
        self.log_path = Path(env.get("CHATR_TEST_LOG", f"/tmp/chatr-test-server-{self.port}.log"))
        self._spawned = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def migrate(self) -> None:
        """Bring this server's database to the latest schema.

        A new SQLite file, or a new PostgreSQL database of the test cluster, is copied from a template
        migrated once for the current migrations (``manage.py migrate`` costs seconds per server);
        anything else is migrated for real.
        """
        if copy_from_template(self.env):
            return
        run_migrate(self.env)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        if self.server == "uvicorn":
            # chatr.serve: uvicorn on a socket with the half-open connection defences, as `make run` serves.
            return [
                sys.executable,
                "-m",
                "chatr.serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--no-access-log",
            ]
        return [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port), "chatr.asgi:application"]

    def spawn(self) -> ServerProcess:
        """Start the process without waiting for it to answer (``wait_ready`` does)."""
        check_marked_e2e()
        # A new server starts a new log (a port's path outlives the run: tests read it for tracebacks);
        # a restart appends, so the log tells both lives of the server.
        log = self.log_path.open("ab" if self._spawned else "wb")
        self._spawned = True
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 30) -> ServerProcess:
        """Return once ``/health`` answers 200: the server is listening and its database is reachable."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early, see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer in {timeout:.0f} s, see {self.log_path}")

    def start(self) -> ServerProcess:
        return self.spawn().wait_ready()

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


def sqlite_server(tmp_path: Path, *, server: str = "uvicorn", **env: str) -> ServerProcess:
    process = ServerProcess({"CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3"), **env}, server=server)
    process.migrate()
    return process.start()


@contextlib.contextmanager
def postgres_redis_servers(count: int = 2, *, redis: bool = True, **env: str) -> Iterator[list[ServerProcess]]:
    """``count`` servers on one fresh PostgreSQL database (and one fresh Redis database unless ``redis`` is
    false); stopped and the databases dropped afterwards."""
    from tests.services import fresh_postgres_database, fresh_redis_db

    with contextlib.ExitStack() as stack:
        shared = {"DATABASE_URL": stack.enter_context(fresh_postgres_database())}
        if redis:
            shared["REDIS_URL"] = stack.enter_context(fresh_redis_db())
        servers = [ServerProcess({**env, **shared}) for _ in range(count)]
        servers[0].migrate()
        try:
            for server in servers:
                server.start()  # one after the other: on two busy cores, side by side is slower
            yield servers
        finally:
            for server in servers:
                server.stop()
