"""Mentions, replies and who is told about them (contract §12): the post path's additions, in one place.

``check_room_post`` calls ``prepare`` before the writer (from the process's ``ConversationCache``, else one
query for the mentioned names it lacks and one for the reply target; none at all for content without ``@`` and
no ``replyTo``) and the writer calls ``record_all``
inside its transaction, after the messages' insert: the notifications and their webhook deliveries commit
or vanish with the messages, so none is lost and none is sent twice.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from accounts.models import Agent
from chat import events, webhook_events
from chat.models import Membership, Message, Notification, Room
from chatr.errors import ChatrError
from realtime import api as realtime
from realtime.api import versions
from webhooks import services as webhook_services

MAX_MENTIONS = 10
MENTIONS = "mentions"  # the kind of an agent's feed channel (``realtime.mentions_channel``)
_UUID_ORDER = attrgetter("int")  # UUIDs by number: their text's order and the database's, compared in C

# ``@`` at the start, or after a character that cannot be part of an address's local part (so
# ``a@Bob.com`` mentions no one); the name runs to the first character outside the §3 name set.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.\-])@([A-Za-z0-9_\-]+)")
_NAME_LENGTHS = range(2, 33)


class TooManyMentions(ChatrError):
    code = "too_many_mentions"
    message = f"A message may mention at most {MAX_MENTIONS} agents."


class InvalidReply(ChatrError):
    code = "invalid_reply"
    message = "replyTo must be the id of a visible message in the same room."


def mentioned_names(content: str) -> list[str]:
    """The distinct names ``content`` mentions, lowercased, in order of first appearance (unresolved)."""
    if "@" not in content:
        return []
    return list(dict.fromkeys(name.lower() for name in _MENTION.findall(content) if len(name) in _NAME_LENGTHS))


# The post path's queries are plain SQL: building them with the ORM cost more than the rest of a post
# with mentions or a reply together (bench/conversation_load.py; docs/benchmarks.md).


def _agent_table() -> str:
    return connection.ops.quote_name(Agent._meta.db_table)


class Mentioned(NamedTuple):
    """A mentioned agent, as a message's ``mentions`` and its notifications need it."""

    pk: Any
    name: str
    data: dict[str, str]  # its item of a message's ``mentions``, built once per cache entry: shared, never changed


def mentioned(pk: Any, name: str) -> Mentioned:
    return Mentioned(pk, name, {"id": str(pk), "name": name})


class ConversationCache:
    """Who a name mentions and what a reply targets, in this process, so a post in a conversation costs no query
    on the poster's thread for what it met before (issue 22: a post with mentions and a reply at ≤ 1.10× a plain
    one). Each entry is served only while the versions read *before* the query that filled it are unchanged:

    - a name → the agent holding it (not banned): ``agents``, which a ban, an unban or any change of what is
      shown of an agent bumps on every process (``accounts.services``);
    - a reply target (its room, author, text; visible) → also ``moderated:<room>``, bumped when a message of the
      room is hidden or restored.

    A change that commits around a fill either shows in the query or bumps the version after it (a stale entry,
    never served). What was not found (an unknown or banned name, a hidden target) is never cached: it is asked
    again, so a new registration or a restored message counts at once. Agents and messages are never deleted.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.names: dict[str, tuple[versions.Version, Mentioned]] = {}
        # The target as ``validate_reply`` builds it, shared by the posts that answer it: nothing writes to it.
        self.targets: dict[tuple[int, str], tuple[versions.Version, Message]] = {}
        self.lock = threading.Lock()

    def put_name(self, name: str, version: versions.Version, agent: Mentioned) -> None:
        with self.lock:
            if len(self.names) >= self.size:
                self.names.clear()
            self.names[name] = (version, agent)

    def put_target(self, key: tuple[int, str], version: versions.Version, target: Message) -> None:
        with self.lock:
            if len(self.targets) >= self.size:
                self.targets.clear()
            self.targets[key] = (version, target)

    def clear(self) -> None:
        with self.lock:
            self.names.clear()
            self.targets.clear()


cache = ConversationCache(size=10_000)


def _version(room: Room) -> versions.Version | None:
    """The versions the cache's entries for ``room`` are checked against; ``None`` when the cache is off."""
    if not settings.CHATR_KEY_CACHE:
        return None
    return versions.current([versions.AGENTS, versions.moderated(room.pk)])


