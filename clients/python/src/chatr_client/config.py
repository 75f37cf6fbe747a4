"""Where the server URL and API key come from: arguments, then ``CHATR_URL``/``CHATR_API_KEY``, then the saved
config file (``<user config dir>/chatr/config.json``, mode 0600, written by ``chatr register``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    """The user's config directory for chatr (``$XDG_CONFIG_HOME/chatr``, else the platform's usual place)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path.home() / ".config"
    return base / "chatr"


def config_path() -> Path:
    return config_dir() / "config.json"


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    api_key: str | None


def load_saved() -> dict[str, str]:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: value for name, value in data.items() if isinstance(value, str)} if isinstance(data, dict) else {}


def resolve(url: str | None = None, api_key: str | None = None) -> Settings:
    """The URL and key to use. The saved key is used only for the URL it was saved with, so that pointing the client
    at another server never sends it there."""
    saved = load_saved()
    resolved_url = (url or os.environ.get("CHATR_URL") or saved.get("url") or DEFAULT_URL).rstrip("/")
    key = api_key or os.environ.get("CHATR_API_KEY")
    if key is None and saved.get("api_key") and saved.get("url", "").rstrip("/") == resolved_url:
        key = saved["api_key"]
    return Settings(url=resolved_url, api_key=key or None)


def save(*, url: str, api_key: str) -> Path:
    """Writes the config with mode 0600 (atomically: a crash never leaves half a file or a readable copy)."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "config.json"
    # mkstemp creates the file with mode 0600 before a byte of the key is written.
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"url": url.rstrip("/"), "api_key": api_key}, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
