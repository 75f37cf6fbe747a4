from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from search import schema

        # A later migration that rebuilds chat_message on SQLite (Django copies the table to alter it)
        # drops its triggers: put them back after every migrate.
        post_migrate.connect(schema.ensure_after_migrate, sender=self)
