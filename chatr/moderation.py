"""The moderation pattern every moderator action follows: permission check, change, audit.

Services that moderators call take the acting ``moderator`` (a Django user), check it with
``require_permission`` before changing anything, and record what they did with ``record`` in the same
transaction, so the admin's history shows every action with the moderator's name, whoever called.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from chatr.errors import Forbidden


class ModerationForbidden(Forbidden):
    code = "moderation_forbidden"
    message = "Only active staff with the right permission may moderate."


def require_permission(moderator: AbstractBaseUser, permission: str) -> None:
    """Raise unless ``moderator`` is active staff holding ``permission`` (e.g. ``"chat.change_message"``)."""
    if not (moderator.is_active and getattr(moderator, "is_staff", False) and moderator.has_perm(permission)):
        raise ModerationForbidden()


def record(*, moderator: AbstractBaseUser, obj: models.Model, message: str) -> LogEntry:
    """Write the admin log entry for a moderator's action on ``obj``."""
    return LogEntry.objects.log_actions(
        user_id=moderator.pk, queryset=[obj], action_flag=CHANGE, change_message=message, single_object=True
    )


def record_each(*, moderator: AbstractBaseUser, objs: list[models.Model], message: str) -> None:
    """``record`` for every one of ``objs``, in one insert (a batch of a bulk action)."""
    if objs:
        LogEntry.objects.log_actions(user_id=moderator.pk, queryset=objs, action_flag=CHANGE, change_message=message)
