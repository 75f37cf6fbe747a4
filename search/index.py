"""Keeps PostgreSQL's search table in step with the messages, in the message's own transaction (contract §12).

Connected in ``SearchConfig.ready`` to what chat announces — Django's ``post_save`` for a new message,
chat's ``messages_hidden`` and ``messages_restored`` — so chat writes messages without knowing that
search exists. On SQLite the FTS5 triggers of search's migration do this in the same statement as the
message's own write, so these are no-ops there.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router

from chat.models import Message
from search.text import document

_ROW = "(%s, %s, %s, to_tsvector('simple', %s))"
_ROWS_A_STATEMENT = 500


def _postgres(model: type[Message]) -> Any:
    connection = connections[router.db_for_write(model)]
    return connection if connection.vendor == "postgresql" else None


def message_saved(*, sender: type[Message], instance: Message, created: bool, **_: Any) -> None:
    """A new message enters results if it is visible."""
    if created and not instance.hidden:
        add(messages=[instance])


def messages_posted(*, sender: type[Message], messages: list[Message], **_: Any) -> None:
    """Messages the writer stored (no ``post_save``: it inserts them in one statement each)."""
    add(messages=messages)


def messages_restored(*, sender: type[Message], messages: list[Message], **_: Any) -> None:
    add(messages=messages)


def messages_hidden(*, sender: type[Message], messages: list[Message], **_: Any) -> None:
    remove(messages=messages)


def add(*, messages: list[Message]) -> None:
    """Index visible messages (new ones, or restored ones)."""
    connection = _postgres(Message)
    if connection is None or not messages:
        return
    # One statement and one execution for a writer's whole batch (``executemany`` ran the INSERT once a message);
    # rows of placeholders, not arrays: psycopg dumps an array parameter in Python, element by element. A large
    # restore goes in chunks, so that no statement grows without bound.
    with connection.cursor() as cursor:
        for start in range(0, len(messages), _ROWS_A_STATEMENT):
            chunk = messages[start : start + _ROWS_A_STATEMENT]
            params: list[object] = []
            for message in chunk:
                params += (message.pk, message.room_id, message.agent_id, document(message.content))
            cursor.execute(
                "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "  # noqa: S608
                f"VALUES {', '.join([_ROW] * len(chunk))} ON CONFLICT (message_id) DO NOTHING",
                params,
            )


def remove(*, messages: list[Message]) -> None:
    """Take hidden messages out of results."""
    connection = _postgres(Message)
    if connection is None or not messages:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM chat_message_search WHERE message_id = ANY(%s)", [[message.pk for message in messages]]
        )
