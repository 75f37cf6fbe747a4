"""Every write of the trust-and-safety app, and the check every post passes (contract §13).

``check_post`` is the function ``settings.CHATR_POST_CHECK`` names: chat calls it before storing a post.
Moderators' changes (rules, slow mode, held posts) take the acting ``moderator`` and are audited like
chat's moderation; automatic actions are written to ``ModerationEvent`` with the rule's name.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Agent
from chat import events
from chat import services as chat_services
from chat.exceptions import PostHeld
from chat.models import DirectMessage, Message, Room
from chat.post_checks import Post
from chatr import moderation, ratelimits
from chatr.fields import has_control_characters
from realtime import api as realtime
from safety import near_duplicates, rule_cache, rules, selectors
from safety.exceptions import AlreadyReported, BlockedByRule, HeldNotPending, InvalidReport, SlowMode
from safety.kinds import clean_settings
from safety.models import HeldMessage, ModerationEvent, Report, RoomSlowMode, Rule, RuleSetVersion
from safety.rules import CompiledRule, Subject
from webhooks import services as webhook_services

HELD_KEEP = timedelta(days=7)
REPORT_NOTE_MAX_CHARS = 200
FLOOD_SECONDS = 60.0  # a flood rule counts the posts of the last minute

# --- the rule set ---------------------------------------------------------------------------------


def rule_set_changed() -> None:
    """Give the rule set a new version in the current transaction; every process rebuilds within a second."""
    RuleSetVersion.objects.update_or_create(pk=1, defaults={"version": secrets.randbits(62)})
    rule_cache.forget()
    transaction.on_commit(rule_cache.forget)


def validate_rule(rule: Rule) -> None:
    """Check a rule's fields and settings (filled in with their defaults); raises ``ValidationError``."""
    rule.settings = clean_settings(rule.kind, rule.settings)
    _refuse_control_characters(rule)
    rule.full_clean(validate_unique=False, validate_constraints=False)
    if not rule.scope:
        raise ValidationError({"in_lobby": ["A rule needs at least one scope: lobby, groups or direct messages."]})


def _refuse_control_characters(rule: Rule) -> None:
    """A NUL fails inside PostgreSQL (text and jsonb alike) and no post can hold a control character for a term or
    pattern to match, so they are refused here, for the admin and an import alike."""
    problems: dict[str, list[str]] = {}
    for field in ("name", "reason"):
        value = getattr(rule, field)
        if isinstance(value, str) and has_control_characters(value):
            problems[field] = ["Control characters are not allowed."]
    texts = [item for value in rule.settings.values() for item in (value if isinstance(value, list) else [value])]
    if any(isinstance(text, str) and has_control_characters(text) for text in texts):
        problems["settings"] = ["Control characters are not allowed."]
    if problems:
        raise ValidationError(problems)


def save_rule(*, rule: Rule, moderator: AbstractBaseUser) -> Rule:
    moderation.require_permission(moderator, "safety.change_rule")
    validate_rule(rule)
    with transaction.atomic():
        rule.updated_at = timezone.now()
        rule.save()
        rule_set_changed()
        moderation.record(moderator=moderator, obj=rule, message="Saved the rule.")
    return rule


def delete_rules(*, rule_ids: list[int], moderator: AbstractBaseUser) -> int:
    moderation.require_permission(moderator, "safety.delete_rule")
    with transaction.atomic():
        deleted, _ = Rule.objects.filter(pk__in=rule_ids).delete()
        rule_set_changed()
    return deleted


def set_slow_mode(*, room: Room, seconds: int, moderator: AbstractBaseUser) -> RoomSlowMode:
    """A moderator's slow mode for ``room`` (0 switches it off, a flood's included)."""
    moderation.require_permission(moderator, "safety.change_roomslowmode")
    with transaction.atomic():
        row, _ = RoomSlowMode.objects.get_or_create(room=room)
        row.seconds = seconds
        if seconds == 0:
            row.flood_seconds, row.flood_until, row.flood_rule = 0, None, ""
        row.save()
        rule_set_changed()
        moderation.record(moderator=moderator, obj=row, message=f"Set slow mode to {seconds} s.")
    return row


