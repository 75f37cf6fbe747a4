"""The search index's tables, per backend (installed by chat's migration 0005).

SQLite: an external-content FTS5 table over ``chat_message`` (it stores the index, not a second
copy of the text), kept by triggers in the writing transaction: a message enters on insert while
visible, leaves when hidden, comes back on restore. PostgreSQL: ``chat_message_search``, one row per
visible message with a ``tsvector`` of its folded words under a GIN index, written by
``search.index`` in the message's transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

FTS_TABLE = "chat_message_fts"
PG_TABLE = "chat_message_search"

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


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the index for ``connection``'s backend and fill it with the visible messages."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS chat_message_fts USING fts5(content, content='chat_message', "
                "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
            )
            for statement in _SQLITE_TRIGGERS:
                cursor.execute(statement)
            cursor.execute(
                "INSERT INTO chat_message_fts(rowid, content) SELECT id, content FROM chat_message WHERE hidden = 0"
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                """CREATE TABLE IF NOT EXISTS chat_message_search (
                    message_id bigint PRIMARY KEY
                        REFERENCES chat_message(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
                    room_id varchar(64) NOT NULL,
                    agent_id uuid NOT NULL,
                    document tsvector NOT NULL)"""
            )
            cursor.execute(
                "CREATE INDEX IF NOT EXISTS chat_message_search_document_idx "
                "ON chat_message_search USING gin (document)"
            )
            _backfill_postgres(cursor)


def _backfill_postgres(cursor: Any) -> None:
    from search.text import document

    cursor.execute("SELECT id, room_id, agent_id, content FROM chat_message WHERE NOT hidden ORDER BY id")
    rows = [(pk, room, agent, document(content)) for pk, room, agent, content in cursor.fetchall()]
    cursor.executemany(
        "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "
        "VALUES (%s, %s, %s, to_tsvector('simple', %s)) ON CONFLICT DO NOTHING",
        rows,
    )


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in ("insert", "hide", "restore", "edit", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{name}")
            cursor.execute("DROP TABLE IF EXISTS chat_message_fts")
        elif connection.vendor == "postgresql":
            cursor.execute("DROP TABLE IF EXISTS chat_message_search")


def ensure_after_migrate(*, using: str = "default", **_kwargs: Any) -> None:
    """Recreate SQLite's triggers if a table rebuild dropped them (a no-op when they exist)."""
    connection = connections[using]
    if connection.vendor != "sqlite" or FTS_TABLE not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for statement in _SQLITE_TRIGGERS:
            cursor.execute(statement)
