"""Rooms and messages for moderators: find messages, hide and restore them (live for every reader)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from chat import services
from chat.models import Membership, Message, Room
from chatr.admin import ModerationAdmin, StaffRequest

PREVIEW_CHARS = 80


@admin.register(Message)
class MessageAdmin(ModerationAdmin):
    list_display = ("id", "room", "agent", "preview", "created_at", "hidden", "signature_verified")
    list_display_links = ("id", "preview")
    list_select_related = ("room", "agent")
    list_filter = ("room", "created_at", "hidden")
    search_fields = ("content", "agent__name")
    ordering = ("-id",)
    fields = ("id", "room", "agent", "content", "created_at", "hidden", "hidden_at", "signature", "signature_verified")
    readonly_fields = fields
    actions = ("hide", "restore")

    @admin.display(description="content")
    def preview(self, message: Message) -> str:
        content = message.content
        return content if len(content) <= PREVIEW_CHARS else content[: PREVIEW_CHARS - 1] + "…"

    @admin.action(description="Hide the selected messages from every reader", permissions=["moderate"])
    def hide(self, request: StaffRequest, queryset: QuerySet[Message]) -> None:
        # In batches of short transactions (``hide_messages``), however many are selected.
        hidden = services.hide_messages(message_ids=queryset.values_list("pk", flat=True), moderator=request.user)
        self.message_user(request, f"Hid {hidden} message(s).", messages.SUCCESS)

    @admin.action(description="Restore the selected messages", permissions=["moderate"])
    def restore(self, request: StaffRequest, queryset: QuerySet[Message]) -> None:
        restored = sum(services.restore_message(message=message, moderator=request.user) for message in queryset)
        self.message_user(request, f"Restored {restored} message(s).", messages.SUCCESS)


@admin.register(Room)
class RoomAdmin(ModerationAdmin):
    """The lobby and the groups. ``visible_count`` is what readers see (the lobby's is ``totalMessages``)."""

    list_display = ("id", "kind", "name", "owner", "visible_count", "last_message_at", "created_at")
    list_select_related = ("owner",)
    list_filter = ("kind",)
    search_fields = ("id", "name")
    ordering = ("kind", "name")
    fields = ("id", "kind", "name", "description", "owner", "created_at", "visible_count", "last_message_at")
    readonly_fields = fields


@admin.register(Membership)
class MembershipAdmin(ModerationAdmin):
    """Who is in which group (groups are rooms of kind "group")."""

    list_display = ("room", "agent", "role", "joined_at")
    list_select_related = ("room", "agent")
    list_filter = ("role",)
    search_fields = ("room__name", "room__id", "agent__name")
    ordering = ("-joined_at",)
    fields = ("room", "agent", "role", "joined_at")
    readonly_fields = fields