def _switch_flood_slow_mode(*, rule: CompiledRule, room_id: str) -> None:
    until = timezone.now() + timedelta(minutes=rule.settings["minutes"])
    with transaction.atomic():
        row, _ = RoomSlowMode.objects.select_for_update().get_or_create(room_id=room_id)
        row.flood_seconds, row.flood_until, row.flood_rule = rule.settings["seconds"], until, rule.name
        row.save()
        rule_set_changed()
        _event(kind=ModerationEvent.Kind.SLOW_MODE, rule=rule.name, room_id=room_id, detail=f"until {until:%H:%M:%S}Z")


# --- the check of every post ----------------------------------------------------------------------

_index: near_duplicates.Index | near_duplicates.RedisIndex | None = None
_index_lock = threading.Lock()


def _near_duplicate_index(near_rules: list[CompiledRule]) -> near_duplicates.Index | near_duplicates.RedisIndex:
    """The index, shaped for the lowest similarity and the longest window of the rules: in Redis when
    ``REDIS_URL`` is set (shared by every process), else in this process."""
    global _index
    rows = near_duplicates.rows_for(min(rule.settings["similarity"] for rule in near_rules))
    window = 60.0 * max(rule.settings["window"] for rule in near_rules)
    with _index_lock:
        if _index is None or _index.rows != rows:
            if settings.REDIS_URL:
                _index = near_duplicates.RedisIndex(
                    rows=rows, window_seconds=window, url=settings.REDIS_URL, timeouts=settings.REDIS_TIMEOUTS
                )
            else:
                _index = near_duplicates.Index(rows=rows, window_seconds=window)
        _index.window_seconds = max(_index.window_seconds, window)
        return _index


def check_post(*, post: Post, spend_allowance: Callable[[], None]) -> None:
    """Apply the house rules to a post before it is stored (``CHATR_POST_CHECK``).

    Blocks (``BlockedByRule``, nothing used), applies slow mode to what is not held (``SlowMode``),
    spends the allowance, then records the post for the flood and near-duplicate rules and, if a
    rule holds it, stores it for a moderator and raises ``PostHeld``.
    """
    rule_set = rule_cache.current()
    subject = Subject(scope=post.scope, verified=post.agent.moltbook_verified, content=post.content)
    applicable = rule_set.applicable(subject)
    now = timezone.now()
    if not applicable and (post.room_id is None or rule_set.slow_mode(post.room_id, now) is None):
        spend_allowance()  # the common case: nothing to check
        return
    near_rules = [rule for rule in applicable if rule.kind == Rule.Kind.NEAR_DUPLICATE]
    hashes = near_duplicates.word_set(post.content) if near_rules else None
    matched = _matching(rule_set, subject=subject, post=post, near_rules=near_rules, hashes=hashes, now=now)
    floods = [rule for rule in applicable if rule.kind == Rule.Kind.FLOOD] if post.room_id else []
    if _switch_on_floods(rule_set, floods=floods, room_id=post.room_id, now=now):
        rule_set = rule_cache.current()
    deciding = [rule for rule in applicable if rule.pk in matched and rule.kind != Rule.Kind.FLOOD]
    blocking = next((rule for rule in deciding if rule.action == Rule.Action.BLOCK), None)
    if blocking is not None:
        _event(kind=ModerationEvent.Kind.BLOCKED, rule=blocking.name, post=post)
        raise BlockedByRule(rule=blocking.name, reason=blocking.reason)
    holding = next((rule for rule in deciding if rule.action == Rule.Action.HOLD), None)
    slow = rule_set.slow_mode(post.room_id, now) if post.room_id and holding is None else None
    slow_key = f"slow:{post.room_id}:{post.agent.pk}"
    if slow is not None:
        free, usage = ratelimits.rolling_window(slow_key, limit=1, period=slow.seconds, increment=False)
        if not free:
            raise SlowMode(usage, seconds=slow.seconds)
    spend_allowance()
    # From here the post is made (stored or held): it counts for slow mode, floods and near-duplicates.
    if slow is not None:
        ratelimits.rolling_window(slow_key, limit=1, period=slow.seconds)
    for rule in floods:
        ratelimits.rolling_window(_flood_key(rule, post.room_id), limit=rule.settings["posts"], period=FLOOD_SECONDS)
    if hashes is not None and _index is not None:
        _index.add(scope=post.room_id or "direct", agent=str(post.agent.pk), hashes=hashes)
    if holding is not None:
        held = _hold(post=post, rule=holding)
        raise PostHeld(
            {"success": True, "held": {"id": held.public_id, "rule": holding.name, "reason": holding.reason}}
        )


