"""Once the search index's migration; search's own migrations create the index now (search 0001).

Kept as an empty step so the migration graph of every existing database stays valid: databases that
ran it before hold the index it made, and search 0001 leaves an existing index as it is.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_conversations")]

    operations = []
