from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real time"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from realtime import backends

        setting_changed.connect(backends.forget_on_setting_change)
