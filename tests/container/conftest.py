"""The image, built once per session (``containers/build.sh`` skips the work when nothing changed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.container.podman import Container, Volume, build_image
from tests.services import unavailable


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> str:
    if shutil.which("apt-get") is None and shutil.which("podman") is None:
        unavailable("podman", FileNotFoundError("podman is not installed and apt-get is not there to install it"))
    try:
        return build_image(tmp_path_factory.mktemp("container") / "build.log")
    except (RuntimeError, OSError) as error:
        unavailable("the container image", error)
        raise


@pytest.fixture(scope="module")
def sqlite_container(image) -> Iterator[Container]:
    """One container on SQLite with a volume of its own, shared by a module's tests."""
    volume = Volume()
    container = Container(image, volume=volume.name)
    try:
        yield container.run()
    finally:
        container.remove()
        volume.remove()
