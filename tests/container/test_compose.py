"""compose.yaml as podman-compose reads it, and its chatr services run for real against this machine's PostgreSQL and
Redis through compose.host.yaml (compose's own postgres and redis need their images from a registry, which this
machine does not reach: that part is checked as configuration only)."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from standardwebhooks.webhooks import Webhook

from tests.container.podman import PODMAN_COMPOSE, TEST_ENV, inspect, podman, podman_compose
from tests.e2e.clients import headers, register
from tests.scale.tools import Reader
from tests.server import ROOT, free_port
from tests.services import fresh_postgres_database, fresh_redis_db, unavailable
from tests.waiting import wait_until
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_e2e import send_direct, set_webhook

pytestmark = [pytest.mark.container, pytest.mark.e2e, pytest.mark.timeout(1800)]

COMPOSE = ROOT / "compose.yaml"
HOST_OVERRIDE = ROOT / "compose.host.yaml"
# compose.yaml's stop_grace_period: `down` must end within it, every container stopping by itself.
GRACE_SECONDS = 15


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    """An empty .env: only what a test passes is read, never a developer's own .env in the checkout."""
    if not PODMAN_COMPOSE.exists():
        unavailable("podman-compose", FileNotFoundError(f"{PODMAN_COMPOSE} (requirements-dev.txt)"))
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


def resolved(*files: Path, env_file: Path, **env: str) -> dict:
    return yaml.safe_load(podman_compose("config", files=list(files), env=env, env_file=env_file).stdout)


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
    # The worker serves no HTTP: the image's check of /health would call it unhealthy forever.
    assert services["worker"]["healthcheck"] == {"disable": True}
    for name in ("postgres", "redis"):
        repository, _, tag = services[name]["image"].rpartition(":")
        assert repository == f"docker.io/library/{name}" and re.match(r"\d+\.\d+", tag), services[name]["image"]
    for name in ("chatr", "worker"):
        assert services[name]["build"] == {"context": ".", "dockerfile": "Containerfile"}
        assert "chatr-data:/data" in services[name]["volumes"]
        assert services[name]["stop_grace_period"] == f"{GRACE_SECONDS}s"


def test_podman_compose_resolves_the_stack_with_the_env_files_settings(env_file, image):
    services = resolved(COMPOSE, env_file=env_file, CHATR_IMAGE=image, POSTGRES_PASSWORD="secret-for-test")["services"]
    assert set(services) == {"chatr", "worker", "postgres", "redis"}
    chatr, worker = services["chatr"], services["worker"]
    assert chatr["environment"]["DATABASE_URL"] == "postgres://chatr:secret-for-test@postgres:5432/chatr"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "secret-for-test"
    assert chatr["environment"]["CHATR_PROCESSES"] == "2" and chatr["environment"]["CHATR_WORKERS"] == "0"
    assert chatr["ports"] == ["127.0.0.1:8000:8000"]
    assert chatr["image"] == worker["image"] == image
    assert worker["command"] == ["worker"] and worker["environment"]["CHATR_MIGRATE"] == "wait"


def test_without_a_postgres_password_compose_refuses_to_start(env_file):
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        resolved(COMPOSE, env_file=env_file, POSTGRES_PASSWORD="")


def test_the_host_override_keeps_chatr_and_its_worker_on_the_hosts_network_and_services(env_file, image):
    env = {
        "CHATR_IMAGE": image,
        "POSTGRES_PASSWORD": "unused",
        "CHATR_DATABASE_URL": "postgres://chatr@127.0.0.1:5432/chatr",
        "CHATR_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    services = resolved(COMPOSE, HOST_OVERRIDE, env_file=env_file, **env)["services"]
    assert set(services) == {"chatr", "worker"}  # postgres and redis only with --profile bundled
    for name in ("chatr", "worker"):
        assert services[name]["network_mode"] == "host"
        assert services[name]["environment"]["DATABASE_URL"] == env["CHATR_DATABASE_URL"]
        assert services[name]["environment"]["REDIS_URL"] == env["CHATR_REDIS_URL"]
    assert "ports" not in services["chatr"] and "depends_on" not in services["chatr"]
    assert services["chatr"]["environment"]["CHATR_HOST"] == "127.0.0.1"


def test_the_env_example_names_every_variable_compose_yaml_and_its_host_override_read():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text() + HOST_OVERRIDE.read_text()))
    lines = (ROOT / ".env.example").read_text().splitlines()
    example = {line.removeprefix("# ").split("=", 1)[0] for line in lines if re.match(r"(# )?[A-Z_]+=", line)}
    assert used <= example, used - example


