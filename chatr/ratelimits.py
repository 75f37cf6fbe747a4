"""Rate limits of contract §8 as rolling windows (a sliding log), answered as 429 with headers.

``consume(name, subject)`` counts one hit against ``settings.CHATR_RATES[name]`` for ``subject``
(an IP or an agent id). A hit is accepted when fewer than N hits were accepted in the last period,
whenever "now" is, so no span of the period ever holds N+1 (clock-aligned buckets let 2N through
around an edge). Only accepted hits are logged: a client that keeps knocking while limited does
not push its own wait further out, and ``retry_after`` is the exact wait until the oldest logged hit
leaves the window. Why a log and not GCRA or a token bucket: those let a burst of N be followed by
one more hit every period/N, i.e. more than N in some span; see docs/limits.md.

Two stores, chosen by the default cache:

- Redis (``REDIS_URL``): the log of each key is a sorted set, checked and appended by one Lua script
  (EVALSHA, one round trip), so limits hold atomically across processes.
- Anything else (local memory by default): a dict of deques in this process behind a lock. Nothing
  is pickled; the per-IP request limit runs on every /api request and costs microseconds.

Every usage seen during a request is remembered; ``chatr.edge`` puts the tightest one in the
``X-RateLimit-*`` headers of the response.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from chatr import request_settings
from chatr.client_ip import limit_subject

_request_usages: ContextVar[list[Usage] | None] = ContextVar("chatr_ratelimit_usages", default=None)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {
    "s": ("a second", "seconds"),
    "m": ("a minute", "minutes"),
    "h": ("an hour", "hours"),
    "d": ("a day", "days"),
}


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    ready_at: float  # epoch seconds (exact) when one more hit will be accepted again

    @property
    def reset(self) -> int:
        """``X-RateLimit-Reset``: whole epoch seconds, rounded up so that waiting until then is enough."""
        return math.ceil(self.ready_at)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.ready_at - time.time()))

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


def collect_usages() -> tuple[object, list[Usage]]:
    """``begin_request`` and the list it collects into, in one call: the edge's, once per request."""
    usages: list[Usage] = []
    return _request_usages.set(usages), usages


def request_usages() -> list[Usage]:
    """The usages remembered since ``begin_request`` in this context (the list itself, shared with copies)."""
    usages = _request_usages.get()
    return usages if usages is not None else []


def end_request(token: object) -> list[Usage]:
    usages = _request_usages.get() or []
    _request_usages.reset(token)  # type: ignore[arg-type]
    return usages


def tightest(usages: Sequence[Usage]) -> Usage | None:
    return min(usages, key=lambda usage: (usage.remaining, -usage.ready_at), default=None)


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, float]:
    """``"10/m"``, ``"1/5m"``, ``"5/h"`` → (count, period in seconds)."""
    count, multiple, unit = _rate_parts(rate)
    return count, float(multiple * _UNIT_SECONDS[unit])


