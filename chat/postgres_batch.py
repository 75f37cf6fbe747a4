"""A writer's batch of messages as one PostgreSQL statement (``chat.writer``), which also reads each room's tail.

The rows that differ between posts go as one JSON parameter (``chatr.json_rows``) and each value the batch shares
as one parameter, so that the statement has the same few parameters for every batch and psycopg parses it once.

The same statement reads each room's highest visible id before the batch: the id a viewer's hub needs as the
first new message's previous one (``realtime.api.visible_in_transaction``), which was one more query, and one more
round trip while the room's row is locked. A statement's sub-statements share one snapshot, taken when it begins:
the writer has already locked the batch's rooms (``UPDATE`` of their rows) by then, so every message of those rooms
committed before is in it, none can commit meanwhile, and the batch's own rows are not (its ``max`` is the tail
before them).
"""

from __future__ import annotations

from typing import Any, cast

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from chat.models import Message
from chatr import json_rows

_STATEMENTS: dict[tuple[str, ...], str] = {}  # by the shared columns: built once a connection names the types


def insert(
    messages: list[Message], fields: list[Field[Any, Any]], shared: dict[str, Any], db: BaseDatabaseWrapper
) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Insert ``messages`` (``fields``' columns; ``shared``: attname → the prepared value every row has) in their
    order: the returned ``(id, agent_id, reply_to_id, content)`` rows in id order, and each room's visible tail
    before them (room id → id, 0 for none)."""
    statement = _STATEMENTS.get(tuple(shared)) or _STATEMENTS.setdefault(tuple(shared), _statement(fields, shared, db))
    varying = [field for field in fields if field.attname not in shared]
    rows = [{cast(str, field.column): getattr(message, field.attname) for field in varying} for message in messages]
    # The placeholders' order: the rows (the batch's CTE), then the shared values in the insert's select list.
    params = [json_rows.encode(rows), *(shared[field.attname] for field in fields if field.attname in shared)]
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        returned = cursor.fetchall()
    tails = {room_id: tail or 0 for *_, room_id, tail in returned}
    return [row[:4] for row in returned], tails


def _statement(fields: list[Field[Any, Any]], shared: dict[str, Any], db: BaseDatabaseWrapper) -> str:
    quote = db.ops.quote_name
    table = quote(Message._meta.db_table)
    columns = ", ".join(quote(cast(str, field.column)) for field in fields)
    values = ", ".join("%s" if field.attname in shared else f"r.{quote(cast(str, field.column))}" for field in fields)
    varying = [field for field in fields if field.attname not in shared]
    return (
        f"WITH batch AS (SELECT * FROM {json_rows.recordset(json_rows.columns_of(varying, db))}), "  # noqa: S608
        f"inserted AS (INSERT INTO {table} ({columns}) SELECT {values} FROM batch r ORDER BY r.n "
        "RETURNING id, agent_id, reply_to_id, content, room_id), "
        f"tails AS (SELECT b.room_id, (SELECT max(m.id) FROM {table} m WHERE m.room_id = b.room_id AND NOT m.hidden) "
        "AS tail FROM (SELECT DISTINCT room_id FROM batch) b) "
        "SELECT i.id, i.agent_id, i.reply_to_id, i.content, i.room_id, t.tail "
        "FROM inserted i JOIN tails t ON t.room_id = i.room_id ORDER BY i.id"
    )
