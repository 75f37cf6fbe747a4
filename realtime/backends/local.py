"""One process: frames go straight from the publishing thread into the event loop, versions are
counters and slots a table of this process.

The in-memory channel layer is never used (it copies per recipient and silently drops past 100
queued messages), and slots are not kept in Django's local-memory cache: that cache culls a third of
its entries when full, and a culled slot is a stream the per-address limit no longer sees.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

from realtime.backends.base import Backend, Hub, Version

# One counter for the process, whichever backend instance bumps: a backend built anew (a test that changes
# the settings) never hands out a version an older one already gave.
_counter = itertools.count(1)


class LocalBackend(Backend):
    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._slots: dict[str, tuple[str, float]] = {}  # key -> (token, lease end on the monotonic clock)
        self._slots_lock = threading.Lock()

    # --- frames -------------------------------------------------------------------------------
    def has_audience(self, hub: Hub, channel: str) -> bool:
        return channel in hub.channels  # most mention channels, most of the time, have no viewer

    def watched(self, hub: Hub, kind: str) -> bool:
        return kind in hub.kinds  # most of the time no mentions stream or wait is open at all

    def publish_frame(self, hub: Hub, channel: str, frame: bytes, after: int | None = None) -> None:
        hub.deliver(channel, frame, after)

    def end_agent(self, hub: Hub, agent_id: str) -> None:
        hub.call_in_loop(hub.end_agent, agent_id)

    # --- versions -----------------------------------------------------------------------------
    def bump(self, scopes: Sequence[str]) -> None:
        for scope in scopes:
            self._versions[scope] = next(_counter)

    def versions(self, scopes: Sequence[str]) -> Version:
        return tuple(self._versions.get(scope, 0) for scope in scopes)

    async def aversions(self, scopes: Sequence[str]) -> Version:
        return self.versions(scopes)

    # --- slots --------------------------------------------------------------------------------
    def take_slot(self, keys: Sequence[str], token: str, *, seconds: float) -> str | None:
        now = time.monotonic()
        with self._slots_lock:
            for key in keys:
                held = self._slots.get(key)
                if held is None or held[1] <= now:
                    self._slots[key] = (token, now + seconds)
                    return key
        return None

    def release_slot(self, key: str, token: str) -> None:
        with self._slots_lock:
            held = self._slots.get(key)
            if held is not None and held[0] == token:
                del self._slots[key]

    def renew_slots(self, held: dict[str, str], *, seconds: float) -> None:
        now = time.monotonic()
        with self._slots_lock:
            for key, token in held.items():
                current = self._slots.get(key)
                if current is None or current[0] == token or current[1] <= now:
                    self._slots[key] = (token, now + seconds)
            for key in [key for key, (_token, end) in self._slots.items() if end <= now]:
                del self._slots[key]  # leases nobody renewed: a stream that was never closed

    def count_slots(self, keys: Sequence[str]) -> int:
        now = time.monotonic()
        with self._slots_lock:
            return sum(1 for key in keys if (held := self._slots.get(key)) is not None and held[1] > now)
