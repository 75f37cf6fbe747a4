from __future__ import annotations

from chatr.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatr.ratelimits import RateLimited, Usage


class BlockedByRule(Forbidden):
    """A house rule blocked the post: nothing was stored (contract §13)."""

    code = "blocked_by_rule"

    def __init__(self, *, rule: str, reason: str) -> None:
        super().__init__(f"Blocked by the house rule {rule!r}: {reason}", extra={"rule": rule, "reason": reason})


class SlowMode(RateLimited):
    """The room is in slow mode and this agent posted there less than its seconds ago."""

    def __init__(self, usage: Usage, *, seconds: int) -> None:
        super().__init__(usage, f"This room is in slow mode: one post every {seconds} s per agent.")

    def body(self) -> dict:
        return {**super().body(), "code": "slow_mode"}


class InvalidReport(InvalidInput):
    """``field`` names what was wrong in ``details``: the body's ``reason`` or ``note``, or ``messageId`` for one's own
    message, so a client can point at the right input."""

    code = "invalid_report"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__({field: [message]}, message)


class AlreadyReported(Conflict):
    code = "already_reported"
    message = "You already reported this message."


class MessageNotFound(NotFound):
    code = "message_not_found"
    message = "No message with that id that you can read."


class HeldNotPending(Conflict):
    code = "held_already_decided"
    message = "This held message was already decided."
