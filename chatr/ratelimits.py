"""Rate limits of contract §8 on django-ratelimit's counters, answered as 429 with headers.

``consume(name, subject)`` counts one hit against ``settings.CHATR_RATES[name]`` for ``subject``
(an IP or an agent id) in the shared cache, so limits hold across processes when the cache is
Redis. Every usage seen during a request is remembered; ``ApiGuardMiddleware`` puts the tightest
one in the ``X-RateLimit-*`` headers of the response.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage

_request_usages: ContextVar[list[Usage] | None] = ContextVar("chatr_ratelimit_usages", default=None)


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimited(Exception):
    """A limit is exhausted: 429 with ``retry_after`` and the rate-limit headers."""

    def __init__(self, usage: Usage, message: str = "Too many requests, slow down and try again later.") -> None:
        super().__init__(message)
        self.usage = usage
        self.message = message

    def body(self) -> dict:
        return {"success": False, "error": self.message, "code": "rate_limited", "retry_after": self.usage.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.usage.retry_after), **self.usage.headers()}


def begin_request() -> object:
    return _request_usages.set([])


def end_request(token: object) -> list[Usage]:
    usages = _request_usages.get() or []
    _request_usages.reset(token)  # type: ignore[arg-type]
    return usages


def tightest(usages: list[Usage]) -> Usage | None:
    return min(usages, key=lambda usage: (usage.remaining, -usage.reset), default=None)


def consume(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """Count one hit of limit ``name`` for ``subject``; raise ``RateLimited`` when it is over."""
    usage = _usage(name, subject, increment=True)
    if usage is not None and usage.remaining < 0:
        usage = Usage(limit=usage.limit, remaining=0, reset=usage.reset)
        _remember(usage)
        raise RateLimited(usage, message) if message else RateLimited(usage)
    if usage is not None:
        _remember(usage)
    return usage


def check(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """Raise ``RateLimited`` if one more hit of ``name`` would be over the limit, counting nothing."""
    usage = _usage(name, subject, increment=False)
    if usage is not None and usage.remaining <= 0:
        raise RateLimited(usage, message) if message else RateLimited(usage)
    return usage


def _usage(name: str, subject: str, *, increment: bool) -> Usage | None:
    if not settings.CHATR_RATELIMITS:
        return None
    rate = settings.CHATR_RATES[name]
    raw = get_usage(None, group=f"chatr.{name}", key=lambda _group, _request: subject, rate=rate, increment=increment)
    if raw is None:
        return None
    # django-ratelimit's window still holds at its end second; the next one starts a second later.
    reset = int(time.time()) + max(0, raw["time_left"]) + 1
    return Usage(limit=raw["limit"], remaining=raw["limit"] - raw["count"], reset=reset)


def _remember(usage: Usage) -> None:
    usages = _request_usages.get()
    if usages is not None:
        usages.append(usage)


async def aconsume(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """``consume`` for async code: inline on the local-memory cache, in a worker thread on Redis."""
    if not settings.CHATR_RATELIMITS:
        return None
    if not settings.REDIS_URL:
        return consume(name, subject, message=message)
    from asgiref.sync import sync_to_async

    return await sync_to_async(consume, thread_sensitive=False)(name, subject, message=message)
