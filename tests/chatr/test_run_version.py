"""``python -m chatr.run --version`` prints the project's version and starts nothing."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.server import ROOT


def test_run_version_prints_the_version_pyproject_declares_and_exits():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run(
        [sys.executable, "-m", "chatr.run", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"chatr {declared}"
