"""Writes to the search index in the message's transaction (contract §12).

On SQLite the FTS5 triggers (``search.schema``) do this in the same statement as the message's own
write, so these are no-ops there; on PostgreSQL they write ``chat_message_search``.
"""

from __future__ import annotations

from django.db import connection

from chat.models import Message
from search.text import document


def add(*, message: Message) -> None:
    """Index a visible message (a new one, or a restored one)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "
            "VALUES (%s, %s, %s, to_tsvector('simple', %s)) ON CONFLICT (message_id) DO NOTHING",
            [message.pk, message.room_id, message.agent_id, document(message.content)],
        )


def remove(*, message: Message) -> None:
    """Take a hidden message out of results."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM chat_message_search WHERE message_id = %s", [message.pk])
