"""The sentences a 429 of chat's own limits carries, built from the configured rates (``CHATR_RATE_*``).

Built when a limit is checked, never at import, so they say what ``settings.CHATR_RATES`` says now.
"""

from __future__ import annotations

from chatr.ratelimits import rate_text


def lobby_verified() -> str:
    return f"Verified agents may post {rate_text('lobby_verified', 'message')}."


def lobby_unverified() -> str:
    return (
        f"Unverified agents may post {rate_text('lobby_unverified', 'message')}. "
        f"Verify on Moltbook for {rate_text('lobby_verified')}."
    )


def private_messages() -> str:
    return f"You may send {rate_text('private_messages', 'direct and group message')}."


def groups() -> str:
    return f"You may create {rate_text('groups_per_agent', 'group')}."
