"""Versions of what readers see, so that ready-made answers are served only while they are exact.

Every change a reader could see bumps the version of its *scope* after commit and before the writer
answers: ``room:<id>`` (a message posted, hidden or restored in that room) and ``agents`` (anything shown
of an agent: registration, presence, profile, badge, ban, key). A cached answer is stored with the
versions read *before* it was rendered and served only while those versions are still current, so a
request that starts after a writer's answer can never be served the state before it.

One process (no ``REDIS_URL``): versions are counters in this process. Several processes: versions live
in Redis (``SET`` of a fresh random token per bump, so a restarted Redis can never bring an old version
back), bumped by the writer before it answers and read by the reader in one ``MGET`` per request.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("chatr.freshness")

AGENTS = "agents"  # what messages and profiles show of any agent: name, avatar, badge, key, ban
PRESENCE = "presence"  # who is online, lastSeen, the agent counts
_PREFIX = "chatr:v:"

Version = tuple[object, ...]

_local: dict[str, int] = {}
_counter = itertools.count(1)
_clients_lock = threading.Lock()
_sync_client = None
_async_clients: dict[int, object] = {}


def room(room_id: object) -> str:
    return f"room:{room_id}"


def agent(agent_id: object) -> str:
    """Anything stored on one agent (its key included): what the in-process key cache checks."""
    return f"agent:{agent_id}"


def changed_on_commit(*scopes: str) -> None:
    """Bump ``scopes`` now and again once the current transaction commits.

    The bump after commit is the one that counts: an answer rendered before it may hold the state
    before the commit. The bump now makes no difference to that (an answer rendered between the two
    is invalidated by the second), but it keeps a change visible to code that never commits — a test
    inside a transaction that is rolled back.
    """
    changed(*scopes)
    transaction.on_commit(lambda: changed(*scopes))


def changed(*scopes: str) -> None:
    """Bump ``scopes`` now: every answer cached under their old versions stops being served."""
    if not settings.REDIS_URL:
        for scope in scopes:
            _local[scope] = next(_counter)
        return
    token = secrets.token_hex(8)
    _redis().mset({_PREFIX + scope: token for scope in scopes})


def current(scopes: Sequence[str]) -> Version:
    """The versions of ``scopes`` now, from any thread."""
    if not settings.REDIS_URL:
        return tuple(_local.get(scope, 0) for scope in scopes)
    values = _redis().mget([_PREFIX + scope for scope in scopes])
    if None in values:
        return _initialise_sync(scopes, values)
    return tuple(values)


async def acurrent(scopes: Sequence[str]) -> Version:
    """``current`` for the event loop: in process a dict lookup, with Redis one ``MGET`` that blocks no thread."""
    if not settings.REDIS_URL:
        return tuple(_local.get(scope, 0) for scope in scopes)
    client = _aredis()
    values = await client.mget([_PREFIX + scope for scope in scopes])
    if None in values:
        for scope, value in zip(scopes, values, strict=True):
            if value is None:
                await client.set(_PREFIX + scope, secrets.token_hex(8), nx=True)
        values = await client.mget([_PREFIX + scope for scope in scopes])
    return tuple(values)


def _initialise_sync(scopes: Iterable[str], values: list) -> Version:
    # A scope never bumped (or a Redis that restarted empty) gets a token of its own; NX keeps a
    # concurrent bump's token if it came first.
    client = _redis()
    for scope, value in zip(scopes, values, strict=True):
        if value is None:
            client.set(_PREFIX + scope, secrets.token_hex(8), nx=True)
    return tuple(client.mget([_PREFIX + scope for scope in scopes]))


def _redis():
    global _sync_client
    if _sync_client is None:
        import redis

        with _clients_lock:
            if _sync_client is None:
                _sync_client = redis.Redis.from_url(settings.REDIS_URL, **settings.REDIS_TIMEOUTS)
    return _sync_client


def _aredis():
    import asyncio

    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        client = _async_clients[id(loop)] = redis.asyncio.Redis.from_url(settings.REDIS_URL, **settings.REDIS_TIMEOUTS)
    return client
