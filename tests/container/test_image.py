"""What ``podman image inspect`` promises an orchestrator, and what must never be in the image."""

from __future__ import annotations

import pytest

from tests.container.podman import inspect, podman

pytestmark = [pytest.mark.container, pytest.mark.e2e, pytest.mark.timeout(1800)]

MAX_SIZE = 350 * 1000 * 1000


def test_the_image_runs_as_a_non_root_user_with_a_health_check_on_health_and_stays_under_350_mb(image):
    details = inspect(image, kind="image")
    config = details["Config"]
    assert config["User"] not in ("", "root", "0")
    assert details["Size"] < MAX_SIZE, f"{details['Size'] / 1e6:.0f} MB"
    assert details["Healthcheck"]["Test"] == ["CMD", "python", "/app/containers/healthcheck.py"]
    assert config["StopSignal"] == "SIGTERM"
    assert "/data" in config["Volumes"]
    assert config["Entrypoint"] == ["/app/containers/entrypoint.sh"]
    uid = podman("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u").stdout.strip()
    assert uid != "0"


def test_no_checkout_state_nor_the_build_machines_ca_bundle_or_pip_configuration_is_in_the_image(image):
    script = (
        "for p in /app/.venv /app/db.sqlite3 /app/tests /app/.git /app/.env /data/secret_key; do"
        " [ -e $p ] && echo present: $p; done;"
        # buildah leaves an empty mount point where a file was lent to the build: empty is fine, content is not.
        " for p in /etc/host-ca.crt /etc/pip.conf; do [ -s $p ] && echo content: $p; done;"
        " [ -L /app/.secret_key ] && readlink /app/.secret_key; python -c 'import django; print(django.VERSION[:2])'"
    )
    output = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script).stdout
    assert output.split() == ["/data/secret_key", "(5,", "2)"], output
