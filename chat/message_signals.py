"""What chat tells other apps about room messages leaving or coming back, without knowing who listens.

Sent inside the writing transaction, so a receiver's writes (the search index on PostgreSQL) commit or
roll back with the change itself. A message the writer stores (one INSERT, no ``Model.save``) is announced
by ``messages_posted``; one saved through the ORM by Django's ``post_save`` with ``created=True``.
"""

from django.dispatch import Signal

# messages: list[Message], stored by the writer in this transaction.
messages_posted = Signal()
# messages: list[Message], hidden by a moderator in this transaction.
messages_hidden = Signal()
# messages: list[Message], restored by a moderator in this transaction.
messages_restored = Signal()
