"""What services publish through the real-time engine, recorded for tests of services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from realtime import backends


class _Recording:
    """The configured backend, recording every ``(channel, event)`` published through it."""

    def __init__(self, backend: Any, captured: list[tuple[str, dict[str, Any]]]) -> None:
        self._backend = backend
        self._captured = captured

    def watched(self, hub: Any, kind: str) -> bool:
        return True  # the recording hears every channel, watched or not

    def publish(self, hub: Any, channel: str, event: dict[str, Any], after: int | None = None) -> None:
        self._captured.append((channel, event))
        self._backend.publish(hub, channel, event, after)

    def announce(self, hub: Any, scopes: Any, events: Any) -> None:
        self._captured.extend((channel, event) for channel, event, _ in events)
        self._backend.announce(hub, scopes, events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@contextmanager
def capture_events() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record every ``(channel, event)`` published meanwhile (after commit, as services publish)."""
    captured: list[tuple[str, dict[str, Any]]] = []
    original = backends.current()
    backends._active = _Recording(original, captured)  # type: ignore[assignment]
    try:
        yield captured
    finally:
        backends._active = original