def resolve_mentions(*, author: Agent, content: str, version: versions.Version | None = None) -> list[Mentioned]:
    """The agents ``content`` mentions: known, not banned, not the author; in order of first appearance.

    From the process's cache (``version``: ``_version``'s, read before any query), else one query for the names
    it lacks (by ``agent_name_ci_unique``'s ``LOWER(name)``); none when there is no ``@``. More than
    ``MAX_MENTIONS`` → ``TooManyMentions``.
    """
    names = mentioned_names(content)
    if not names:
        return []
    by_name: dict[str, Mentioned] = {}
    missing = names
    if version is not None:
        agents_version = version[:1]
        missing = []
        for name in names:
            entry = cache.names.get(name)
            if entry is not None and entry[0] == agents_version:
                by_name[name] = entry[1]
            else:
                missing.append(name)
    if missing:
        pk = Agent._meta.pk
        placeholders = ", ".join(["%s"] * len(missing))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, name FROM {_agent_table()} "  # noqa: S608 - only placeholders are joined in
                f"WHERE LOWER(name) IN ({placeholders}) AND NOT is_banned",
                missing,
            )
            rows = cursor.fetchall()
        for id_, name in rows:
            found = by_name[name.lower()] = mentioned(pk.to_python(id_), name)
            if version is not None:
                cache.put_name(name.lower(), version[:1], found)
    author_id = author.pk
    agents = [agent for name in names if (agent := by_name.get(name)) is not None and agent.pk != author_id]
    if len(agents) > MAX_MENTIONS:
        raise TooManyMentions()
    return agents


def validate_reply(*, room: Room, reply_to: int | None, version: versions.Version | None = None) -> Message | None:
    """The visible message of ``room`` that ``reply_to`` names, else ``InvalidReply``.

    From the process's cache (``version``: ``_version``'s, read before any query), else one query. The target
    holds what its ``replyTo`` and the notification read (its id, author, content and visibility, its author's
    name and ban); any other field is loaded on access.
    """
    if reply_to is None:
        return None
    row = None
    if 0 < reply_to < 2**63:
        entry = cache.targets.get((reply_to, room.pk)) if version is not None else None
        if entry is not None and entry[0] == version:
            return entry[1]
        message_table = connection.ops.quote_name(Message._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.agent_id, m.content, a.name, a.is_banned FROM {message_table} m "  # noqa: S608
                f"JOIN {_agent_table()} a ON a.id = m.agent_id "
                "WHERE m.id = %s AND m.room_id = %s AND NOT m.hidden",
                [reply_to, room.pk],
            )
            row = cursor.fetchone()
    if row is None:
        raise InvalidReply()
    agent_id, content, name, is_banned = row
    agent_id = Agent._meta.pk.to_python(agent_id)
    target = Message.from_db(None, ["id", "agent_id", "content", "hidden"], [reply_to, agent_id, content, False])
    target.agent = Agent.from_db(None, ["id", "name", "is_banned"], [agent_id, name, bool(is_banned)])
    if version is not None:
        cache.put_target((reply_to, room.pk), version, target)
    return target


@dataclass
class Conversation:
    """What a new message's mentions and reply resolved to, before it is written."""

    mentions: list[Mentioned] = field(default_factory=list)
    reply_to: Message | None = None

    @property
    def mention_data(self) -> list[dict[str, str]]:
        """The message's ``mentions`` (contract §12): a new list each time (the writer asks once per post), of items
        built once per cache entry. Not a ``cached_property``: its lock cost more than the list."""
        return [agent.data for agent in self.mentions]


NOTHING = Conversation()


def prepare(*, author: Agent, room: Room, content: str, reply_to: int | None) -> Conversation:
    """Resolve mentions and the reply target (raises ``TooManyMentions`` / ``InvalidReply``)."""
    if reply_to is None and "@" not in content:
        return NOTHING
    version = _version(room)
    return Conversation(
        mentions=resolve_mentions(author=author, content=content, version=version),
        reply_to=validate_reply(room=room, reply_to=reply_to, version=version),
    )


