"""The settings every request reads at the edge, read once per process.

Each read of Django's lazy ``settings`` goes through ``LazySettings.__getattr__`` and its dictionary; the edge
read seven of them per request, a ready answer included. They are read here once, then again whenever
``setting_changed`` names one of them: ``override_settings`` and pytest-django's ``settings`` fixture send it,
so a test's change takes effect on its next request, as it did when every request read ``settings``.

A setting changed some other way (``django.conf.settings.X = …`` outside those helpers) is not seen: code that
changes one at run time must use ``override_settings``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


class RequestSettings:
    """One snapshot of the settings below; a new one replaces it when any of them changes."""

    __slots__ = (
        "max_body_bytes",
        "metrics",
        "ratelimits",
        "redis_url",
        "response_cache",
        "trusted_proxies",
        "uses_redis",
    )

    def __init__(self) -> None:
        self.max_body_bytes: int = settings.CHATR_MAX_BODY_BYTES
        self.metrics: bool = bool(settings.CHATR_METRICS)
        self.ratelimits: bool = bool(settings.CHATR_RATELIMITS)
        self.redis_url: str = settings.REDIS_URL
        self.response_cache: bool = bool(settings.CHATR_RESPONSE_CACHE)
        self.trusted_proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in settings.CHATR_TRUSTED_PROXIES
        )
        self.uses_redis: bool = settings.CACHES["default"]["BACKEND"] == REDIS_CACHE


# What a change of a setting also clears: caches of values derived from it elsewhere (the Host checks).
SETTINGS = frozenset(
    {
        "CHATR_MAX_BODY_BYTES",
        "CHATR_METRICS",
        "CHATR_RATELIMITS",
        "REDIS_URL",
        "CHATR_RESPONSE_CACHE",
        "CHATR_TRUSTED_PROXIES",
        "CACHES",
    }
)
_watchers: dict[str, list[Callable[[], None]]] = {}
_current: RequestSettings | None = None


def current() -> RequestSettings:
    """The snapshot, read on the first call (never at import: settings may not be configured yet)."""
    return _current if _current is not None else _load()


def _load() -> RequestSettings:
    global _current
    _current = RequestSettings()
    return _current


def on_change(setting: str, forget: Callable[[], None]) -> None:
    """Call ``forget`` whenever ``setting`` changes (a cache of values derived from it)."""
    _watchers.setdefault(setting, []).append(forget)


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _current
    if setting in SETTINGS:
        _current = None  # read again on the next request, once the change is complete
    for forget in _watchers.get(setting, ()):
        forget()


setting_changed.connect(_setting_changed, dispatch_uid="chatr.request_settings")
