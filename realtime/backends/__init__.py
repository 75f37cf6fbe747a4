"""The store behind the engine, chosen once from ``CHATR_REALTIME_BACKEND`` (a dotted path to a class).

The settings default it from ``REDIS_URL``: in-process for one process, Redis for several. Nothing
else branches on which store is configured.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from realtime.backends.base import Backend

_active: Backend | None = None
_lock = threading.Lock()


def current() -> Backend:
    """The configured backend, built on first use."""
    backend = _active
    if backend is None:
        with _lock:
            backend = _active
            if backend is None:
                backend = _build()
    return backend


def _build() -> Backend:
    global _active
    _active = import_string(settings.CHATR_REALTIME_BACKEND)()
    return _active


def forget_on_setting_change(*, setting: str, **_kwargs: Any) -> None:
    """A test that changes the store's settings gets a backend built from the new ones."""
    global _active
    if setting in {"CHATR_REALTIME_BACKEND", "REDIS_URL"}:
        _active = None
