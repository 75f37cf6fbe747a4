"""The full-text search index of contract §12: FTS5 on SQLite, tsvector + GIN on PostgreSQL (search.schema)."""

from django.db import migrations


def install(apps, schema_editor):
    from search import schema

    schema.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from search import schema

    schema.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_conversations")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
