"""The moderators' admin site: Django's, with failed logins limited per client IP (contract §8).

Model admins here are read-only views: a moderator changes things only through actions, and every
action calls a service that checks the permission, makes the change, broadcasts it and writes the log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from chatr import ratelimits

LOGIN_FAILURES = "admin_login_failures_per_ip"


class StaffRequest(HttpRequest):
    """A request inside the admin site, for annotations: the site lets only signed-in staff reach a view or
    an action, so ``user`` is a Django user and never ``AnonymousUser``."""

    user: User


class ChatrAdminSite(admin.AdminSite):
    site_header = "chatr moderation"
    site_title = "chatr moderation"
    index_title = "Moderation"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        from django.contrib.admin.models import LogEntry

        self.register(LogEntry, LogEntryAdmin)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Count failed logins per client IP; once the limit is reached, refuse before checking any password."""
        if request.method != "POST":
            return super().login(request, extra_context)
        client_ip = request.client_ip  # type: ignore[attr-defined]
        try:
            ratelimits.check(LOGIN_FAILURES, client_ip)
        except ratelimits.RateLimited as limited:
            return too_many_failures(limited)
        response = super().login(request, extra_context)
        if not isinstance(response, HttpResponseRedirect):  # only a successful login redirects
            try:
                ratelimits.consume(LOGIN_FAILURES, client_ip)
            except ratelimits.RateLimited as limited:  # lost a race with a parallel attempt
                return too_many_failures(limited)
        return response


def too_many_failures(limited: ratelimits.RateLimited) -> HttpResponse:
    message = f"Too many failed logins from this address. Try again in {limited.usage.retry_after} seconds.\n"
    return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8", headers=limited.headers())


class ModerationAdmin(admin.ModelAdmin):
    """A read-only admin whose actions (``allowed_permissions = ("moderate",)``) go through services.

    Adding, editing and deleting rows directly is off for everyone, superusers included: those would
    skip the services' rules, broadcasts and counters.
    """

    show_full_result_count = False  # one COUNT per page, not two, on big tables

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        """Moderating a model needs Django's change permission on it."""
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")


class LogEntryAdmin(admin.ModelAdmin):
    """The audit log: who did what to which object, and when."""

    list_display = ("action_time", "user", "content_type", "object_repr", "get_change_message")
    list_filter = ("action_time", "content_type")
    search_fields = ("object_repr", "change_message", "user__username")
    list_select_related = ("user", "content_type")
    date_hierarchy = "action_time"
    ordering = ("-action_time",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
