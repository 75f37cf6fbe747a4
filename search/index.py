"""Keeps PostgreSQL's search table in step with the messages, in the message's own transaction (contract §12).

Connected in ``SearchConfig.ready`` to what chat announces — Django's ``post_save`` for a new message,
chat's ``messages_inserting`` (the writer's batch), ``messages_hidden`` and ``messages_restored`` — so chat writes
messages without knowing that search exists. On SQLite the FTS5 triggers of search's migration do this in the same
statement as the message's own write, so these are no-ops there.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router

from chat.message_signals import RowsWithMessages
from chat.models import Message
from chatr import json_rows
from search.text import document

_INSERT = (
    "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "  # noqa: S608
    "SELECT r.message_id, r.room_id, r.agent_id, to_tsvector('simple', r.document) FROM "
    + json_rows.recordset(
        [("message_id", "bigint"), ("room_id", "varchar"), ("agent_id", "uuid"), ("document", "text")]
    )
    + " ON CONFLICT (message_id) DO NOTHING"
)
_ROWS_A_STATEMENT = 500
# The writer's batch, in its INSERT's statement (``chat.message_signals.RowsWithMessages``): the documents as one JSON
# array in the batch's order, joined to the new messages by their place in it.
_WITH_POSTED = (
    "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "
    "SELECT p.id, p.room_id, p.agent_id, to_tsvector('simple', d.document) "
    "FROM posted p JOIN ROWS FROM (json_array_elements_text(%s::json)) WITH ORDINALITY AS d(document, n) USING (n) "
    "ON CONFLICT (message_id) DO NOTHING"
)


def _postgres(model: type[Message]) -> Any:
    connection = connections[router.db_for_write(model)]
    return connection if connection.vendor == "postgresql" else None


def message_saved(*, sender: type[Message], instance: Message, created: bool, **_: Any) -> None:
    """A new message enters results if it is visible."""
    if created and not instance.hidden:
        add(messages=[instance])


def messages_inserting(*, sender: type[Message], messages: list[Message], **_: Any) -> RowsWithMessages | None:
    """The writer's batch (no ``post_save``: it inserts them in one statement), indexed in that statement: new
    messages are visible."""
    if _postgres(Message) is None or not messages:
        return None
    return RowsWithMessages(_WITH_POSTED, (json_rows.encode([document(message.content) for message in messages]),))


def messages_restored(*, sender: type[Message], messages: list[Message], **_: Any) -> None:
    add(messages=messages)


def messages_hidden(*, sender: type[Message], messages: list[Message], **_: Any) -> None:
    remove(messages=messages)


def add(*, messages: list[Message]) -> None:
    """Index visible messages (new ones, or restored ones)."""
    connection = _postgres(Message)
    if connection is None or not messages:
        return
    # One statement and one execution for a writer's whole batch (``executemany`` ran the INSERT once a message),
    # its rows as one JSON parameter (``chatr.json_rows``: a statement psycopg parses once, not one placeholder a
    # value). A large restore goes in chunks, so that no statement grows without bound.
    with connection.cursor() as cursor:
        for start in range(0, len(messages), _ROWS_A_STATEMENT):
            rows = [
                {"message_id": message.pk, "room_id": message.room_id, "agent_id": message.agent_id,
                 "document": document(message.content)}
                for message in messages[start : start + _ROWS_A_STATEMENT]
            ]  # fmt: skip
            cursor.execute(_INSERT, [json_rows.encode(rows)])


def remove(*, messages: list[Message]) -> None:
    """Take hidden messages out of results."""
    connection = _postgres(Message)
    if connection is None or not messages:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM chat_message_search WHERE message_id = ANY(%s)", [[message.pk for message in messages]]
        )
