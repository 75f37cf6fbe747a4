"""Content checks: the named place where a room post may be stopped for what it says, before it is stored.

``chat.services.check_room_post`` runs every check of ``settings.CHATR_POST_CHECKS`` (dotted paths, in order)
on the post, after the contract's own rules and before the rate limit counts it. A check takes the
``chat.writer.RoomPost`` and returns nothing to let it through, or raises a ``chatr.errors.ChatrError`` (the
answer's status and code) to block it; it may also change the post it is given (hold it, strip it) before the
writer stores it. House rules plug in here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from chat.writer import RoomPost

Check = Callable[["RoomPost"], None]


@lru_cache(maxsize=4)
def _checks(paths: tuple[str, ...]) -> tuple[Check, ...]:
    return tuple(import_string(path) for path in paths)


def run(post: RoomPost) -> None:
    """Every configured check on ``post``; the first that raises blocks it."""
    for check in _checks(tuple(settings.CHATR_POST_CHECKS)):
        check(post)
