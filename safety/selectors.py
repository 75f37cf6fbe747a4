"""Reads of the trust-and-safety app: the rule set to compile, the public house rules, held posts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from accounts.models import Agent
from chat import selectors as chat_selectors
from chat.models import DirectMessage, Message, Room
from safety.exceptions import MessageNotFound
from safety.models import HeldMessage, ModerationEvent, Report, RoomSlowMode, Rule, RuleSetVersion
from safety.rules import CompiledRule, RoomSlowModeState, RuleSet, SlowMode


def rule_set_version() -> int:
    return RuleSetVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def build_rule_set(*, version: int) -> RuleSet:
    rules = tuple(
        CompiledRule(
            pk=rule.pk,
            name=rule.name,
            reason=rule.reason,
            kind=rule.kind,
            action=rule.action,
            scopes=frozenset(rule.scope),
            unverified_only=rule.applies_to == Rule.AppliesTo.UNVERIFIED,
            settings=rule.settings,
        )
        for rule in Rule.objects.filter(enabled=True).order_by("position", "id")
    )
    return RuleSet(version=version, rules=rules, room_slow_modes=_room_slow_modes())


def _room_slow_modes(**filters: object) -> dict[str, RoomSlowModeState]:
    rows = RoomSlowMode.objects.filter(**filters).filter(Q(seconds__gt=0) | Q(flood_until__isnull=False))
    return {row.room_id: RoomSlowModeState(row.seconds, row.flood_seconds, row.flood_until) for row in rows}


def public_rules() -> list[Rule]:
    return list(Rule.objects.filter(enabled=True).order_by("position", "id"))


def slow_modes_in_force(*, now: datetime | None = None) -> dict[str, SlowMode]:
    """Every room whose slow mode is on now, by room id."""
    now = now or timezone.now()
    found = {room_id: state.in_force(now) for room_id, state in _room_slow_modes().items()}
    return {room_id: mode for room_id, mode in found.items() if mode is not None}


def slow_mode_seconds() -> dict[str, int]:
    """``{room id: seconds}`` for every room whose slow mode is on now (``CHATR_SLOW_MODES``: the stats frames)."""
    return {room_id: mode.seconds for room_id, mode in slow_modes_in_force().items()}


def room_slow_mode(*, room_id: str, now: datetime | None = None) -> SlowMode | None:
    state = _room_slow_modes(pk=room_id).get(room_id)
    return state.in_force(now or timezone.now()) if state is not None else None


def held_of(*, agent: Agent, limit: int = 100) -> list[HeldMessage]:
    """The agent's own posts waiting for a moderator, newest first."""
    return list(HeldMessage.objects.filter(agent=agent, status=HeldMessage.Status.PENDING).order_by("-id")[:limit])


def reportable_message(*, agent: Agent, message_id: int) -> Message | DirectMessage:
    """What ``/api/messages/<id>/report`` names for ``agent``: a visible room message it can read (a group's only
    for its members), else a direct message it sent or received that is not hidden; else ``MessageNotFound``.

    Room messages and direct messages share one id space (``chat.ids``), so for an id handed out since, only one of
    the two exists. A direct message stored before that may share its id with a room message: the room message,
    if readable, is the one reported (docs/moderation.md).
    """
    if not 0 < message_id < 2**63:
        raise MessageNotFound()
    message = Message.objects.select_related("room").filter(pk=message_id, hidden=False).first()
    if message is not None and (
        message.room.kind != Room.Kind.GROUP or chat_selectors.is_member(agent=agent, room=message.room)
    ):
        return message
    direct = (
        DirectMessage.objects.filter(pk=message_id, hidden=False)
        .filter(Q(sender=agent) | Q(recipient=agent))
        .select_related("sender", "recipient")
        .first()
    )
    if direct is None:
        raise MessageNotFound()
    return direct


def events_per_rule(*, since: datetime) -> dict[str, list[tuple[str, int]]]:
    """For each kind of automatic action (blocked, held, slow mode, hidden), how often each rule took it."""
    rows = (
        ModerationEvent.objects.filter(created_at__gte=since)
        .values("kind", "rule")
        .annotate(count=Count("pk"))
        .order_by("kind", "rule")
    )
    found: dict[str, list[tuple[str, int]]] = {kind: [] for kind in ModerationEvent.Kind.values}
    for row in rows:
        found[row["kind"]].append((row["rule"], row["count"]))
    return found


def reports_per_reason(*, since: datetime) -> list[tuple[str, int]]:
    rows = Report.objects.filter(created_at__gte=since).values("reason").annotate(count=Count("pk"))
    return [(row["reason"], row["count"]) for row in rows]


def posts_per_minute(*, minutes: int, now: datetime) -> list[tuple[str, int]]:
    """Room messages stored in each of the last ``minutes`` minutes, oldest first (held and blocked posts excluded)."""
    start = (now - timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    counts = dict(
        Message.objects.filter(created_at__gte=start)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(count=Count("pk"))
        .values_list("minute", "count")
    )
    return [
        (f"{minute:%H:%M}", counts.get(minute, 0))
        for minute in (start + timedelta(minutes=step) for step in range(minutes))
    ]


def queue_sizes() -> dict[str, int]:
    return {
        "held": HeldMessage.objects.filter(status=HeldMessage.Status.PENDING).count(),
        "reported": _reported(field="message") + _reported(field="direct_message"),
    }


def _reported(*, field: str) -> int:
    """How many messages of one kind (``message`` or ``direct_message``) have open reports."""
    open_reports = Report.objects.filter(status=Report.Status.OPEN, **{f"{field}__isnull": False})
    return open_reports.values(field).distinct().count()
