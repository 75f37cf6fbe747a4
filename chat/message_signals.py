"""What chat tells other apps about room messages leaving or coming back, without knowing who listens.

Sent inside the writing transaction, so a receiver's writes (the search index on PostgreSQL) commit or
roll back with the change itself. A message saved through the ORM is announced by Django's ``post_save`` with
``created=True``. The writer's batch (one INSERT, no ``Model.save``) asks instead, on PostgreSQL, before its
``INSERT``, for rows to write in that same statement (``messages_inserting``): a receiver returns
``RowsWithMessages``, run as a data-modifying part of the ``INSERT``'s own statement, so that the rows cost no round
trip of their own while the batch holds its rooms' locks (on SQLite, search's triggers index in the statement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

# messages: list[Message], hidden by a moderator in this transaction.
messages_hidden = Signal()
# messages: list[Message], restored by a moderator in this transaction.
messages_restored = Signal()
# messages: list[Message], the writer's batch in queue order, about to be inserted (PostgreSQL; no ids yet). A
# receiver may return a ``RowsWithMessages``.
messages_inserting = Signal()


@dataclass(frozen=True)
class RowsWithMessages:
    """One data-modifying statement (``INSERT … SELECT …``) run inside the messages' ``INSERT`` statement, as one of
    its ``WITH`` items. It reads the new messages from ``posted(id, room_id, agent_id, n)``: ``n`` numbers them from
    1 in the batch's order (the order ``messages_inserting`` gave them), so rows of the receiver's own can be joined
    on it. ``params``: the values of its ``%s`` placeholders, in their order. It commits or rolls back with the
    messages: a batch the writer refuses (its returned rows do not match the queue) leaves none of them."""

    sql: str
    params: tuple[Any, ...]
