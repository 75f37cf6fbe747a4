"""This process's compiled rule set, rebuilt when the stored version moves (every process within a second)."""

from __future__ import annotations

import threading
import time

from safety import selectors
from safety.rules import POLL_SECONDS, RuleSet

_lock = threading.Lock()
_current: RuleSet | None = None
_checked_at = float("-inf")


def current() -> RuleSet:
    """This process's compiled rule set, rebuilt when the stored version has moved (checked ≤ 2×/s)."""
    global _current, _checked_at
    rule_set = _current
    if rule_set is not None and time.monotonic() - _checked_at < POLL_SECONDS:
        return rule_set
    with _lock:
        if _current is not None and time.monotonic() - _checked_at < POLL_SECONDS:
            return _current
        version = selectors.rule_set_version()
        if _current is None or _current.version != version:
            _current = selectors.build_rule_set(version=version)
        _checked_at = time.monotonic()
        return _current


def forget() -> None:
    """Drop this process's compiled set: the next post rebuilds it (other processes notice the version)."""
    global _current, _checked_at
    with _lock:
        _current = None
        _checked_at = float("-inf")