def _rate_parts(rate: str) -> tuple[int, int, str]:
    """A rate's count, multiple of its unit (1 if none is written) and unit; ``ValueError`` for anything else."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"A rate is '<count>/<n><s|m|h|d>', not {rate!r}.")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1), unit.lower()


@lru_cache(maxsize=64)
def _rate_words(rate: str) -> tuple[int, str]:
    """``"10/m"`` → (10, "a minute"); ``"1/5m"`` → (1, "every 5 minutes"); ``"10/5m"`` → (10, "per 5 minutes")."""
    count, multiple, unit = _rate_parts(rate)
    one, many = _UNIT_WORDS[unit]
    if multiple == 1:
        return count, one
    return count, f"{'every' if count == 1 else 'per'} {multiple} {many}"


def rate_text(name: str, noun: str = "", plural: str | None = None) -> str:
    """The configured limit ``name`` in words, for every text that states it (errors, /skill.md, MCP, schema).

    ``rate_text("lobby_verified", "message")`` is "10 messages a minute", ``rate_text("lobby_unverified",
    "message")`` "1 message every 5 minutes" and ``rate_text("private_messages")`` "30 a minute" with the
    default rates, and whatever ``CHATR_RATE_<NAME>`` sets otherwise, so no text can state another limit
    than the one enforced. ``plural`` defaults to ``noun`` + "s".
    """
    count, period = _rate_words(settings.CHATR_RATES[name])
    if noun:
        return f"{count} {noun if count == 1 else plural or noun + 's'} {period}"
    return f"{count} {period}"


def consume(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """Count one hit of limit ``name`` for ``subject``; raise ``RateLimited`` when it is over."""
    return _settle(_hit(name, subject, increment=True), message)


def check(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """Raise ``RateLimited`` if one more hit of ``name`` would be over the limit, counting nothing."""
    result = _hit(name, subject, increment=False)
    if result is None:
        return None
    usage = result[1]
    if usage.remaining <= 0:
        raise RateLimited(usage, message) if message else RateLimited(usage)
    return usage


def rolling_window(key: str, *, limit: int, period: float, increment: bool = True) -> tuple[bool, Usage]:
    """One hit of an ad-hoc rolling window on the same stores as the limits: ``(accepted, usage)``.

    For counts that moderation rules set at run time (a room's slow mode, a flood threshold); unlike
    the limits of §8 they hold whatever ``CHATR_RATELIMITS`` says, because they are house rules.
    """
    key = f"chatr:rw:{key}"
    now = time.time()
    if _uses_redis():
        accepted, count, ready_at = _redis_hit(key, now, period, limit, increment)
    else:
        accepted, count, ready_at = _local.hit(key, now, period, limit, increment)
    return accepted, Usage(limit=limit, remaining=max(0, limit - count), ready_at=ready_at)


async def aconsume(name: str, subject: str, *, message: str | None = None) -> Usage | None:
    """``consume`` for async code: inline in process, in a worker thread on Redis (a blocking socket)."""
    hot = request_settings.current()
    if not hot.ratelimits:
        return None
    if not hot.redis_url:
        return consume(name, subject, message=message)
    from asgiref.sync import sync_to_async

    return await sync_to_async(consume, thread_sensitive=False)(name, subject, message=message)


def clear() -> None:
    """Forget every hit of the in-process store (tests; Redis keys go with the cache)."""
    _local.clear()


def _settle(result: tuple[bool, Usage] | None, message: str | None) -> Usage | None:
    if result is None:
        return None
    accepted, usage = result
    if not accepted:
        _remember(usage)
        raise RateLimited(usage, message) if message else RateLimited(usage)
    _remember(usage)
    return usage


def _hit(name: str, subject: str, *, increment: bool) -> tuple[bool, Usage] | None:
    if not request_settings.current().ratelimits:
        return None
    limit, period = parse_rate(settings.CHATR_RATES[name])
    if name.endswith("_per_ip"):
        subject = limit_subject(subject)  # an IPv6 client counts by its /64 (§8)
    key = f"chatr:rl:{name}:{subject}"
    now = time.time()
    if _uses_redis():
        accepted, count, ready_at = _redis_hit(key, now, period, limit, increment)
    else:
        accepted, count, ready_at = _local.hit(key, now, period, limit, increment)
    return accepted, Usage(limit=limit, remaining=max(0, limit - count), ready_at=ready_at)


def _remember(usage: Usage) -> None:
    usages = _request_usages.get()
    if usages is not None:
        usages.append(usage)


def _ready_at(log: deque[float] | list[float], now: float, period: float, limit: int) -> float:
    """When one more hit fits: once all but ``limit - 1`` of the logged hits have left the window."""
    excess = len(log) - limit
    if excess < 0:
        return log[0] + period if log else now  # accepted now; the headers say when a slot frees up
    return log[excess] + period


class _LocalLog:
    """The in-process store: key → (period, deque of accepted hit times), oldest first."""

    _SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self._logs: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def hit(self, key: str, now: float, period: float, limit: int, increment: bool) -> tuple[bool, int, float]:
        with self._lock:
            entry = self._logs.get(key)
            if entry is None:
                entry = self._logs[key] = (period, deque())
            log = entry[1]
            cutoff = now - period
            while log and log[0] <= cutoff:
                log.popleft()
            accepted = len(log) < limit
            if accepted and increment:
                log.append(now)
            ready_at = _ready_at(log, now, period, limit)
            count = len(log)
            if not log:
                del self._logs[key]
            if time.monotonic() - self._swept > self._SWEEP_SECONDS:
                self._sweep(now)
        return accepted, count, ready_at

    def _sweep(self, now: float) -> None:
        """Drop logs whose newest hit has left its window, so one-off clients do not pile up."""
        self._swept = time.monotonic()
        stale = [key for key, (period, log) in self._logs.items() if not log or log[-1] <= now - period]
        for key in stale:
            del self._logs[key]

    def clear(self) -> None:
        with self._lock:
            self._logs.clear()


_local = _LocalLog()

# KEYS[1]: the sorted set of accepted hits (score = ms). ARGV: now ms, period ms, limit, increment, member.
# Returns {accepted, count, ready_at ms}. Everything happens in one script, so two processes can never
# both take the last slot.
_SLIDING_LOG = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
local count = redis.call('ZCARD', key)
local accepted = 0
if count < limit then
  accepted = 1
  if ARGV[4] == '1' then
    redis.call('ZADD', key, now, ARGV[5])
    redis.call('PEXPIRE', key, period)
    count = count + 1
  end
end
local ready = now
local excess = count - limit
if excess < 0 then excess = 0 end
if count > 0 then
  local hit = redis.call('ZRANGE', key, excess, excess, 'WITHSCORES')
  ready = tonumber(hit[2]) + period
end
return {accepted, count, ready}
"""

_members = itertools.count()
_script_lock = threading.Lock()
_script: Any = None


def _uses_redis() -> bool:
    return request_settings.current().uses_redis


def _redis_hit(key: str, now: float, period: float, limit: int, increment: bool) -> tuple[bool, int, float]:
    global _script
    from django.core.cache import cache

    key = cache.make_key(key)
    client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
    if _script is None:
        with _script_lock:
            _script = _script or client.register_script(_SLIDING_LOG)
    now_ms = int(now * 1000)
    member = f"{now_ms}:{os.getpid()}:{next(_members)}"  # unique, so two hits in one ms are two entries
    accepted, count, ready_ms = _script(
        keys=[key], args=[now_ms, int(period * 1000), limit, "1" if increment else "0", member], client=client
    )
    return bool(accepted), int(count), int(ready_ms) / 1000
