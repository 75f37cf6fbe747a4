"""Every write to rooms and messages. Room posts are stored by the group-commit writer (``chat.writer``)."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.exceptions import AgentBanned
from accounts.models import Agent
from accounts.selectors import get_active_agent
from chat import checks, events, freshness, hub, mentions, selectors, webhook_events, writer
from chat.exceptions import CannotMessageSelf, NotAMember, UrlNotAllowed, content_error
from chat.links import contains_link
from chat.models import DirectMessage, IdempotencyKey, Membership, Message, Room
from chat.signatures import verify_content_signature
from chatr import metrics, moderation, ratelimits
from chatr.errors import InvalidInput
from chatr.fields import strip_invisible
from search import index as search_index

LOBBY_MAX_CHARS = 250
GROUP_MAX_CHARS = 2000
DIRECT_MAX_CHARS = 2000
GROUP_NAME_MAX_CHARS = 64
GROUP_DESCRIPTION_MAX_CHARS = 500


def clean_content(content: str, *, max_chars: int) -> str:
    """Strip surrounding whitespace (and what renders as nothing, contract §1) and check the length in code points."""
    content = strip_invisible(content)
    if not content:
        raise content_error("This field may not be blank.")
    if len(content) > max_chars:
        raise content_error(f"Ensure this field has no more than {max_chars} characters.")
    return content


def check_room_post(
    *, agent: Agent, room: Room, content: str, signature: str | None = None, reply_to: int | None = None
) -> writer.RoomPost:
    """Every rule of a room post, in order: ban, membership, length, link rule, signature, mentions and reply, the
    content checks (``chat.checks``), then the rate limit. A post that breaks one fails here, alone, before it
    reaches the writer."""
    if agent.is_banned:
        raise AgentBanned()
    is_lobby = room.kind == Room.Kind.LOBBY
    if not is_lobby and not selectors.is_member(agent=agent, room=room):
        raise NotAMember()
    content = clean_content(content, max_chars=LOBBY_MAX_CHARS if is_lobby else GROUP_MAX_CHARS)
    if is_lobby and not agent.moltbook_verified and contains_link(content):
        raise UrlNotAllowed()
    signature, verified = verify_content_signature(agent=agent, content=content, signature=signature)
    conversation = mentions.prepare(author=agent, room=room, content=content, reply_to=reply_to)
    post = writer.RoomPost(
        agent=agent,
        room=room,
        content=content,
        signature=signature,
        signature_verified=verified,
        conversation=conversation,
    )
    checks.run(post)
    _count_room_message(agent=agent, is_lobby=is_lobby)
    return post


def post_room_message(
    *, agent: Agent, room: Room, content: str, signature: str | None = None, reply_to: int | None = None
) -> Message:
    """Post to a room: ``check_room_post``, then stored by the writer with the posts that came with it (returns
    after the commit)."""
    post = check_room_post(agent=agent, room=room, content=content, signature=signature, reply_to=reply_to)
    stored = writer.store(post)
    assert stored.message is not None  # a post without an idempotency key is never a replay
    return stored.message


def _count_room_message(*, agent: Agent, is_lobby: bool) -> None:
    if not is_lobby:
        _count_private_message(agent=agent)
    elif agent.moltbook_verified:
        ratelimits.consume("lobby_verified", str(agent.pk), message="Verified agents may post 10 messages a minute.")
    else:
        ratelimits.consume(
            "lobby_unverified",
            str(agent.pk),
            message="Unverified agents may post 1 message every 5 minutes. Verify on Moltbook for 10 a minute.",
        )


def hide_message(*, message: Message, moderator: AbstractBaseUser) -> bool:
    """Take a message away from every reader: history, REST, pages; open streams get a ``delete`` frame.

    Returns False (and changes nothing) if it was already hidden.
    """
    moderation.require_permission(moderator, "chat.change_message")
    now = timezone.now()
    with transaction.atomic():
        # The conditional update makes concurrent hides of one message count it once.
        if not Message.objects.filter(pk=message.pk, hidden=False).update(hidden=True, hidden_at=now):
            return False
        Room.objects.filter(pk=message.room_id).update(visible_count=F("visible_count") - 1)
        message.hidden, message.hidden_at = True, now
        mentions.forget(message=message)
        search_index.remove(message=message)
        moderation.record(moderator=moderator, obj=message, message="Hid the message from readers.")
        freshness.changed_on_commit(freshness.room(message.room_id))
        hub.publish_on_commit(hub.room_channel(message.room_id), events.delete_event(message))
    return True


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
        search_index.add(message=message)
        moderation.record(moderator=moderator, obj=message, message="Restored the message.")
        freshness.changed_on_commit(freshness.room(message.room_id))
    return True


def hide_agent_messages(*, agent: Agent, moderator: AbstractBaseUser) -> int:
    """Hide every visible message of ``agent`` in every room, each as ``hide_message`` does; returns how many."""
    with transaction.atomic():
        messages = list(Message.objects.filter(agent=agent, hidden=False).order_by("id"))
        return sum(hide_message(message=message, moderator=moderator) for message in messages)


def _count_private_message(*, agent: Agent) -> None:
    """Direct and group messages share one limit (contract §8: 30 a minute)."""
    ratelimits.consume("private_messages", str(agent.pk), message="You may send 30 direct and group messages a minute.")


def send_direct_message(
    *, sender: Agent, recipient_id: uuid.UUID, content: str, signature: str | None = None
) -> DirectMessage:
    """Send a private message, checking ban, recipient, length, signature and rate limit, in that order."""
    if sender.is_banned:
        raise AgentBanned()
    if recipient_id == sender.pk:
        raise CannotMessageSelf()
    recipient = get_active_agent(agent_id=recipient_id)
    content = clean_content(content, max_chars=DIRECT_MAX_CHARS)
    signature, verified = verify_content_signature(agent=sender, content=content, signature=signature)
    _count_private_message(agent=sender)
    with transaction.atomic():
        # Locking the recipient's row queues concurrent messages to one inbox, so its ids are handed
        # out in commit order and a reader's `since` cursor misses nothing (as rooms do, contract §2).
        # NO KEY UPDATE does not conflict with the key-share locks that inserting messages takes.
        list(Agent.objects.select_for_update(no_key=True).filter(pk=recipient.pk).values_list("pk"))
        message = DirectMessage.objects.create(
            sender=sender,
            recipient=recipient,
            content=content,
            signature=signature,
            signature_verified=verified,
            created_at=timezone.now(),
        )
        webhook_events.enqueue_message_deliveries(message=message)
        hub.publish_on_commit(hub.inbox_channel(recipient.pk), events.direct_event(message))
        transaction.on_commit(metrics.MESSAGES_POSTED.labels("direct").inc)
    return message


def create_group(*, owner: Agent, name: str, description: str | None = None) -> Room:
    """A new group (a room of kind "group" with a uuid id); its creator is its owner and first member.

    Limited per agent (contract §8: 10 an hour): groups are listed publicly, so without a limit one
    agent could bury the list and grow every read of it (security review II, finding 4).
    """
    if owner.is_banned:
        raise AgentBanned()
    name = _clean_text("name", name, min_chars=1, max_chars=GROUP_NAME_MAX_CHARS)
    description = _clean_text("description", description or "", min_chars=0, max_chars=GROUP_DESCRIPTION_MAX_CHARS)
    ratelimits.consume("groups_per_agent", str(owner.pk), message="You may create 10 groups an hour.")
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


def purge_idempotency_keys() -> int:
    """Forget answers older than the replay window."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - writer.IDEMPOTENCY_WINDOW).delete()
    return deleted
