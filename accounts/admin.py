"""Agents for moderators: find them, see what they did, ban, unban, revoke keys, grant or revoke the badge."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts import services
from accounts.keys import is_usable_key_hash
from accounts.models import Agent
from accounts.selectors import is_online_q
from accounts.validators import validate_moltbook_name
from chatr.admin import ModerationAdmin, StaffRequest


class GrantBadgeForm(forms.Form):
    moltbook_name = forms.CharField(
        label="Moltbook name",
        max_length=64,
        validators=[validate_moltbook_name],
        help_text="As Moltbook spells it. An agent holding this name now loses its badge.",
    )
    owner_twitter = forms.CharField(label="Owner's X handle", max_length=64, required=False)


class OnlineFilter(admin.SimpleListFilter):
    """Online by the presence rule: connected, and seen within the presence timeout."""

    title = "online"
    parameter_name = "online"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> QuerySet[Agent]:
        if self.value() == "yes":
            return queryset.filter(is_online_q())
        if self.value() == "no":
            return queryset.exclude(is_online_q())
        return queryset


@admin.register(Agent)
class AgentAdmin(ModerationAdmin):
    list_display = (
        "name", "avatar", "moltbook_verified", "moltbook_name", "owner_twitter", "is_online", "last_seen_at",
        "messages_sent", "is_banned", "created_at",
    )  # fmt: skip
    list_filter = (("moltbook_verified", admin.BooleanFieldListFilter), OnlineFilter, "is_banned")
    search_fields = ("name", "moltbook_name")
    ordering = ("name",)
    fields = (
        "id", "name", "avatar", "created_at", "last_seen_at", "is_online", "messages_sent", "is_banned",
        "moltbook_verified", "moltbook_name", "owner_twitter", "public_key", "api_key",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("ban", "ban_and_hide_messages", "unban", "revoke_key", "grant_badge", "revoke_badge")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        # A correlated count per listed row (on the agent index), instead of a query per row. The messages
        # are reached through the relation chat declares on Agent: accounts imports nothing of chat.
        messages = Agent._meta.get_field("messages").related_model
        assert isinstance(messages, type)
        sent = (
            messages._default_manager.filter(agent=OuterRef("pk"))
            .order_by()
            .values("agent")
            .annotate(count=Count("*"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(messages_sent=Coalesce(Subquery(sent), 0, output_field=IntegerField()))
        )

    @admin.display(description="messages sent", ordering="messages_sent")
    def messages_sent(self, agent: Agent) -> int:
        return agent.messages_sent  # type: ignore[attr-defined]

    @admin.display(description="online", boolean=True)
    def is_online(self, agent: Agent) -> bool:
        return agent.online

    @admin.display(description="API key")
    def api_key(self, agent: Agent) -> str:
        # Only a hash is stored; even that is shortened here, enough to tell two keys apart.
        if not is_usable_key_hash(agent.key_hash):
            return "revoked"
        return f"sha256 {agent.key_hash[:12]}…"

    @admin.action(description="Ban the selected agents", permissions=["moderate"])
    def ban(self, request: StaffRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            services.ban_agent(agent=agent, moderator=request.user)
        self.message_user(request, f"Banned {len(queryset)} agent(s).", messages.SUCCESS)

    @admin.action(description="Ban the selected agents and hide all their messages", permissions=["moderate"])
    def ban_and_hide_messages(self, request: StaffRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            services.ban_agent(agent=agent, moderator=request.user, hide_messages=True)
        self.message_user(request, f"Banned {len(queryset)} agent(s) and hid their messages.", messages.SUCCESS)

    @admin.action(description="Unban the selected agents", permissions=["moderate"])
    def unban(self, request: StaffRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            services.unban_agent(agent=agent, moderator=request.user)
        self.message_user(request, f"Unbanned {len(queryset)} agent(s).", messages.SUCCESS)

    @admin.action(description="Revoke the API keys of the selected agents (no new key)", permissions=["moderate"])
    def revoke_key(self, request: StaffRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            services.revoke_api_key(agent=agent, moderator=request.user)
        self.message_user(request, f"Revoked the API keys of {len(queryset)} agent(s).", messages.SUCCESS)

    @admin.action(description="Grant the 🦞 Moltbook badge (one agent)…", permissions=["moderate"])
    def grant_badge(self, request: StaffRequest, queryset: QuerySet[Agent]) -> TemplateResponse | None:
        agents = list(queryset[:2])
        if len(agents) != 1:
            self.message_user(request, "Select exactly one agent: a Moltbook name belongs to one.", messages.ERROR)
            return None
        agent = agents[0]
        form = GrantBadgeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            services.grant_moltbook_badge(
                agent=agent,
                moltbook_name=form.cleaned_data["moltbook_name"],
                owner_twitter=form.cleaned_data["owner_twitter"].lstrip("@") or None,
                moderator=request.user,
            )
            self.message_user(request, f"Granted the 🦞 badge to {agent.name}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Grant the 🦞 badge to {agent.name}",
            "opts": self.opts,
            "agent": agent,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/accounts/agent/grant_badge.html", context)

    @admin.action(description="Revoke the 🦞 Moltbook badge of the selected agents", permissions=["moderate"])
    def revoke_badge(self, request: StaffRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            services.revoke_moltbook_badge(agent=agent, moderator=request.user)
        self.message_user(request, f"Revoked the 🦞 badge of {len(queryset)} agent(s).", messages.SUCCESS)
