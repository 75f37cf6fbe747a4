"""The image, built once per session (``containers/build.sh`` skips the work when nothing changed).

On a new machine that build takes minutes (the tools from apt, the base with mmdebstrap, the dependencies with pip),
mostly waiting on downloads. When a session runs other tests too, the container tests go last and the build starts
as soon as collection ends, so it overlaps the rest of the suite instead of adding its minutes to it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.podman import Build, Container, Volume
from tests.services import unavailable

_background: list[Build] = []


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: `make test-fast` starts no build
def pytest_collection_modifyitems(session, config, items) -> None:
    containers = [item for item in items if item.get_closest_marker("container")]
    if not containers or len(containers) == len(items) or config.option.collectonly:
        return
    items[:] = [item for item in items if not item.get_closest_marker("container")] + containers
    if shutil.which("apt-get") or shutil.which("podman"):
        _background.append(Build(Path(tempfile.mkdtemp(prefix="chatr-image-")) / "build.log"))


def pytest_unconfigure(config) -> None:
    for build in _background:
        build.abandon()
        if build.process.returncode == 0:
            shutil.rmtree(build.log_path.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> str:
    if shutil.which("apt-get") is None and shutil.which("podman") is None:
        unavailable("podman", FileNotFoundError("podman is not installed and apt-get is not there to install it"))
    build = _background[0] if _background else Build(tmp_path_factory.mktemp("container") / "build.log")
    try:
        return build.result()
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
