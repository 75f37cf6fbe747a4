"""What chat tells other apps about room messages leaving or coming back, without knowing who listens.

Sent inside the writing transaction, so a receiver's writes (the search index on PostgreSQL) commit or
roll back with the change itself. A new message needs no signal of chat's own: Django's ``post_save``
with ``created=True`` says it.
"""

from django.dispatch import Signal

# messages: list[Message], hidden by a moderator in this transaction.
messages_hidden = Signal()
# messages: list[Message], restored by a moderator in this transaction.
messages_restored = Signal()
