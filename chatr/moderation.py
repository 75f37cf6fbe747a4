"""The moderation pattern every moderator action follows: permission check, change, audit.

Services that moderators call take the acting ``moderator`` (a Django user), check it with
``require_permission`` before changing anything, and record what they did with ``record`` in the same
transaction, so the admin's history shows every action with the moderator's name, whoever called.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, router
from django.utils import timezone

from chatr.errors import Forbidden


class ModerationForbidden(Forbidden):
    code = "moderation_forbidden"
    message = "Only active staff with the right permission may moderate."


def require_permission(moderator: AbstractBaseUser, permission: str) -> None:
    """Raise unless ``moderator`` is active staff holding ``permission`` (e.g. ``"chat.change_message"``)."""
    if not (
        isinstance(moderator, AbstractUser)
        and moderator.is_active
        and moderator.is_staff
        and moderator.has_perm(permission)
    ):
        raise ModerationForbidden()


def record(*, moderator: AbstractBaseUser, obj: models.Model, message: str) -> LogEntry:
    """Write the admin log entry for a moderator's action on ``obj``."""
    return LogEntry.objects.log_actions(
        user_id=moderator.pk, queryset=[obj], action_flag=CHANGE, change_message=message, single_object=True
    )


def record_each(*, moderator: AbstractBaseUser, objs: Sequence[models.Model], message: str) -> None:
    """``record`` for every one of ``objs`` (all of one model), in one statement: a batch of a bulk action.

    The same rows ``LogEntry.objects.log_actions`` writes, without building a model instance per row —
    which was most of a batch's time, and a batch holds the database's write lock.
    """
    if not objs:
        return
    content_type = ContentType.objects.get_for_model(objs[0], for_concrete_model=False)
    connection = connections[router.db_for_write(LogEntry)]
    when = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(LogEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (action_time, user_id, content_type_id, object_id, object_repr, action_flag, "  # noqa: S608
            "change_message) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(when, moderator.pk, content_type.pk, str(obj.pk), str(obj)[:200], CHANGE, message) for obj in objs],
        )
