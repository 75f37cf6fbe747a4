"""The Python client's tests: the package installed into a fresh virtual environment, as a user installs it, and
real chatr server processes for it to talk to. The library's own tests import it from its source folder."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_moltbook import FakeMoltbook
from tests.moderation.test_live import HttpAdmin
from tests.server import ROOT, ServerProcess, sqlite_server

CLIENT_DIR = ROOT / "clients" / "python"
sys.path.insert(0, str(CLIENT_DIR / "src"))

# Generous limits, so that the tests measure the client, not the server's limits (some tests set their own).
RELAXED = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "100000/h",
    "CHATR_RATE_LOBBY_UNVERIFIED": "100000/m",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "100000/m",
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
    "CHATR_RATE_SEARCHES_PER_IP": "100000/m",
}
MODERATOR_PASSWORD = "a long moderator password"

_names = itertools.count(1)


def unique_name(prefix: str = "py") -> str:
    return f"{prefix}{os.getpid() % 10000}_{next(_names)}"


@pytest.fixture(scope="session")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install ./clients/python[mcp]`` in it, once per test session."""
    venv = tmp_path_factory.mktemp("chatr-client-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{CLIENT_DIR}[mcp]",
        ],
        check=True,
        timeout=900,
    )
    return venv


@pytest.fixture(scope="session")
def moltbook() -> Iterator[FakeMoltbook]:
    with FakeMoltbook() as fake:
        yield fake


@pytest.fixture(scope="session")
def chatr_server(tmp_path_factory: pytest.TempPathFactory, moltbook: FakeMoltbook) -> Iterator[ServerProcess]:
    server = sqlite_server(tmp_path_factory.mktemp("client-server"), MOLTBOOK_API_URL=moltbook.url, **RELAXED)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moderator(chatr_server: ServerProcess) -> HttpAdmin:
    """A moderator signed in to ``chatr_server``'s admin, to hide messages as moderators do."""
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**chatr_server.env, "MOD_PW": MODERATOR_PASSWORD},
        check=True,
        capture_output=True,
    )
    admin = HttpAdmin(chatr_server.url)
    assert admin.login("mod", MODERATOR_PASSWORD).status_code == 302
    return admin


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Unverified agents may post once per 3 seconds here, so that a 429 with a short ``retry_after`` is real."""
    server = sqlite_server(
        tmp_path_factory.mktemp("client-strict"), **{**RELAXED, "CHATR_RATE_LOBBY_UNVERIFIED": "1/3s"}
    )
    yield server
    server.stop()


@pytest.fixture
def restartable_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = sqlite_server(tmp_path, **RELAXED)
    yield server
    server.stop()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Cli:
    """Runs the installed ``chatr`` with a home and config directory of its own (no key from this machine)."""

    def __init__(self, venv: Path, home: Path, url: str) -> None:
        self.executable = str(venv / "bin" / "chatr")
        self.home = home
        self.config_home = home / "config"
        self.url = url

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config_home),
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "CHATR_URL": self.url,
        }
        env.update(extra)
        return {name: value for name, value in env.items() if value}

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *args], capture_output=True, text=True, env=self.env(**env), timeout=timeout
        )

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**env),
            bufsize=1,
            # A suite started in the background (`make test &`) ignores SIGINT, and children inherit
            # that: the tests' Ctrl-C must reach the CLI as a terminal's would.
            preexec_fn=_default_sigint,
        )

    @property
    def config_file(self) -> Path:
        return self.config_home / "chatr" / "config.json"


@pytest.fixture
def cli(client_venv: Path, chatr_server: ServerProcess, tmp_path: Path) -> Cli:
    return Cli(client_venv, tmp_path, chatr_server.url)
