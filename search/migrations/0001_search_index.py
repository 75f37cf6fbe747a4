"""The full-text index of contract §12: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

Every statement is frozen here as it ran, so a later change to search's code never rewrites what this
migration did. Databases created before search had migrations already hold these tables (chat's
migration 0005 made them then): every statement is ``IF NOT EXISTS``, and the index is filled only
when this migration created it, so those databases keep theirs as they are.
"""

import re
import unicodedata

from django.db import migrations

SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chat_message_fts USING fts5(content, content='chat_message', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)
SQLITE_TRIGGERS = [
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
SQLITE_FILL = "INSERT INTO chat_message_fts(rowid, content) SELECT id, content FROM chat_message WHERE hidden = 0"
SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS chat_message_fts_{name}" for name in ("insert", "hide", "restore", "edit", "delete")),
    "DROP TABLE IF EXISTS chat_message_fts",
]

POSTGRES_TABLE = """CREATE TABLE IF NOT EXISTS chat_message_search (
    message_id bigint PRIMARY KEY
        REFERENCES chat_message(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    room_id varchar(64) NOT NULL,
    agent_id uuid NOT NULL,
    document tsvector NOT NULL)"""
POSTGRES_INDEX = (
    "CREATE INDEX IF NOT EXISTS chat_message_search_document_idx ON chat_message_search USING gin (document)"
)
POSTGRES_FILL_ROW = (
    "INSERT INTO chat_message_search (message_id, room_id, agent_id, document) "
    "VALUES (%s, %s, %s, to_tsvector('simple', %s)) ON CONFLICT DO NOTHING"
)
POSTGRES_DROP = ["DROP TABLE IF EXISTS chat_message_search"]


def _document(content):
    """The folded words one space apart, as search folded them when this migration was written."""
    words = []
    for word in re.findall(r"[^\W_]+", content):
        if word.isascii():
            words.append(word.lower())
        else:
            decomposed = unicodedata.normalize("NFD", word.lower())
            words.append("".join(char for char in decomposed if not unicodedata.combining(char)))
    return " ".join(words)


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'chat_message_fts'")
            existed = cursor.fetchone() is not None
            cursor.execute(SQLITE_TABLE)
            for statement in SQLITE_TRIGGERS:
                cursor.execute(statement)
            if not existed:
                cursor.execute(SQLITE_FILL)
        elif connection.vendor == "postgresql":
            cursor.execute("SELECT to_regclass('chat_message_search') IS NOT NULL")
            existed = cursor.fetchone()[0]
            cursor.execute(POSTGRES_TABLE)
            cursor.execute(POSTGRES_INDEX)
            if not existed:
                cursor.execute("SELECT id, room_id, agent_id, content FROM chat_message WHERE NOT hidden ORDER BY id")
                rows = [(pk, room, agent, _document(content)) for pk, room, agent, content in cursor.fetchall()]
                cursor.executemany(POSTGRES_FILL_ROW, rows)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class Migration(migrations.Migration):
    initial = True
    dependencies = [("chat", "0006_group_counts")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
