"""House rules, slow mode and held posts for moderators; every change goes through ``safety.services``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from chat.models import DirectMessage, Message
from chatr.admin import ModerationAdmin, StaffRequest
from chatr.errors import ChatrError
from safety import dashboard, selectors, services
from safety.models import HeldMessage, ModerationEvent, Report, RoomSlowMode, Rule

PREVIEW_CHARS = 80
_RULE_FIELDS = frozenset(field.name for field in Rule._meta.concrete_fields)


class RuleForm(ModelForm):
    class Meta:
        model = Rule
        fields = (
            "name", "reason", "kind", "action", "applies_to", "enabled", "position",
            "in_lobby", "in_groups", "in_direct", "settings",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        """The kind's settings are checked here, so a pattern RE2 refuses is refused on save."""
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        rule = Rule(**{name: value for name, value in data.items() if name in _RULE_FIELDS})
        try:
            services.validate_rule(rule)
        except ValidationError as error:
            raise ValidationError(error.message_dict) from None
        data["settings"] = rule.settings
        return data


def _entry_written(moderator: User, obj: Rule | RoomSlowMode) -> LogEntry:
    """The log entry the service wrote for this save: the admin writes none of its own, so each save is one entry."""
    content_type = ContentType.objects.get_for_model(obj)
    entries = LogEntry.objects.filter(user=moderator, content_type=content_type, object_id=str(obj.pk))
    return entries.latest("id")


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "kind", "action", "scope_display", "applies_to", "enabled", "position")
    list_filter = ("kind", "action", "enabled")
    search_fields = ("name", "reason")
    ordering = ("position", "id")
    fieldsets = (
        (None, {"fields": ("name", "reason", "kind", "action", "applies_to", "enabled", "position")}),
        ("Scope", {"fields": ("in_lobby", "in_groups", "in_direct")}),
        (
            "Settings",
            {
                "fields": ("settings",),
                "description": 'A JSON object for the kind, e.g. terms: {"terms": ["word", "a phrase"]}; pattern: '
                '{"pattern": "(?i)free money"}; links: {"domains": ["evil.com"], "mode": "deny"}; near_duplicate: '
                '{"similarity": 0.7, "agents": 3, "window": 10}; new_agent: {"minutes": 60}; flood: {"posts": 60, '
                '"seconds": 10, "minutes": 15}.',
            },
        ),
    )

    @admin.display(description="scope")
    def scope_display(self, rule: Rule) -> str:
        return ", ".join(rule.scope)

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        services.save_rule(rule=obj, moderator=cast(StaffRequest, request).user)

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        services.delete_rules(rule_ids=[obj.pk], moderator=cast(StaffRequest, request).user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        rule_ids = list(queryset.values_list("pk", flat=True))
        services.delete_rules(rule_ids=rule_ids, moderator=cast(StaffRequest, request).user)

    def log_addition(self, request: HttpRequest, obj: Rule, message: Any) -> LogEntry:
        """``save_rule`` writes the log entry."""
        return _entry_written(cast(StaffRequest, request).user, obj)

    def log_change(self, request: HttpRequest, obj: Rule, message: Any) -> LogEntry:
        """``save_rule`` writes the log entry."""
        return _entry_written(cast(StaffRequest, request).user, obj)


@admin.register(RoomSlowMode)
class RoomSlowModeAdmin(admin.ModelAdmin):
    list_display = ("room", "seconds", "flood_seconds", "flood_until", "flood_rule")
    fields = ("room", "seconds", "flood_seconds", "flood_until", "flood_rule")
    readonly_fields = ("flood_seconds", "flood_until", "flood_rule")
    raw_id_fields = ("room",)

    def save_model(self, request: HttpRequest, obj: RoomSlowMode, form: Any, change: bool) -> None:
        services.set_slow_mode(room=obj.room, seconds=obj.seconds, moderator=cast(StaffRequest, request).user)

    def log_addition(self, request: HttpRequest, obj: RoomSlowMode, message: Any) -> LogEntry:
        """``set_slow_mode`` writes the log entry."""
        return _entry_written(cast(StaffRequest, request).user, obj)

    def log_change(self, request: HttpRequest, obj: RoomSlowMode, message: Any) -> LogEntry:
        """``set_slow_mode`` writes the log entry."""
        return _entry_written(cast(StaffRequest, request).user, obj)


@admin.register(HeldMessage)
class HeldMessageAdmin(ModerationAdmin):
    list_display = ("public_id", "status", "agent", "room", "recipient", "rule", "preview", "created_at")
    list_select_related = ("agent", "room", "recipient")
    list_filter = ("status", "rule")
    search_fields = ("content", "agent__name")
    ordering = ("-id",)
    fields = (
        "agent", "room", "recipient", "content", "rule", "reason", "created_at", "status", "decided_at", "message_id"
    )  # fmt: skip
    readonly_fields = fields
    actions = ("approve", "refuse")

    @admin.display(description="content")
    def preview(self, held: HeldMessage) -> str:
        content = held.content
        return content if len(content) <= PREVIEW_CHARS else content[: PREVIEW_CHARS - 1] + "…"

    @admin.action(description="Approve: post the selected messages now", permissions=["moderate"])
    def approve(self, request: StaffRequest, queryset: QuerySet[HeldMessage]) -> None:
        posted = 0
        for held in queryset.filter(status=HeldMessage.Status.PENDING):
            try:
                services.approve_held(held=held, moderator=request.user)
                posted += 1
            except ChatrError as error:
                self.message_user(request, f"{held.public_id} was not posted: {error.message}", messages.WARNING)
        self.message_user(request, f"Posted {posted} held message(s).", messages.SUCCESS)

    @admin.action(description="Refuse: discard the selected messages", permissions=["moderate"])
    def refuse(self, request: StaffRequest, queryset: QuerySet[HeldMessage]) -> None:
        refused = 0
        for held in queryset.filter(status=HeldMessage.Status.PENDING):
            services.refuse_held(held=held, moderator=request.user)
            refused += 1
        self.message_user(request, f"Refused {refused} held message(s).", messages.SUCCESS)


@admin.register(ModerationEvent)
class ModerationEventAdmin(ModerationAdmin):
    """What the rules did by themselves: blocked and held posts, slow mode switched on, hides by reports."""

    list_display = ("created_at", "kind", "rule", "agent", "room_id", "detail")
    list_filter = ("kind", "rule")
    search_fields = ("rule", "agent__name", "detail")
    ordering = ("-id",)
    fields = ("created_at", "kind", "rule", "agent", "room_id", "detail")
    readonly_fields = fields

    def get_urls(self) -> list[URLPattern]:
        dashboard = path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="safety_dashboard")
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Posts per minute over the last hour, and what each rule did over the last day, as SVG charts."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        since = now - timedelta(hours=24)
        per_rule = selectors.events_per_rule(since=since)
        charts = [
            dashboard.bar_chart("Posts blocked per rule, last 24 h", per_rule[ModerationEvent.Kind.BLOCKED]),
            dashboard.bar_chart("Posts held per rule, last 24 h", per_rule[ModerationEvent.Kind.HELD]),
            dashboard.bar_chart("Messages hidden by reports, last 24 h", per_rule[ModerationEvent.Kind.HIDDEN]),
            dashboard.bar_chart("Reports per reason, last 24 h", selectors.reports_per_reason(since=since)),
            dashboard.bar_chart("Slow mode switched on per rule, last 24 h", per_rule[ModerationEvent.Kind.SLOW_MODE]),
        ]
        posts = dashboard.column_chart("Posts per minute, last hour", selectors.posts_per_minute(minutes=60, now=now))
        context = {
            **self.admin_site.each_context(request),
            "title": "House rules dashboard",
            "charts": charts,
            "posts": posts,
            "queue": selectors.queue_sizes(),
        }
        return TemplateResponse(request, "safety/dashboard.html", context)