def _matching(
    rule_set: rules.RuleSet,
    *,
    subject: Subject,
    post: Post,
    near_rules: list[CompiledRule],
    hashes: frozenset[int] | None,
    now: datetime,
) -> set[int]:
    """Primary keys of the applicable rules but floods that the post matches."""
    hosts = rules.hosts_of(post.content) if rule_set.needs_hosts(subject) else None
    matched = rule_set.content_matches(subject, hosts=hosts)
    if hashes is not None:
        index = _near_duplicate_index(near_rules)
        alike = index.alike(
            scope=post.room_id or "direct",
            agent=str(post.agent.pk),
            hashes=hashes,
            at_least=min(rule.settings["similarity"] for rule in near_rules),
        )
        seconds_now = time.time()
        for rule in near_rules:
            recent = seconds_now - 60 * rule.settings["window"]
            others = {
                item.agent for item in alike if item.similarity >= rule.settings["similarity"] and item.at >= recent
            }
            if len(others) >= rule.settings["agents"]:
                matched.add(rule.pk)
    if hosts or post.mentions:
        age = now - post.agent.created_at
        for rule in rule_set.of_kind(subject, Rule.Kind.NEW_AGENT):
            if age < timedelta(minutes=rule.settings["minutes"]):
                matched.add(rule.pk)
    return matched


def _flood_key(rule: CompiledRule, room_id: str | None) -> str:
    return f"flood:{rule.pk}:{room_id}"


def _switch_on_floods(
    rule_set: rules.RuleSet, *, floods: list[CompiledRule], room_id: str | None, now: datetime
) -> bool:
    """Switch slow mode on in the room if a flood rule's count is over (and no flood's is on); True if it did."""
    for rule in floods:
        below, _ = ratelimits.rolling_window(
            _flood_key(rule, room_id), limit=rule.settings["posts"], period=FLOOD_SECONDS, increment=False
        )
        if not below and room_id is not None and not rule_set.flood_in_force(room_id, now):
            _switch_flood_slow_mode(rule=rule, room_id=room_id)
            return True
    return False


def _hold(*, post: Post, rule: CompiledRule) -> HeldMessage:
    with transaction.atomic():
        held = HeldMessage.objects.create(
            agent=post.agent,
            room_id=post.room_id,
            recipient_id=post.recipient_id,
            content=post.content,
            signature=post.signature,
            reply_to=post.reply_to,
            rule=rule.name,
            reason=rule.reason,
        )
        _event(kind=ModerationEvent.Kind.HELD, rule=rule.name, post=post, detail=held.public_id)
    return held


def _event(*, kind: str, rule: str, post: Post | None = None, room_id: str = "", detail: str = "") -> None:
    ModerationEvent.objects.create(
        kind=kind,
        rule=rule,
        agent=post.agent if post else None,
        room_id=(post.room_id or "direct") if post else room_id,
        detail=detail or (post.content[:300] if post else ""),
    )


# --- held posts -----------------------------------------------------------------------------------


def approve_held(*, held: HeldMessage, moderator: AbstractBaseUser) -> int:
    """Post a held message now, as a new message with a new id and the approval time; returns its id.

    The author's ban, membership, signature and reply target are checked again: a post that can no
    longer be made raises that error and stays pending (refuse it instead).
    """
    moderation.require_permission(moderator, "safety.change_heldmessage")
    with transaction.atomic():
        held = HeldMessage.objects.select_for_update().get(pk=held.pk)
        if held.status != HeldMessage.Status.PENDING:
            raise HeldNotPending()
        message: Message | DirectMessage
        if (room := held.room) is not None:
            message = chat_services.post_room_message(
                agent=held.agent,
                room=room,
                content=held.content,
                signature=held.signature,
                reply_to=held.reply_to,
                approved=True,
            )
        else:
            assert held.recipient_id is not None  # a held post has a room or a recipient
            message = chat_services.send_direct_message(
                sender=held.agent,
                recipient_id=held.recipient_id,
                content=held.content,
                signature=held.signature,
                approved=True,
            )
        held.status, held.decided_at, held.message_id = HeldMessage.Status.APPROVED, timezone.now(), message.pk
        held.save(update_fields=["status", "decided_at", "message_id"])
        moderation.record(moderator=moderator, obj=held, message=f"Approved: posted as message {message.pk}.")
        _tell_author(held=held, approved=True)
    return message.pk


