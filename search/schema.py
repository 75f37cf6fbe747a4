"""The search index's tables, per backend (created by search's migrations, which freeze this SQL as it was).

SQLite: an external-content FTS5 table over ``chat_message`` (it stores the index, not a second
copy of the text), kept by triggers in the writing transaction: a message enters on insert while
visible, leaves when hidden, comes back on restore. PostgreSQL: ``chat_message_search``, one row per
visible message with a ``tsvector`` of its folded words under a GIN index, written by
``search.index`` in the message's transaction.

Only the repair of SQLite's triggers after a table rebuild runs from here; a change to the index's
shape is a new migration.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

FTS_TABLE = "chat_message_fts"

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message WHEN new.hidden = 0 BEGIN
        INSERT INTO chat_message_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_hide AFTER UPDATE OF hidden ON chat_message
        WHEN old.hidden = 0 AND new.hidden = 1 BEGIN
        INSERT INTO chat_message_fts(chat_message_fts, rowid, content) VALUES ('delete', old.id, old.content); END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_restore AFTER UPDATE OF hidden ON chat_message
        WHEN old.hidden = 1 AND new.hidden = 0 BEGIN
        INSERT INTO chat_message_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_edit AFTER UPDATE OF content ON chat_message
        WHEN old.hidden = 0 AND new.hidden = 0 BEGIN
        INSERT INTO chat_message_fts(chat_message_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO chat_message_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message WHEN old.hidden = 0 BEGIN
        INSERT INTO chat_message_fts(chat_message_fts, rowid, content) VALUES ('delete', old.id, old.content); END""",
]


def ensure_after_migrate(*, using: str = "default", **_kwargs: Any) -> None:
    """Recreate SQLite's triggers if a table rebuild dropped them (a no-op when they exist)."""
    connection = connections[using]
    if connection.vendor != "sqlite" or FTS_TABLE not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for statement in _SQLITE_TRIGGERS:
            cursor.execute(statement)
