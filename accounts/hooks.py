"""What other apps do when something happens to an agent, registered by them at start-up.

Accounts sits below the apps that hold things of an agent (chat holds its messages, webhooks its
deliveries): it tells them, inside its own transaction, and knows nothing of what they keep. Each app registers in its
``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import Agent

_on_key_stopped: list[Callable[..., Any]] = []
_message_hiders: list[Callable[..., int]] = []


def on_key_stopped(callback: Callable[..., Any]) -> None:
    """Call ``callback(agent=agent)`` in the transaction that bans an agent or revokes its key."""
    if callback not in _on_key_stopped:
        _on_key_stopped.append(callback)


def key_stopped(*, agent: Agent) -> None:
    """The agent's key stopped working for good (a ban, a revocation): whatever waited on it stops too."""
    for callback in _on_key_stopped:
        callback(agent=agent)


def on_hide_all_messages(hider: Callable[..., int]) -> None:
    """``hider(agent=, moderator=)`` hides every visible message of the agent and returns how many."""
    if hider not in _message_hiders:
        _message_hiders.append(hider)


def hide_all_messages(*, agent: Agent, moderator: Any) -> int:
    """A moderator's "ban and hide": every app that holds the agent's messages hides them; how many in all."""
    return sum(hider(agent=agent, moderator=moderator) for hider in _message_hiders)