@pytest.mark.services
def test_compose_up_with_the_host_override_serves_streams_and_delivers_webhooks_and_down_ends_within_the_grace(
    env_file, image, tmp_path
):
    port = free_port()
    project = f"chatr-test-{uuid.uuid4().hex[:8]}"
    # A third file, as an operator would add one: the tests' limits, and webhooks to this machine's loopback.
    settings = {**TEST_ENV, "CHATR_WEBHOOK_ALLOW_PRIVATE": "1", "CHATR_RATE_PRIVATE_MESSAGES": "100000/m"}
    test_override = tmp_path / "compose.test.yaml"
    test_override.write_text(
        yaml.safe_dump({"services": {name: {"environment": settings} for name in ("chatr", "worker")}})
    )
    files = [COMPOSE, HOST_OVERRIDE, test_override]
    with fresh_postgres_database() as database_url, fresh_redis_db() as redis_url:
        env = {
            "CHATR_IMAGE": image,
            "POSTGRES_PASSWORD": "unused",
            "CHATR_DATABASE_URL": database_url,
            "CHATR_REDIS_URL": redis_url,
            "CHATR_PORT": str(port),
        }
        base = f"http://127.0.0.1:{port}"
        try:
            podman_compose("up", "-d", files=files, env=env, env_file=env_file, project=project)
            chatr, worker = f"{project}_chatr_1", f"{project}_worker_1"

            def healthy() -> bool:
                try:
                    return requests.get(f"{base}/health", timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_until(healthy, timeout=120, interval=0.2, message=lambda: podman("logs", chatr).stderr[-3000:])
            assert podman("healthcheck", "run", chatr).returncode == 0  # compose.yaml's own check, in the container
            with Receiver() as hook:
                alice, bob = register(base, "alice"), register(base, "bob")
                secret = set_webhook(base, alice, hook.url)
                reader = Reader(base)
                reader.start()
                try:
                    assert reader.connected.wait(15)
                    response = requests.post(
                        f"{base}/api/messages", headers=headers(bob), json={"content": "composed"}, timeout=30
                    )
                    assert response.status_code == 201, response.text
                    reader.wait_for({int(response.json()["message"]["id"])})
                finally:
                    reader.stop()
                # Delivered by the worker container alone: the chatr service runs no worker (CHATR_WORKERS=0).
                send_direct(base, bob, alice, "to alice, through the worker container")
                [received] = hook.wait_for(1, timeout=60)
                payload = Webhook(secret).verify(received.body, received.headers)
                assert payload["message"]["content"] == "to alice, through the worker container"
            # Started beside a server still migrating (podman < 4.6 does not wait for `service_healthy`), the
            # worker waited for the migrations instead of failing on missing tables and being restarted.
            assert inspect(worker)["RestartCount"] == 0, podman("logs", worker).stderr[-3000:]
            assert inspect(chatr)["RestartCount"] == 0
            started = time.monotonic()
            podman("stop", "-t", str(GRACE_SECONDS), chatr, worker, timeout=60)
            took = time.monotonic() - started
            assert took < GRACE_SECONDS, f"stopping took {took:.1f} s"
            assert [inspect(name)["State"]["ExitCode"] for name in (chatr, worker)] == [0, 0]  # not killed
        finally:
            podman_compose("down", "-v", "-t", "0", files=files, env=env, env_file=env_file, project=project)
