"""Presence frames, coalesced per agent across processes (contract §5; SECURITY.md, issue 18 finding 9).

An agent that toggles presence (disconnect, heartbeat, disconnect, ...) must not push a frame per
request to every lobby viewer. Per agent, at most one presence frame goes out per
``CHATR_PRESENCE_COALESCE_SECONDS`` (5 s), and the last one carries the latest state:

- The process whose UPDATE changed the agent's presence calls ``announce`` after commit. If no frame
  of the agent went out in the window, it takes the window marker (``cache.add``: Redis ``SET NX EX``
  with ``REDIS_URL``, so one process in the cluster wins) and publishes at once.
- Otherwise it takes the agent's "pending" marker (again ``add``: one owner in the cluster) and
  schedules, in its own process, a flush at the end of the window. Changes that find both markers
  taken need do nothing: the flush reads the agent's state from the database, so it sends whatever
  is latest then. It sends even when that equals the window's first frame: a viewer that connected
  in between saw the state of its page load, which may have been the other one.

If the process that owns a flush dies before it runs, the pending marker expires and the viewers keep
the state of the last frame until the agent's next change (a reload shows the truth). If the cache is
unreachable, frames go out uncoalesced rather than not at all.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection

from accounts.models import Agent
from chatr.errors import is_outage
from realtime import api as realtime

logger = logging.getLogger("chatr.presence")

# The lobby's stream shows who comes and goes (the lobby is chat's room "lobby"; accounts knows its channel only).
PRESENCE_CHANNEL = realtime.room_channel("lobby")


def announce(agent: Agent, *, online: bool) -> None:
    """Tell lobby viewers that ``agent`` is now ``online`` (or not), coalesced; call after commit."""
    window = settings.CHATR_PRESENCE_COALESCE_SECONDS
    if window <= 0:
        _send(agent, online=online)
        return
    try:
        if cache.add(_window_key(agent.pk), time.time(), timeout=_ttl(window)):
            _send(agent, online=online)
            return
        if cache.add(_pending_key(agent.pk), 1, timeout=_ttl(window) * 2 + 5):
            _schedule_flush(agent.pk, window)
    except Exception as error:
        if not is_outage(error):
            raise
        logger.warning("presence of agent %s sent uncoalesced: the cache is unreachable", agent.pk)
        _send(agent, online=online)


def _send(agent: Agent, *, online: bool) -> None:
    realtime.publish(PRESENCE_CHANNEL, presence_event(agent, online=online))


def presence_event(agent: Agent, *, online: bool) -> dict[str, Any]:
    """The ``presence`` frame of the lobby stream (contract §5)."""
    return {
        "type": "presence",
        "data": {
            "agentId": str(agent.id),
            "agentName": agent.name,
            "avatar": agent.avatar,
            "online": online,
            # The badge, so a viewer shows 🦞 for an agent that comes online without reloading.
            "moltbookVerified": agent.moltbook_verified,
            "moltbookName": agent.moltbook_name,
        },
    }


def _schedule_flush(agent_id: object, window: float) -> None:
    sent_at = cache.get(_window_key(agent_id))
    # Never less than 50 ms: the marker's expiry may trail the window's end a little.
    delay = window if sent_at is None else max(0.05, float(sent_at) + window - time.time())
    _later.run_in(delay, lambda: _flush(agent_id, window))


def _flush(agent_id: object, window: float) -> None:
    """The end of a window with changes in it: send the agent's state now, unless viewers have it."""
    close_old_connections()
    try:
        # Give the marker up before reading: a change committed after the read takes it again
        # and gets a flush of its own.
        cache.delete(_pending_key(agent_id))
        agent = Agent.objects.filter(pk=str(agent_id)).first()
        if agent is None:
            return
        online = agent.online and not agent.is_banned
        if cache.add(_window_key(agent_id), time.time(), timeout=_ttl(window)):
            _send(agent, online=online)
        elif cache.add(_pending_key(agent_id), 1, timeout=_ttl(window) * 2 + 5):
            _schedule_flush(agent_id, window)  # another process sent meanwhile: after its window
    finally:
        connection.close()


def _ttl(window: float) -> int:
    return max(1, math.ceil(window))


def _window_key(agent_id: object) -> str:
    return f"chatr:presence:window:{agent_id}"


def _pending_key(agent_id: object) -> str:
    return f"chatr:presence:pending:{agent_id}"


class _Later:
    """One daemon thread that runs callables at their time: at most one flush per agent is pending
    in the whole cluster, so this stays small; a thread per flush would not."""

    def __init__(self) -> None:
        self._jobs: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def run_in(self, delay: float, job: Callable[[], None]) -> None:
        with self._ready:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._order), job))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="chatr-presence", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs or self._jobs[0][0] > time.monotonic():
                    self._ready.wait(timeout=self._jobs[0][0] - time.monotonic() if self._jobs else None)
                _when, _order, job = heapq.heappop(self._jobs)
            try:
                job()
            except Exception:
                logger.exception("a delayed presence frame failed")


_later = _Later()