def refuse_held(*, held: HeldMessage, moderator: AbstractBaseUser) -> None:
    """Discard a held message: it is never posted."""
    moderation.require_permission(moderator, "safety.change_heldmessage")
    with transaction.atomic():
        if not HeldMessage.objects.filter(pk=held.pk, status=HeldMessage.Status.PENDING).update(
            status=HeldMessage.Status.REFUSED, decided_at=timezone.now()
        ):
            raise HeldNotPending()
        moderation.record(moderator=moderator, obj=held, message="Refused the held message.")
        _tell_author(held=held, approved=False)


def _tell_author(*, held: HeldMessage, approved: bool) -> None:
    """The author learns the decision: a ``held_decided`` frame on its inbox stream and, durably, its webhook."""
    notice: dict[str, Any] = {"heldId": held.public_id, "approved": approved}
    if approved:
        notice["messageId"] = str(held.message_id)
    realtime.publish_on_commit(realtime.inbox_channel(held.agent_id), events.held_decided_event(notice))
    payload = {"type": "held_decided", **notice, "timestamp": int(timezone.now().timestamp())}
    webhook_services.enqueue_deliveries(agent_ids=[held.agent_id], payload=payload)


def discard_stale_held() -> int:
    """Held messages undecided for 7 days are discarded (a worker job); returns how many."""
    return HeldMessage.objects.filter(
        status=HeldMessage.Status.PENDING, created_at__lt=timezone.now() - HELD_KEEP
    ).update(status=HeldMessage.Status.DISCARDED, decided_at=timezone.now())


# --- reports --------------------------------------------------------------------------------------

REPORTER_WEIGHT_VERIFIED = 1.0
REPORTER_WEIGHT_UNVERIFIED = 0.25


def reporter_weight(*, reporter: Agent) -> float:
    """🦞 verified 1, unverified 0.25; 0 for a reporter with ≥ 3 rejected reports and more rejected than upheld."""
    counts = Report.objects.filter(reporter=reporter).aggregate(
        rejected=Count("pk", filter=Q(status=Report.Status.REJECTED)),
        upheld=Count("pk", filter=Q(status=Report.Status.UPHELD)),
    )
    if counts["rejected"] >= 3 and counts["rejected"] > counts["upheld"]:
        return 0.0
    return REPORTER_WEIGHT_VERIFIED if reporter.moltbook_verified else REPORTER_WEIGHT_UNVERIFIED


def report_message(*, reporter: Agent, message_id: int, reason: object, note: object = None) -> Report:
    """Report a message, room or direct, checking (contract §13, in this order) that the reporter can read it (a
    direct message: that it is a party to it), that it is another's and the reason known, that it was not reported
    by them before, and the hourly limit.

    When the open reports' weights reach ``CHATR_REPORTS_TO_HOLD`` the message is hidden at once,
    pending a moderator's review.
    """
    message = selectors.reportable_message(agent=reporter, message_id=message_id)
    if _author_id(message) == reporter.pk:
        raise InvalidReport("You cannot report your own message.", field="messageId")
    if reason not in Report.Reason.values:
        raise InvalidReport(f"reason is one of {', '.join(Report.Reason.values)}.", field="reason")
    if note is not None and (not isinstance(note, str) or len(note) > REPORT_NOTE_MAX_CHARS):
        raise InvalidReport(f"note is a text of at most {REPORT_NOTE_MAX_CHARS} characters.", field="note")
    if note is not None and has_control_characters(note):
        # PostgreSQL cannot store NUL, and escape sequences would repaint a moderator's terminal.
        raise InvalidReport("note: Control characters are not allowed.", field="note")
    if _reports_of(message).filter(reporter=reporter).exists():
        raise AlreadyReported()
    ratelimits.consume("reports_per_agent", str(reporter.pk), message="You may report 20 messages an hour.")
    weight = reporter_weight(reporter=reporter)
    try:
        with transaction.atomic():
            # The message's row is locked, so concurrent reports add up: the last one sees them all.
            list(type(message).objects.select_for_update().filter(pk=message.pk).values_list("pk"))
            report = Report.objects.create(
                **_reported(message), reporter=reporter, reason=reason, note=note or "", weight=weight
            )
            total = _reports_of(message).filter(status=Report.Status.OPEN).aggregate(total=Sum("weight"))["total"]
            if total >= settings.CHATR_REPORTS_TO_HOLD and _hide_automatically(message):
                ModerationEvent.objects.create(
                    kind=ModerationEvent.Kind.HIDDEN,
                    rule="reports",
                    agent_id=_author_id(message),
                    room_id=message.room_id if isinstance(message, Message) else "",
                    detail=f"{_kind(message)} {message.pk}, reports weighing {total:g}",
                )
    except IntegrityError:
        raise AlreadyReported() from None
    return report


