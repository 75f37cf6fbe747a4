from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from chat import message_signals
        from chat.models import Message
        from search import index, schema

        # Search listens to chat; chat never calls search (its writes do not know the index exists).
        post_save.connect(index.message_saved, sender=Message, dispatch_uid="search.index.message_saved")
        message_signals.messages_inserting.connect(
            index.messages_inserting, dispatch_uid="search.index.messages_inserting"
        )
        message_signals.messages_hidden.connect(index.messages_hidden, dispatch_uid="search.index.messages_hidden")
        message_signals.messages_restored.connect(
            index.messages_restored, dispatch_uid="search.index.messages_restored"
        )
        # A later migration that rebuilds chat_message on SQLite (Django copies the table to alter it)
        # drops its triggers: put them back after every migrate.
        post_migrate.connect(schema.ensure_after_migrate, sender=self)
