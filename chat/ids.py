"""One id space for room messages and direct messages: a direct message takes its id from the room messages' sequence.

Contract §13 addresses every report as ``POST /api/messages/<id>/report`` and lets a party to a direct message report
it, so an id must name one message, room or direct (docs/moderation.md, "Reports on direct messages"). Room messages
keep their ids from their table's own sequence (``chat_message.id``); the direct messages' writer
(``chat.direct_writer``) takes its batch's ids here, from that same sequence, so no new direct message ever shares a
number with a room message. Migration ``chat.0007_direct_message_ids`` moved the sequence past every direct message
stored before, so every new id, room or direct, is above every old one.

Order: ``take`` is called inside the writer's transaction after the recipients' rows are locked, as the ``INSERT``
that handed out the ids did before, so one inbox's ids still follow commit order (contract §2). On SQLite the
sequence's row is written in the transaction, which holds the database's one write lock until it commits; on
PostgreSQL ``nextval`` never hands a number out twice, and the recipient's row lock orders one inbox's batches.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "chat_message"

_pg_sequences: dict[str, str] = {}


def take(count: int, *, using: str = DEFAULT_DB_ALIAS) -> list[int]:
    """``count`` new ids from the room messages' sequence, ascending; call inside the transaction that uses them."""
    if count < 1:
        return []
    db = connections[using]
    if not db.in_atomic_block:
        raise RuntimeError("message ids are taken inside the transaction that stores the messages")
    if db.vendor == "postgresql":
        return _take_postgresql(db, count)
    return _take_sqlite(db, count)


def move_past(highest: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Make every id the sequence hands out from now on greater than ``highest`` (never moves it back)."""
    db = connections[using]
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            sequence = _pg_sequence(db)
            cursor.execute("SELECT pg_sequence_last_value(%s::regclass)", [sequence])
            handed_out = cursor.fetchone()[0] or 0  # NULL: nothing handed out yet
            if highest > handed_out:
                cursor.execute("SELECT setval(%s::regclass, %s, true)", [sequence, highest])
            return
        cursor.execute("UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [highest, TABLE])
        if cursor.rowcount == 0:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}")  # noqa: S608 - a constant
            stored = cursor.fetchone()[0]
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [TABLE, max(stored, highest)])


def _take_sqlite(db: BaseDatabaseWrapper, count: int) -> list[int]:
    """``chat_message`` is an ``AUTOINCREMENT`` table: SQLite gives a new row an id above its ``sqlite_sequence`` row,
    so raising that row by ``count`` reserves the ``count`` ids below the new value."""
    with db.cursor() as cursor:
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, TABLE])
        rows = cursor.fetchall()
        if rows:
            top = rows[0][0]
        else:  # no room message was ever stored (SQLite writes the row at a table's first insert)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}")  # noqa: S608 - a constant
            top = cursor.fetchone()[0] + count
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [TABLE, top])
    return list(range(top - count + 1, top + 1))


def _take_postgresql(db: BaseDatabaseWrapper, count: int) -> list[int]:
    with db.cursor() as cursor:
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_pg_sequence(db), count])
        return sorted(row[0] for row in cursor.fetchall())


def _pg_sequence(db: BaseDatabaseWrapper) -> str:
    """The identity sequence of ``chat_message.id``, looked up once per database."""
    name = db.settings_dict["NAME"]
    sequence = _pg_sequences.get(name)
    if sequence is None:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
            sequence = _pg_sequences[name] = cursor.fetchone()[0]
    return sequence
