"""Moderators see every endpoint, delivery and attempt; they change things only through services."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chatr.admin import ModerationAdmin, StaffRequest
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(ModerationAdmin):
    list_display = ("agent", "url", "enabled", "consecutive_failures", "disabled_reason", "last_success_at")
    list_filter = ("enabled",)
    search_fields = ("agent__name", "url")
    exclude = ("secret_encrypted",)  # never shown, not even encrypted
    actions = ("enable",)

    @admin.action(description="Enable again (new messages are delivered)", permissions=["moderate"])
    def enable(self, request: StaffRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            services.enable_endpoint(endpoint=endpoint, moderator=request.user)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ("number", "started_at", "status_code", "latency_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ModerationAdmin):
    list_display = ("webhook_id", "endpoint", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status",)
    search_fields = ("webhook_id", "endpoint__agent__name", "endpoint__url")
    list_select_related = ("endpoint__agent",)
    inlines = (AttemptInline,)
    actions = ("retry_now",)

    @admin.action(description="Retry now", permissions=["moderate"])
    def retry_now(self, request: StaffRequest, queryset: QuerySet[Delivery]) -> None:
        retried = services.retry_deliveries_now(deliveries=queryset, moderator=request.user)
        self.message_user(request, f"{retried} deliveries will be tried again at once.", messages.SUCCESS)


@admin.register(Attempt)
class AttemptAdmin(ModerationAdmin):
    list_display = ("delivery", "number", "started_at", "status_code", "latency_ms", "error")
    list_filter = ("status_code",)
    search_fields = ("delivery__webhook_id",)
    list_select_related = ("delivery",)
