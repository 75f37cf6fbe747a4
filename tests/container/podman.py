"""The chatr image and containers of it, for tests: built once per session by ``containers/build.sh``, run with podman.

Containers join the host's network (``--network host``) and listen on a free loopback port of their own, so a test
talks to them on 127.0.0.1 only and several run side by side. A missing tool, or a build that fails, skips these tests
with the reason, or fails them when ``CHATR_REQUIRE_SERVICES`` is set (CI), as the browser tests do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from tests.server import ROOT, free_port

BUILD_SCRIPT = ROOT / "containers" / "build.sh"
# The venv's (requirements-dev.txt), not Debian bookworm's 1.0.3, which reads neither `!reset` nor profiles.
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "containers" / "containers.conf")}
# Limits are not what these tests are about.
TEST_ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
    "CHATR_STREAM_PING_SECONDS": "1",
}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited with {result.returncode}: {result.stderr[-2000:]}")
    return result


class Build:
    """``containers/build.sh`` running in the background (its own process group), its log in ``log_path``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.out_path = log_path.with_suffix(".out")
        with log_path.open("w") as log, self.out_path.open("w") as out:
            self.process = subprocess.Popen(
                [str(BUILD_SCRIPT)], cwd=ROOT, env=ENV, stdout=out, stderr=log, start_new_session=True
            )

    def result(self, timeout: float = 1800) -> str:
        """The image's name, once built. Raises RuntimeError with the log's end on failure."""
        returncode = self.process.wait(timeout=timeout)
        if returncode != 0:
            tail = self.log_path.read_text()[-3000:]
            raise RuntimeError(f"containers/build.sh exited with {returncode} ({self.log_path}):\n{tail}")
        return self.out_path.read_text().strip().splitlines()[-1]

    def abandon(self) -> None:
        """The session ends before any container test asked for the image: stop the build (its group alone)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


def inspect(name: str, *, kind: str = "container") -> dict:
    return json.loads(podman(kind, "inspect", name).stdout)[0]


class Container:
    """One container of the image on the host's network, listening on 127.0.0.1:``port``."""

    def __init__(self, image: str, *, volume: str | None = None, port: int | None = None, **env: str) -> None:
        self.image = image
        self.volume = volume
        self.port = port or free_port()
        self.name = f"chatr-test-{uuid.uuid4().hex[:10]}"
        self.env = {**TEST_ENV, **env, "CHATR_HOST": "127.0.0.1", "CHATR_PORT": str(self.port)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> Container:
        options = ["--network", "host", "--stop-timeout", "30"]
        for key, value in self.env.items():
            options += ["-e", f"{key}={value}"]
        if self.volume:
            options += ["-v", f"{self.volume}:/data"]
        podman("run", "-d", "--name", self.name, *options, self.image)
        return self.wait_healthy()

    def start(self) -> Container:
        podman("start", self.name)
        return self.wait_healthy()

    def wait_healthy(self, timeout: float = 120) -> Container:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if inspect(self.name)["State"]["Status"] == "exited":
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not answer /health in {timeout} s:\n{self.logs()}")

    def stop(self) -> float:
        """``podman stop``; the seconds it took."""
        started = time.monotonic()
        podman("stop", self.name, timeout=60)
        return time.monotonic() - started

    @property
    def exit_code(self) -> int:
        return int(inspect(self.name)["State"]["ExitCode"])

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def remove(self) -> None:
        podman("rm", "-f", "-v", "-t", "0", self.name, check=False, timeout=60)  # -v: its anonymous /data too


class Volume:
    def __init__(self) -> None:
        self.name = f"chatr-test-{uuid.uuid4().hex[:10]}"
        podman("volume", "create", self.name)

    def remove(self) -> None:
        podman("volume", "rm", "-f", self.name, check=False)


def podman_compose(
    *args: str, files: list[Path], env: dict[str, str], env_file: Path, project: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``podman-compose -f … [-p project] args``, reading only ``env_file`` and ``env`` (no .env of the checkout)."""
    command = [str(PODMAN_COMPOSE), "--env-file", str(env_file)]
    for path in files:
        command += ["-f", str(path)]
    if project:
        command += ["-p", project]
    result = subprocess.run(
        [*command, *args], cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"podman-compose {' '.join(args)} exited with {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result
