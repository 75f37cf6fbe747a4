"""A writer's batch of messages as one round trip to PostgreSQL (``chat.writer``), which also reads each room's tail.

The rows that differ between posts go as one JSON parameter (``chatr.json_rows``) and each value the batch shares
as one parameter, so that the statement has the same few parameters for every batch and psycopg parses it once.

The same round trip first reads each room's highest visible id: the id a viewer's hub needs as the first new
message's previous one (``realtime.api.visible_in_transaction``), which was one more round trip while the room's row
was locked. It is a statement of its own before the ``INSERT``, in one query string (psycopg's client-side binding
sends it by the simple protocol, which runs each statement with a snapshot of its own): its snapshot is taken after
the writer locked the batch's rooms (``UPDATE`` of their rows), so every message of those rooms committed before is
in it and none can commit meanwhile, and the batch's rows are not yet written. Read inside the ``INSERT``'s own
statement instead (a CTE), the tail's index scan stepped over each of the batch's new rows, invisible to it, and
cost PostgreSQL more than the extra statement.

Rows other apps write with the messages (``chat.message_signals.messages_inserting``: the search index's) go in the
``INSERT``'s own statement, as data-modifying ``WITH`` items reading its ``RETURNING`` rows, numbered in the batch's
order by their ids (``posted``); the messages come back from the statement's outer ``SELECT`` in the order they were
inserted, as ``RETURNING`` gave them. The writer checks those rows against its queue and that the ids rise along it,
so that when the numbering by ids is not the batch's order the transaction is rolled back with every row it wrote.
A plain post then holds its room's lock for one round trip and the ``COMMIT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from chat.message_signals import RowsWithMessages
from chat.models import Message
from chatr import json_rows

# By the shared columns and the statements written with the messages: built once a connection names the types.
_STATEMENTS: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}


def insert(
    messages: list[Message],
    fields: list[Field[Any, Any]],
    shared: dict[str, Any],
    db: BaseDatabaseWrapper,
    *,
    ahead: Sequence[tuple[str, list[Any]]] = (),
    with_rows: Sequence[RowsWithMessages] = (),
) -> tuple[list[tuple[Any, ...]], dict[str, int], list[int]]:
    """Insert ``messages`` (``fields``' columns; ``shared``: attname → the prepared value every row has) in their
    order, after the statements ``ahead`` (the rooms' ``UPDATE``s that lock them) in the same query string and with
    the statements ``with_rows`` in its own: the returned ``(id, agent_id, reply_to_id, content)`` rows, each room's
    visible tail before them (room id → id, 0 for none), and the rows each statement ahead changed."""
    cached = (tuple(shared), tuple(each.sql for each in with_rows))
    statement = _STATEMENTS.get(cached) or _STATEMENTS.setdefault(cached, _statement(fields, shared, db, cached[1]))
    varying = [field for field in fields if field.attname not in shared]
    rows = [{cast(str, field.column): getattr(message, field.attname) for field in varying} for message in messages]
    rooms = list(dict.fromkeys(message.room_id for message in messages))
    # The placeholders' order: the rooms (the tails' statement), the shared values in the insert's select list, the
    # rows in its FROM.
    params = [json_rows.encode(rooms), *(shared[field.attname] for field in fields if field.attname in shared)]
    params.append(json_rows.encode(rows))
    for each in with_rows:
        params.extend(each.params)
    if ahead:
        statement = "; ".join([*(sql for sql, _ in ahead), statement])
        params = [*(param for _, each in ahead for param in each), *params]
    counted = []
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        for _ in ahead:
            counted.append(cursor.rowcount)
            if not cursor.nextset():
                raise DatabaseError("the batch's statements returned fewer results")
        tails = {room_id: tail or 0 for room_id, tail in cursor.fetchall()}
        if not cursor.nextset():
            raise DatabaseError("the messages' INSERT returned nothing")
        return cursor.fetchall(), tails, counted


def _statement(
    fields: list[Field[Any, Any]], shared: dict[str, Any], db: BaseDatabaseWrapper, with_rows: tuple[str, ...]
) -> str:
    quote = db.ops.quote_name
    table = quote(Message._meta.db_table)
    columns = ", ".join(quote(cast(str, field.column)) for field in fields)
    values = ", ".join("%s" if field.attname in shared else f"r.{quote(cast(str, field.column))}" for field in fields)
    varying = [field for field in fields if field.attname not in shared]
    tails = (
        "SELECT r.room_id, "  # noqa: S608 - names from the model
        f"(SELECT max(m.id) FROM {table} m WHERE m.room_id = r.room_id AND NOT m.hidden) "
        "FROM json_array_elements_text(%s::json) AS r(room_id); "
    )
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {values} "  # noqa: S608 - names from the model
        f"FROM {json_rows.recordset(json_rows.columns_of(varying, db))} ORDER BY r.n "
    )
    if not with_rows:
        return f"{tails}{insert}RETURNING id, agent_id, reply_to_id, content"
    # Each WITH item that modifies data runs once, whether the outer SELECT reads it or not.
    written = "".join(f", with_rows_{number} AS ({sql})" for number, sql in enumerate(with_rows))
    return (
        f"{tails}WITH inserted AS ({insert}RETURNING id, agent_id, reply_to_id, content, room_id), "  # noqa: S608 - our SQL
        "posted AS (SELECT id, room_id, agent_id, row_number() OVER (ORDER BY id) AS n FROM inserted)"
        f"{written} SELECT id, agent_id, reply_to_id, content FROM inserted"
    )
