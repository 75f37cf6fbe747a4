"""What a store must do for the engine: carry frames between processes, keep versions, hold slots.

One implementation per store (``local``: this process only; ``redis``: every process sharing one
Redis), like Django's cache backends. The hub, the versions and the slots call these methods and
never ask which store they talk to.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from realtime import frames

Version = tuple[object, ...]
Announced = tuple[str, dict[str, Any], int | None]  # a channel, an event on it, its ``after``


class Hub(Protocol):
    """What a backend may ask of the process's hub (``realtime.hub.Hub``)."""

    loop: asyncio.AbstractEventLoop | None
    channels: dict[str, Any]
    kinds: dict[str, int]

    def deliver(self, channel: str, frame: bytes, after: int | None = None) -> None: ...
    def fan_out(self, channel: str, frame: bytes, after: int | None = None) -> None: ...
    def end_agent(self, agent_id: str) -> None: ...
    def end_channel(self, channel: str) -> None: ...
    def call_in_loop(self, function: Callable[..., Any], *args: Any) -> None: ...
    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task: ...


class Backend(ABC):
    # --- frames -------------------------------------------------------------------------------
    def has_audience(self, hub: Hub, channel: str) -> bool:
        """False when no process can have a viewer of ``channel`` (then nothing is encoded)."""
        return True

    def watched(self, hub: Hub, kind: str) -> bool:
        """False when no process can have a viewer of any ``<kind>:…`` channel (then no frame of it need be built)."""
        return True

    def publish(self, hub: Hub, channel: str, event: dict[str, Any], after: int | None = None) -> None:
        """Encode ``event`` once and hand it to every viewer of ``channel`` (nothing to do without one)."""
        if self.has_audience(hub, channel):
            self.publish_frame(hub, channel, frames.encode(event), after)

    def announce(self, hub: Hub, scopes: Sequence[str], events: Sequence[Announced]) -> None:
        """After a commit: bump ``scopes``, then publish each ``(channel, event, after)`` in order.

        What one writer's commit changed, in one call, so that a store that can carry it in one trip does.
        """
        if scopes:
            self.bump(scopes)
        for channel, event, after in events:
            self.publish(hub, channel, event, after)

    @abstractmethod
    def publish_frame(self, hub: Hub, channel: str, frame: bytes, after: int | None = None) -> None:
        """Hand an encoded frame to every process's viewers of ``channel`` (from any thread).

        ``after`` (the channel's visible id before the frame's, or None) goes along to each process's
        ``fan_out``.
        """

    @abstractmethod
    def end_agent(self, hub: Hub, agent_id: str) -> None:
        """End, in every process, the subscriptions opened with a key of ``agent_id``."""

    def link(self, hub: Hub) -> Any | None:
        """The process's link to the others for ``hub`` (bound to its event loop), or None when alone.

        The link has ``async sync(channel)``: listen to ``channel`` when local viewers watch it, stop
        when none does.
        """
        return None

    # --- versions -----------------------------------------------------------------------------
    @abstractmethod
    def bump(self, scopes: Sequence[str]) -> None:
        """Give ``scopes`` versions never seen before."""

    @abstractmethod
    def versions(self, scopes: Sequence[str]) -> Version:
        """The current versions of ``scopes`` (from any thread)."""

    @abstractmethod
    async def aversions(self, scopes: Sequence[str]) -> Version:
        """``versions`` for the event loop, blocking no thread."""

    # --- slots --------------------------------------------------------------------------------
    @abstractmethod
    def take_slot(self, keys: Sequence[str], token: str, *, seconds: float) -> str | None:
        """Take the first free key of ``keys`` for ``token`` with a lease of ``seconds``; None if all are held.

        A held slot is freed only by ``release_slot`` or by its lease running out: nothing else the
        store holds may push it out.
        """

    @abstractmethod
    def release_slot(self, key: str, token: str) -> None:
        """Free ``key`` if ``token`` still holds it."""

    @abstractmethod
    def renew_slots(self, held: dict[str, str], *, seconds: float) -> None:
        """Extend the leases of slots still in use (``key -> token``) by ``seconds`` from now."""

    @abstractmethod
    def count_slots(self, keys: Sequence[str]) -> int:
        """How many of ``keys`` are held now."""
