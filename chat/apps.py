from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from accounts.selectors import add_public_stats
        from chat import feeds, selectors

        feeds.register()
        add_public_stats(selectors.lobby_message_stats)
