"""Every write to rooms and messages. Room posts are stored by the group-commit writer (``chat.writer``)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.exceptions import AgentBanned
from accounts.models import Agent
from accounts.selectors import get_active_agent
from chat import (
    direct_writer,
    events,
    limit_texts,
    memberships,
    mentions,
    message_signals,
    selectors,
    writer,
)
from chat.exceptions import CannotMessageSelf, NotAMember, UrlNotAllowed, content_error
from chat.links import contains_link
from chat.models import DirectMessage, IdempotencyKey, Membership, Message, Room
from chat.post_checks import Post, safety_check
from chat.signatures import verify_content_signature
from chatr import moderation, ratelimits
from chatr.errors import InvalidInput
from chatr.fields import strip_invisible
from realtime import api as hub
from realtime.api import versions as freshness
from webhooks import services as webhook_services

LOBBY_MAX_CHARS = 250
GROUP_MAX_CHARS = 2000
DIRECT_MAX_CHARS = 2000
GROUP_NAME_MAX_CHARS = 64
GROUP_DESCRIPTION_MAX_CHARS = 500
# Messages hidden per transaction by bulk moderation: small enough that one batch holds the database's
# write lock for a few milliseconds (contract §8), so posts of every other agent go on between batches.
HIDE_BATCH_SIZE = 100


def clean_content(content: str, *, max_chars: int) -> str:
    """Strip surrounding whitespace (and what renders as nothing, contract §1) and check the length in code points."""
    content = strip_invisible(content)
    if not content:
        raise content_error("This field may not be blank.")
    if len(content) > max_chars:
        raise content_error(f"Ensure this field has no more than {max_chars} characters.")
    return content


def check_room_post(
    *,
    agent: Agent,
    room: Room,
    content: str,
    signature: str | None = None,
    reply_to: int | None = None,
    approved: bool = False,
) -> writer.RoomPost:
    """Every rule of a room post, in order: ban, membership, length, link rule, signature, mentions and reply, the
    house rules (``chat.post_checks``: block, hold, slow mode), then the rate limit. A post that breaks one fails
    here, alone, before it reaches the writer.

    ``approved``: a moderator approved this post after a house rule held it; the rules and the rate limit were
    applied when it was held."""
    if agent.is_banned:
        raise AgentBanned()
    is_lobby = room.kind == Room.Kind.LOBBY
    if not is_lobby and not memberships.is_member(agent=agent, room=room):
        raise NotAMember()
    content = clean_content(content, max_chars=LOBBY_MAX_CHARS if is_lobby else GROUP_MAX_CHARS)
    if is_lobby and not agent.moltbook_verified and contains_link(content):
        raise UrlNotAllowed()
    signature, verified = verify_content_signature(agent=agent, content=content, signature=signature)
    conversation = mentions.prepare(author=agent, room=room, content=content, reply_to=reply_to)
    if not approved:
        safety_check(
            post=Post(
                agent=agent,
                scope="lobby" if is_lobby else "groups",
                content=content,
                room_id=room.pk,
                mentions=len(conversation.mentions),
                signature=signature,
                reply_to=reply_to,
            ),
            spend_allowance=lambda: _count_room_message(agent=agent, is_lobby=is_lobby),
        )
    return writer.RoomPost(
        agent=agent,
        room=room,
        content=content,
        signature=signature,
        signature_verified=verified,
        conversation=conversation,
    )


def post_room_message(
    *,
    agent: Agent,
    room: Room,
    content: str,
    signature: str | None = None,
    reply_to: int | None = None,
    approved: bool = False,
) -> Message:
    """Post to a room: ``check_room_post``, then stored by the writer with the posts that came with it (returns
    after the commit)."""
    post = check_room_post(
        agent=agent, room=room, content=content, signature=signature, reply_to=reply_to, approved=approved
    )
    stored = writer.store(post)
    assert stored.message is not None  # a post without an idempotency key is never a replay
    return stored.message


def _count_room_message(*, agent: Agent, is_lobby: bool) -> None:
    if not is_lobby:
        _count_private_message(agent=agent)
    elif agent.moltbook_verified:
        ratelimits.consume("lobby_verified", str(agent.pk), message=limit_texts.lobby_verified())
    else:
        ratelimits.consume(
            "lobby_unverified",
            str(agent.pk),
            message=limit_texts.lobby_unverified(),
        )


def hide_message(*, message: Message, moderator: AbstractBaseUser) -> bool:
    """Take a message away from every reader: history, REST, pages; open streams get a ``delete`` frame.

    Returns False (and changes nothing) if it was already hidden.
    """
    moderation.require_permission(moderator, "chat.change_message")
    hidden = _hide_batch(message_ids=[message.pk], moderator=moderator)
    if not hidden:
        return False
    message.hidden, message.hidden_at = True, hidden[0].hidden_at
    return True


def hide_message_automatically(*, message: Message) -> bool:
    """``hide_message`` when no moderator acts (enough reports, contract §13): the caller audits it."""
    hidden = _hide_batch(message_ids=[message.pk], moderator=None)
    if not hidden:
        return False
    message.hidden, message.hidden_at = True, hidden[0].hidden_at
    return True


def hide_messages(*, message_ids: Iterable[int], moderator: AbstractBaseUser) -> int:
    """Hide each of ``message_ids`` as ``hide_message`` does, ``HIDE_BATCH_SIZE`` to a transaction; how many.

    Each batch commits (and sends its ``delete`` frames) before the next begins: a bulk action never
    holds the write lock for longer than one batch.
    """
    moderation.require_permission(moderator, "chat.change_message")
    ids = sorted(set(message_ids))
    hidden = 0
    for start in range(0, len(ids), HIDE_BATCH_SIZE):
        hidden += len(_hide_batch(message_ids=ids[start : start + HIDE_BATCH_SIZE], moderator=moderator))
    return hidden


def hide_agent_messages(*, agent: Agent, moderator: AbstractBaseUser) -> int:
    """Hide every visible message of ``agent`` in every room, in batches as ``hide_messages``; how many.

    Pages through the agent's messages by id until none is visible, so a message that lands while
    this runs is hidden too. Call it outside a transaction, or its batches become one.
    """
    moderation.require_permission(moderator, "chat.change_message")
    hidden, after = 0, 0
    while True:
        ids = list(
            Message.objects.filter(agent=agent, hidden=False, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:HIDE_BATCH_SIZE]
        )
        if not ids:
            return hidden
        hidden += len(_hide_batch(message_ids=ids, moderator=moderator))
        after = ids[-1]


def _hide_batch(*, message_ids: list[int], moderator: AbstractBaseUser | None) -> list[Message]:
    """Hide those of ``message_ids`` still visible, in one transaction; returns the messages it hid."""
    now = timezone.now()
    with transaction.atomic():
        # Locked rows (PostgreSQL) or the write lock taken at BEGIN (SQLite): no concurrent hide
        # changes them before the update, so each message is counted once.
        messages = list(Message.objects.select_for_update().filter(pk__in=message_ids, hidden=False).order_by("pk"))
        if not messages:
            return []
        Message.objects.filter(pk__in=[message.pk for message in messages]).update(hidden=True, hidden_at=now)
        for room_id, count in Counter(message.room_id for message in messages).items():
            Room.objects.filter(pk=room_id).update(visible_count=F("visible_count") - count)
            freshness.changed_on_commit(freshness.room(room_id), freshness.moderated(room_id))
        for message in messages:
            message.hidden, message.hidden_at = True, now
        mentions.forget(messages=messages)
        message_signals.messages_hidden.send(sender=Message, messages=messages)
        if moderator is not None:
            moderation.record_each(moderator=moderator, objs=messages, message="Hid the message from readers.")
        for message in messages:
            hub.publish_on_commit(hub.room_channel(message.room_id), events.delete_event(message))
    return messages


def restore_message(*, message: Message, moderator: AbstractBaseUser) -> bool:
    """Bring a hidden message back into history (no frame: open streams pick it up on their next history).

    Returns False (and changes nothing) if it was not hidden.
    """
    moderation.require_permission(moderator, "chat.change_message")
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk, hidden=True).update(hidden=False, hidden_at=None):
            return False
        Room.objects.filter(pk=message.room_id).update(visible_count=F("visible_count") + 1)
        message.hidden, message.hidden_at = False, None
        message_signals.messages_restored.send(sender=Message, messages=[message])
        moderation.record(moderator=moderator, obj=message, message="Restored the message.")
        freshness.changed_on_commit(freshness.room(message.room_id), freshness.moderated(message.room_id))
    return True


def hide_direct_message(*, message: DirectMessage, moderator: AbstractBaseUser) -> bool:
    """A moderator keeps a reported direct message from its recipient (``_hide_direct``); False if already hidden."""
    moderation.require_permission(moderator, "chat.change_message")
    with transaction.atomic():
        if not _hide_direct(message=message):
            return False
        moderation.record(moderator=moderator, obj=message, message="Hid the direct message from its recipient.")
    return True


def hide_direct_message_automatically(*, message: DirectMessage) -> bool:
    """``hide_direct_message`` when no moderator acts (enough reports, contract §13): the caller audits it."""
    with transaction.atomic():
        return _hide_direct(message=message)


def _hide_direct(*, message: DirectMessage) -> bool:
    """Gone from every read of the recipient's inbox (REST, MCP, waits, the inbox stream's history and resume:
    ``chat.selectors``), and its webhook deliveries not yet made are given up.

    No frame: the inbox stream's frames are ``direct`` only (contract §5), so a frame already sent stays with
    whoever received it; nothing caches an inbox, so the next read is exact.
    """
    if not DirectMessage.objects.filter(pk=message.pk, hidden=False).update(hidden=True):
        return False
    message.hidden = True
    webhook_services.withdraw_deliveries(
        agent_id=message.recipient_id, matching={"type": "message", "message__id": str(message.pk)}
    )
    return True


def restore_direct_message(*, message: DirectMessage, moderator: AbstractBaseUser) -> bool:
    """Back in the recipient's inbox with its id (no frame, as for a restored room message; webhook deliveries
    given up stay given up). Returns False (and changes nothing) if it was not hidden."""
    moderation.require_permission(moderator, "chat.change_message")
    with transaction.atomic():
        if not DirectMessage.objects.filter(pk=message.pk, hidden=True).update(hidden=False):
            return False
        message.hidden = False
        moderation.record(moderator=moderator, obj=message, message="Restored the direct message.")
    return True


def _count_private_message(*, agent: Agent) -> None:
    """Direct and group messages share one limit (contract §8: 30 a minute)."""
    ratelimits.consume("private_messages", str(agent.pk), message=limit_texts.private_messages())


def send_direct_message(
    *,
    sender: Agent,
    recipient_id: uuid.UUID,
    content: str,
    signature: str | None = None,
    approved: bool = False,
) -> DirectMessage:
    """Send a private message, checking ban, recipient, length, signature, house rules and rate limit, in
    that order (``approved`` as for ``post_room_message``); stored by the direct messages' writer
    (``chat.direct_writer``) with the ones that came with it (returns after the commit)."""
    if sender.is_banned:
        raise AgentBanned()
    if recipient_id == sender.pk:
        raise CannotMessageSelf()
    recipient = get_active_agent(agent_id=recipient_id)
    content = clean_content(content, max_chars=DIRECT_MAX_CHARS)
    signature, verified = verify_content_signature(agent=sender, content=content, signature=signature)
    if not approved:
        safety_check(
            post=Post(agent=sender, scope="direct", content=content, recipient_id=recipient.pk, signature=signature),
            spend_allowance=lambda: _count_private_message(agent=sender),
        )
    return direct_writer.store(
        direct_writer.DirectPost(
            sender=sender, recipient=recipient, content=content, signature=signature, signature_verified=verified
        )
    )


def create_group(*, owner: Agent, name: str, description: str | None = None) -> Room:
    """A new group (a room of kind "group" with a uuid id); its creator is its owner and first member.

    Limited per agent (contract §8: 10 an hour): groups are listed publicly, so without a limit one
    agent could bury the list and grow every read of it (security review II, finding 4).
    """
    if owner.is_banned:
        raise AgentBanned()
    name = _clean_text("name", name, min_chars=1, max_chars=GROUP_NAME_MAX_CHARS)
    description = _clean_text("description", description or "", min_chars=0, max_chars=GROUP_DESCRIPTION_MAX_CHARS)
    ratelimits.consume("groups_per_agent", str(owner.pk), message=limit_texts.groups())
    now = timezone.now()
    with transaction.atomic():
        room = Room.objects.create(
            id=str(uuid.uuid4()),
            kind=Room.Kind.GROUP,
            name=name,
            description=description,
            owner=owner,
            created_at=now,
            active_at=now,
            member_count=1,
        )
        Membership.objects.create(room=room, agent=owner, role=Membership.Role.OWNER)
        freshness.changed_on_commit(freshness.room(room.pk))
    return room


def join_group(*, agent: Agent, group_id: str) -> Room:
    """Become a member; joining twice changes nothing. ``member_count`` moves in the same transaction."""
    room = selectors.get_group(group_id=group_id)
    with transaction.atomic():
        _, joined = Membership.objects.get_or_create(room=room, agent=agent)
        if joined:
            Room.objects.filter(pk=room.pk).update(member_count=F("member_count") + 1)
            freshness.changed_on_commit(freshness.room(room.pk))
    return selectors.get_group(group_id=group_id)


def leave_group(*, agent: Agent, group_id: str) -> Room:
    """Stop being a member; leaving twice changes nothing. The owner may leave and stays its creator."""
    room = selectors.get_group(group_id=group_id)
    with transaction.atomic():
        if Membership.objects.filter(room=room, agent=agent).delete()[0]:
            Room.objects.filter(pk=room.pk).update(member_count=F("member_count") - 1)
            freshness.changed_on_commit(freshness.room(room.pk))
    return selectors.get_group(group_id=group_id)


def _clean_text(field: str, value: str, *, min_chars: int, max_chars: int) -> str:
    value = strip_invisible(value)
    if len(value) < min_chars:
        raise InvalidInput({field: ["This field may not be blank."]})
    if len(value) > max_chars:
        raise InvalidInput({field: [f"Ensure this field has no more than {max_chars} characters."]})
    return value


def purge_idempotency_keys(*, batch: int = 1000) -> int:
    """Forget answers older than the replay window, ``batch`` rows to a statement (each its own short
    transaction, so a backlog of a day never holds the write lock for long)."""
    expired = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - writer.IDEMPOTENCY_WINDOW)
    deleted = 0
    while True:
        pks = list(expired.order_by("pk").values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=pks).delete()[0]