def record_all(posts: list[tuple[Message, Conversation]]) -> None:
    """The notifications (and their webhook deliveries) of new messages: call inside their transaction, after
    their inserts, with the rows of the agents told locked in id order on a database with row locks (the writer
    does: feed ids of one agent are then handed out in commit order, the §2 invariant per feed).

    Told: each mentioned agent that can read the room (anyone for the lobby, members for a group) and the
    replied-to author (reason ``reply``), once each, never the author. Every notification of the batch is one
    ``INSERT``, in the order of the messages (then of the agents).
    """
    told: list[tuple[Message, dict[Any, str]]] = []
    for message, conversation in posts:
        if conversation is NOTHING:
            continue
        reasons: dict[Any, str] = {}
        target = conversation.reply_to
        if target is not None and target.agent_id != message.agent_id and not target.agent.is_banned:
            reasons[target.agent_id] = Notification.Reason.REPLY
        for agent in conversation.mentions:
            reasons.setdefault(agent.pk, Notification.Reason.MENTION)
        if reasons and message.room.kind == Room.Kind.GROUP:
            members = set(
                Membership.objects.filter(room_id=message.room_id, agent_id__in=reasons).values_list(
                    "agent_id", flat=True
                )
            )
            reasons = {agent_id: reason for agent_id, reason in reasons.items() if agent_id in members}
        if reasons:
            # By id (UUIDs order as their text and as the database orders them): the order rows are locked in.
            told.append((message, {agent_id: reasons[agent_id] for agent_id in sorted(reasons, key=_UUID_ORDER)}))
    if not told:
        return
    # The feed ids are only needed for frames. While no one watches a mentions feed, the rows are written without
    # ``RETURNING`` (a good part of their cost on SQLite); should someone subscribe before the commit, they are read
    # back after it.
    feed = _insert_notifications(told, returning=realtime.watched(MENTIONS))
    by_message = {message.pk: (message, reasons) for message, reasons in told}

    def publish() -> None:
        # After the commit, and only while someone may watch a mentions feed: a stream or wait that subscribes
        # after this check reads the feed after subscribing and finds these items there (``realtime.watched``).
        # Built for no one, they were a good part of a conversation post's extra CPU (docs/benchmarks.md, issue 22).
        if not realtime.watched(MENTIONS):
            return
        frames = []
        for feed_id, agent_id, message_id in _read_feed(told) if feed is None else feed:
            message, reasons = by_message[message_id]
            event = events.new_mention_event(feed_id=feed_id, reason=reasons[agent_id], message=message)
            frames.append((realtime.mentions_channel(agent_id), event, None))
        realtime.announce((), frames)  # with Redis one trip for the batch's items, in feed id order

    # One callback for the batch's feed items; robust: a publish that fails after the commit cannot undo it (the
    # items are stored and the mention feed's resume serves them), so it is logged, not raised.
    transaction.on_commit(publish, robust=True)
    hooked = webhook_services.subscribed_agents()  # exact (versioned); usually empty: then nothing more to do
    for message, reasons in told if hooked else ():
        for reason in sorted(set(reasons.values())):
            recipients = [agent_id for agent_id, why in reasons.items() if why == reason and agent_id in hooked]
            if recipients:
                payload = webhook_events.mention_payload(
                    reason=reason,
                    room_id=message.room_id,
                    message_id=message.pk,
                    sender_id=message.agent_id,
                    content=message.content,
                    sent_at=message.created_at,
                )
                webhook_services.enqueue_deliveries(agent_ids=recipients, payload=payload)


def _insert_notifications(
    told: list[tuple[Message, dict[Any, str]]], *, returning: bool
) -> list[tuple[int, Any, int]] | None:
    """One ``INSERT`` for every notification of the batch, in the given order; with ``returning``, ``(feed id,
    agent id, message id)`` of each new row, by feed id (matched by agent and message, not by the rows' order)."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's own wrapper: each access through the proxy is a lookup
    fields = Notification._meta
    prepare_agent = Agent._meta.pk.get_db_prep_value
    params: list[Any] = []
    agents: dict[Any, Any] = {}  # each agent id as the caller holds it → as the database takes and returns it
    created_at = None
    for message, reasons in told:
        if created_at is None or created_at[0] != message.created_at:  # one time for a whole batch
            created_at = (message.created_at, fields.get_field("created_at").get_db_prep_value(message.created_at, db))
        for agent_id, reason in reasons.items():
            prepared = agents.get(agent_id)
            if prepared is None:
                prepared = agents[agent_id] = prepare_agent(agent_id, db)
            params += [prepared, message.pk, reason, created_at[1]]
    table = db.ops.quote_name(fields.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * (len(params) // 4))
    sql = f"INSERT INTO {table} (agent_id, message_id, reason, created_at) VALUES {values}"  # noqa: S608
    with db.cursor() as cursor:
        if not returning:
            cursor.execute(sql, params)
            return None
        cursor.execute(sql + " RETURNING id, agent_id, message_id", params)
        rows = cursor.fetchall()
    held = {prepared: agent_id for agent_id, prepared in agents.items()}
    return sorted((row[0], held[row[1]], row[2]) for row in rows)


def _read_feed(told: list[tuple[Message, dict[Any, str]]]) -> list[tuple[int, Any, int]]:
    """``(feed id, agent id, message id)`` of the notifications of these committed messages, by feed id: for the
    rare batch written while no one watched and published after someone began to."""
    found = Notification.objects.filter(message_id__in=[message.pk for message, _ in told]).order_by("pk")
    return list(found.values_list("pk", "agent_id", "message_id"))


def forget(*, messages: list[Message]) -> None:
    """Hidden messages leave their readers' feeds: a ``delete`` frame on each one's mentions stream."""
    found = Notification.objects.filter(message__in=messages).only("pk", "agent_id", "message_id").order_by("pk")
    for notification in found:
        realtime.publish_on_commit(
            realtime.mentions_channel(notification.agent_id), events.mention_delete_event(notification)
        )