def _decide_open_reports(message: Message | DirectMessage, status: str) -> int:
    """Close the message's open reports with ``status``; how many there were."""
    return _reports_of(message).filter(status=Report.Status.OPEN).update(status=status, decided_at=timezone.now())


def uphold_reports(*, message: Message | DirectMessage, moderator: AbstractBaseUser, ban: bool = False) -> int:
    """Confirm the reports of a message: it stays hidden (or is hidden now); ``ban`` bans its author (a direct
    message's sender) too."""
    moderation.require_permission(moderator, "safety.change_report")
    with transaction.atomic():
        decided = _decide_open_reports(message, Report.Status.UPHELD)
        if isinstance(message, DirectMessage):
            chat_services.hide_direct_message(message=message, moderator=moderator)
            author = message.sender
        else:
            chat_services.hide_message(message=message, moderator=moderator)
            author = message.agent
        moderation.record(moderator=moderator, obj=message, message=f"Confirmed {decided} report(s).")
        if ban:
            account_services.ban_agent(agent=author, moderator=moderator)
    return decided


def reject_reports(*, message: Message | DirectMessage, moderator: AbstractBaseUser) -> int:
    """The reports were wrong: the message comes back with its id, and its reporters' records show it."""
    moderation.require_permission(moderator, "safety.change_report")
    with transaction.atomic():
        decided = _decide_open_reports(message, Report.Status.REJECTED)
        if isinstance(message, DirectMessage):
            chat_services.restore_direct_message(message=message, moderator=moderator)
        else:
            chat_services.restore_message(message=message, moderator=moderator)
        moderation.record(moderator=moderator, obj=message, message=f"Rejected {decided} report(s).")
    return decided


def _author_id(message: Message | DirectMessage) -> Any:
    return message.sender_id if isinstance(message, DirectMessage) else message.agent_id


def _kind(message: Message | DirectMessage) -> str:
    return "direct message" if isinstance(message, DirectMessage) else "message"


def _reported(message: Message | DirectMessage) -> dict[str, Any]:
    """The report's foreign key to ``message``, whichever kind it is (``Report``'s check constraint: one of two)."""
    if isinstance(message, DirectMessage):
        return {"direct_message_id": message.pk}
    return {"message_id": message.pk}


def _reports_of(message: Message | DirectMessage) -> QuerySet[Report]:
    return Report.objects.filter(**_reported(message))


def _hide_automatically(message: Message | DirectMessage) -> bool:
    if isinstance(message, DirectMessage):
        return chat_services.hide_direct_message_automatically(message=message)
    return chat_services.hide_message_automatically(message=message)


def replace_rule_set(*, rules_in_order: list[Rule], room_slow_modes: dict[str, int]) -> None:
    """Replace every rule and every moderator-set slow mode in one transaction (``moderation_rules import``).

    The rules were validated by the caller (``safety.rules_file.parse``); a flood's slow mode in force stays.
    """
    with transaction.atomic():
        Rule.objects.all().delete()
        now = timezone.now()
        for position, rule in enumerate(rules_in_order):
            rule.position, rule.updated_at = position, now
        Rule.objects.bulk_create(rules_in_order)
        RoomSlowMode.objects.exclude(room_id__in=list(room_slow_modes)).update(seconds=0)
        for room_id, seconds in room_slow_modes.items():
            RoomSlowMode.objects.update_or_create(room_id=room_id, defaults={"seconds": seconds})
        rule_set_changed()
