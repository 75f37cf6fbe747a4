from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from accounts import hooks
        from webhooks import services

        # A banned agent, or one whose key was revoked, is sent nothing more.
        hooks.on_key_stopped(services.stop_deliveries)
