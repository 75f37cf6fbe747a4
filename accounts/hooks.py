"""What other apps do when something happens to an agent, registered by them at start-up.

Accounts sits below the apps that hold things of an agent (webhooks hold its deliveries): it tells
them, inside its own transaction, and knows nothing of what they keep. Each app registers in its
``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import Agent

_on_key_stopped: list[Callable[..., Any]] = []


def on_key_stopped(callback: Callable[..., Any]) -> None:
    """Call ``callback(agent=agent)`` in the transaction that bans an agent or revokes its key."""
    if callback not in _on_key_stopped:
        _on_key_stopped.append(callback)


def key_stopped(*, agent: Agent) -> None:
    """The agent's key stopped working for good (a ban, a revocation): whatever waited on it stops too."""
    for callback in _on_key_stopped:
        callback(agent=agent)
