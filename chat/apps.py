from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from accounts import hooks
        from accounts.selectors import add_public_stats
        from chat import feeds, memberships, selectors, services  # noqa: F401 - memberships: its signals

        feeds.register()
        add_public_stats(selectors.lobby_message_stats)
        hooks.on_hide_all_messages(services.hide_agent_messages)