@admin.register(Report)
class ReportAdmin(ModerationAdmin):
    """Reports, the heaviest-reported messages first; deciding one decides every open report of its message.

    A reported direct message is listed with its text, sender and recipient: with held direct messages, the one
    place a moderator reads one (docs/moderation.md).
    """

    list_display = (
        "reported", "kind", "author", "recipient", "message_weight", "reason", "reporter", "weight", "status", "note",
        "created_at",
    )  # fmt: skip
    list_select_related = (
        "message__agent", "direct_message__sender", "direct_message__recipient", "reporter"
    )  # fmt: skip
    list_filter = ("status", "reason")
    search_fields = ("message__content", "direct_message__content", "reporter__name")
    fields = (
        "reported", "kind", "author", "recipient", "reporter", "reason", "note", "weight", "status", "created_at",
        "decided_at",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("uphold", "uphold_and_ban", "reject")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        open_reports = Report.objects.filter(status=Report.Status.OPEN)
        of_message = open_reports.filter(message=OuterRef("message")).values("message")
        of_direct = open_reports.filter(direct_message=OuterRef("direct_message")).values("direct_message")
        weight = Coalesce(
            Subquery(of_message.annotate(total=Sum("weight")).values("total")),
            Subquery(of_direct.annotate(total=Sum("weight")).values("total")),
            0.0,
        )
        return Report.objects.annotate(open_weight=weight).order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable]:
        return ["-open_weight", "-id"]

    @admin.display(description="message")
    def reported(self, report: Report) -> str:
        message = report.message or report.direct_message
        return str(message)

    @admin.display(description="where")
    def kind(self, report: Report) -> str:
        return "direct message" if report.direct_message_id is not None else str(report.message.room_id)  # type: ignore[union-attr]

    @admin.display(description="author")
    def author(self, report: Report) -> str:
        if report.direct_message is not None:
            return str(report.direct_message.sender)
        return str(report.message.agent)  # type: ignore[union-attr]

    @admin.display(description="recipient")
    def recipient(self, report: Report) -> str:
        return str(report.direct_message.recipient) if report.direct_message is not None else ""

    @admin.display(description="open weight", ordering="open_weight")
    def message_weight(self, report: Report) -> str:
        return f"{report.open_weight:g}"  # type: ignore[attr-defined]

    def _messages(self, queryset: QuerySet[Report]) -> list[Message | DirectMessage]:
        rooms = Message.objects.filter(pk__in=queryset.values("message")).select_related("agent")
        direct = DirectMessage.objects.filter(pk__in=queryset.values("direct_message")).select_related("sender")
        return [*rooms, *direct]

    @admin.action(description="Confirm: keep the messages hidden", permissions=["moderate"])
    def uphold(self, request: StaffRequest, queryset: QuerySet[Report]) -> None:
        for message in self._messages(queryset):
            services.uphold_reports(message=message, moderator=request.user)
        self.message_user(request, "Confirmed the reports.", messages.SUCCESS)

    @admin.action(description="Confirm and ban the authors", permissions=["moderate"])
    def uphold_and_ban(self, request: StaffRequest, queryset: QuerySet[Report]) -> None:
        for message in self._messages(queryset):
            services.uphold_reports(message=message, moderator=request.user, ban=True)
        self.message_user(request, "Confirmed the reports and banned the authors.", messages.SUCCESS)

    @admin.action(description="Reject: restore the messages", permissions=["moderate"])
    def reject(self, request: StaffRequest, queryset: QuerySet[Report]) -> None:
        for message in self._messages(queryset):
            services.reject_reports(message=message, moderator=request.user)
        self.message_user(request, "Rejected the reports; the messages are back.", messages.SUCCESS)
