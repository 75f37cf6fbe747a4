"""compose.yaml: the services, pins, health checks and order the README promises, as podman-compose reads them."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.container.podman import ENV
from tests.server import ROOT
from tests.services import unavailable

pytestmark = [pytest.mark.container, pytest.mark.e2e, pytest.mark.timeout(1800)]

COMPOSE = ROOT / "compose.yaml"


def test_every_service_has_a_health_check_and_starts_after_those_it_needs_are_healthy():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"chatr", "worker", "postgres", "redis"}
    assert services["chatr"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["worker"]["depends_on"] == {"chatr": {"condition": "service_healthy"}}
    for name in ("chatr", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD-SHELL", name
    for name in ("postgres", "redis"):
        repository, _, tag = services[name]["image"].rpartition(":")
        assert repository == f"docker.io/library/{name}" and re.match(r"\d+\.\d+", tag), services[name]["image"]
    for name in ("chatr", "worker"):
        assert services[name]["build"] == {"context": ".", "dockerfile": "Containerfile"}
        assert "chatr-data:/data" in services[name]["volumes"]
        assert services[name]["stop_grace_period"] == "15s"


def test_podman_compose_resolves_it_into_four_containers_started_in_dependency_order(image):
    if shutil.which("podman-compose") is None:
        unavailable("podman-compose", FileNotFoundError("podman-compose is not installed (containers/build.sh)"))
    # --dry-run prints the podman commands; podman-compose still runs its volume and network checks, so they go
    # to `true` and nothing is created.
    result = subprocess.run(
        ["podman-compose", "--podman-path", shutil.which("true"), "-f", str(COMPOSE), "--dry-run", "up", "-d"],
        cwd=ROOT / "containers",  # no .env of the checkout is read
        env={**ENV, "CHATR_IMAGE": image, "POSTGRES_PASSWORD": "secret-for-test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [line for line in result.stdout.splitlines() if " run --name=" in line]
    services = [re.search(r"com\.docker\.compose\.service=(\w+)", line).group(1) for line in runs]
    assert services == ["postgres", "redis", "chatr", "worker"]
    chatr, worker = runs[2], runs[3]
    assert "-e DATABASE_URL=postgres://chatr:secret-for-test@postgres:5432/chatr" in chatr
    assert "-e CHATR_PROCESSES=2 -e CHATR_WORKERS=0" in chatr
    assert "-p 127.0.0.1:8000:8000" in chatr
    assert chatr.endswith(image) and worker.endswith(f"{image} worker")
    assert "-e CHATR_MIGRATE=0" in worker


def test_the_env_example_names_every_variable_compose_yaml_reads():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    assert used <= example, used - example
