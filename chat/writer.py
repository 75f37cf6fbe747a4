"""Group commit: room posts that arrive together are stored by one writer in one transaction.

A post reaches ``store`` after it passed every rule (``chat.services.check_room_post``), so nothing here refuses
it for what it says. The first poster to arrive while no batch is being written becomes the writer: it takes every
post queued so far (its own first), writes them all in one transaction on its own database connection — per post
the idempotency key, the room's row, the message, its webhook outbox rows, its mentions and notifications, its
search row — commits once, and wakes each poster with its result. Posts that arrive meanwhile queue; when the
batch is done, the first of them is woken to write the next one. Every poster returns only after the commit that
stored its post (a 201 means stored).

Order: within the transaction, posts are inserted in queue order, and the room's row is updated before its first
message, which locks it until commit on PostgreSQL; so ids of one room are handed out in commit order, in one
process and across processes (contract §2).

Locks: a batch takes its idempotency keys (sorted), then its rooms' rows, then the rows of the agents it may
notify (each in id order) before it writes, so the batches of two processes never wait for each other in a
circle. Two posts of one batch with the same key: the second waits for the next round and is replayed there.

One post that fails inside the batch (its room vanished, its idempotency key is taken with another body) fails
alone: the transaction is rolled back and the batch written again without it. A database that fails fails all.

A poster already inside a transaction (a test, a management command) writes its post on its own, in that
transaction: its commit is not the writer's to give.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Agent
from chat import events, mentions, message_signals, webhook_events
from chat.exceptions import IdempotencyKeyReused, RoomNotFound
from chat.models import IdempotencyKey, Message, Room
from chatr import metrics
from realtime import api as hub
from realtime.api import versions as freshness

MAX_BATCH = 64
IDEMPOTENCY_WINDOW = timedelta(hours=24)  # a retry with the same key within it gets the first answer


@dataclass(frozen=True)
class Once:
    """A post made once per (agent, Idempotency-Key): what the key row stores is the caller's (its answer)."""

    key: str
    fingerprint: str
    answer: Callable[[Message], tuple[int, dict[str, Any]]]


@dataclass
class RoomPost:
    """A post that passed every rule, as the writer stores it."""

    agent: Agent
    room: Room
    content: str
    signature: str | None
    signature_verified: bool
    conversation: mentions.Conversation
    once: Once | None = None


@dataclass
class Stored:
    """What ``store`` did: the new message, or the earlier answer its idempotency key holds."""

    message: Message | None = None
    replayed: IdempotencyKey | None = None


class _Entry:
    """A queued post. ``wake`` is held while its poster waits: released once, to lead a batch or with its result (a
    bare lock: waking a thread through ``threading.Event`` cost several times more)."""

    __slots__ = ("error", "leads", "post", "result", "wake")

    def __init__(self, post: RoomPost) -> None:
        self.post = post
        self.wake = threading.Lock()
        self.wake.acquire()
        self.leads = False
        self.result: Stored | None = None
        self.error: BaseException | None = None


class GroupWriter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._writing = False

    def store(self, post: RoomPost) -> Stored:
        if connection.in_atomic_block:
            return _write_one(post)
        entry = _Entry(post)
        with self._lock:
            self._queue.append(entry)
            entry.leads = not self._writing
            self._writing = True
        if not entry.leads:
            entry.wake.acquire()  # until a leader wrote it, or made it the next leader
        if entry.leads:
            self._lead(entry)
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    def _lead(self, me: _Entry) -> None:
        """Write the queue's first batch (``me`` first in it), then wake its posters and the next leader."""
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        metrics.POSTS_PER_COMMIT.observe(len(batch))
        try:
            _write_batch(batch)
        except BaseException as error:
            for entry in batch:
                if entry.result is None and entry.error is None:
                    entry.error = error
            raise
        finally:
            with self._lock:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._writing = False
            me.leads = False
            for entry in batch:
                if entry is not me:
                    entry.wake.release()
            if following is not None:
                following.leads = True
                following.wake.release()


writer = GroupWriter()


def store(post: RoomPost) -> Stored:
    """Store ``post`` with the posts that arrived with it; returns once their transaction has committed."""
    return writer.store(post)


def _write_one(post: RoomPost) -> Stored:
    now = timezone.now()
    with transaction.atomic():
        claim = _claim(agent_id=post.agent.pk, once=post.once, now=now) if post.once is not None else (None, None)
        return _write(post, now, set(), claim)


def _write_batch(batch: list[_Entry]) -> None:
    """Write ``batch``; a post whose idempotency key an earlier post of the batch holds waits for the next round,
    where it is replayed (or refused) like any retry."""
    queue = batch
    while queue:
        now_round: list[_Entry] = []
        later: list[_Entry] = []
        keys: set[tuple[str, str]] = set()
        for entry in queue:
            key = _key_of(entry)
            (later if key is not None and key in keys else now_round).append(entry)
            if key is not None:
                keys.add(key)
        _write_round(now_round)
        queue = later


def _key_of(entry: _Entry) -> tuple[str, str] | None:
    once = entry.post.once
    return (str(entry.post.agent.pk), once.key) if once is not None else None


def _write_round(pending: list[_Entry]) -> None:
    while pending:
        now = timezone.now()
        writing: _Entry | None = None
        try:
            with transaction.atomic():
                # Locks in one order in every transaction, so batches of two processes never deadlock: the
                # idempotency keys (sorted), then the rooms' rows, then the notified agents' rows (each sorted).
                claims = {}
                keyed = [(e, e.post.once) for e in pending if e.post.once is not None]
                for entry, once in sorted(keyed, key=lambda pair: (str(pair[0].post.agent.pk), pair[1].key)):
                    writing = entry
                    claims[id(entry)] = _claim(agent_id=entry.post.agent.pk, once=once, now=now)
                writing = None
                _lock_rows(pending)
                rooms: set[str] = set()
                results = []
                for entry in pending:
                    writing = entry
                    results.append(_write(entry.post, now, rooms, claims.get(id(entry), (None, None))))
                writing = None
        except Exception as error:
            if writing is None or _fails_everyone(error):
                for entry in pending:  # the commit, or the database itself, failed: nothing was stored
                    entry.error = error
                return
            writing.error = error
            pending = [entry for entry in pending if entry is not writing]  # it fails alone; the rest again
            continue
        for entry, result in zip(pending, results, strict=True):
            entry.result = result
        return


def _lock_rows(pending: list[_Entry]) -> None:
    """On a database with row locks, lock the batch's rooms and the agents it may notify, each in id order."""
    if not connection.features.has_select_for_update or len(pending) < 2:
        return  # one post locks in _write's own order, as every single post does
    room_ids = sorted({entry.post.room.pk for entry in pending})
    list(Room.objects.select_for_update(no_key=True).filter(pk__in=room_ids).order_by("pk").values_list("pk"))
    agents: set[uuid.UUID] = set()
    for entry in pending:
        conversation = entry.post.conversation
        agents.update(agent.pk for agent in conversation.mentions)
        if conversation.reply_to is not None:
            agents.add(conversation.reply_to.agent_id)
    if agents:
        list(Agent.objects.select_for_update(no_key=True).filter(pk__in=agents).order_by("pk").values_list("pk"))


def _fails_everyone(error: Exception) -> bool:
    """A database error other than a broken constraint says nothing about one post."""
    return isinstance(error, DatabaseError) and not isinstance(error, IntegrityError)


def _write(
    post: RoomPost,
    now: datetime,
    rooms: set[str],
    claim: tuple[IdempotencyKey | None, IdempotencyKey | None],
) -> Stored:
    """One post inside the batch's transaction, its idempotency key already claimed."""
    record, replay = claim
    if replay is not None:
        return Stored(replayed=replay)
    room = post.room
    if not _count_on_room(room_id=room.pk, now=now):
        raise RoomNotFound()
    message = _insert(
        Message(
            room=room,
            agent=post.agent,
            content=post.content,
            signature=post.signature,
            signature_verified=post.signature_verified,
            created_at=now,
            mentions=post.conversation.mention_data,
            reply_to=post.conversation.reply_to,
        )
    )
    webhook_events.enqueue_message_deliveries(message=message)
    mentions.record(message=message, conversation=post.conversation)
    message_signals.messages_posted.send(sender=Message, messages=[message])
    if room.pk not in rooms:
        rooms.add(room.pk)
        freshness.changed_on_commit(freshness.room(room.pk))
    # The frame is built from the message the writer holds (its author, mentions and reply target included).
    hub.publish_on_commit(hub.room_channel(room.pk), events.message_event(message))
    transaction.on_commit(metrics.MESSAGES_POSTED.labels(room.kind).inc)
    if record is not None:
        record.status_code, record.body = post.once.answer(message)  # type: ignore[union-attr]
        record.save(update_fields=["status_code", "body"])
    return Stored(message=message)


def _insert(message: Message) -> Message:
    """``message.save()`` as one ``INSERT … RETURNING id`` of every column, each prepared by its own field: the
    ORM's save machinery (signals, the compiler) cost more than the rest of the writer's statements together."""
    fields = [field for field in Message._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields]
    columns = ", ".join(connection.ops.quote_name(cast(str, field.column)) for field in fields)  # concrete: a column
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(Message._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES ({placeholders}) RETURNING id",
            values,
        )
        message.pk = cursor.fetchone()[0]
    message._state.adding = False
    message._state.db = connection.alias
    return message


def _count_on_room(*, room_id: str, now: datetime) -> bool:
    """Count the new message on the room's row, which locks it until commit; False if the room is gone.

    One plain UPDATE: the ORM's ``F()`` expression resolution was a tenth of a post's CPU time.
    """
    table = connection.ops.quote_name(Room._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            # active_at: the group list's order.
            f"UPDATE {table} SET visible_count = visible_count + 1, last_message_at = %s, active_at = %s "  # noqa: S608
            "WHERE id = %s",
            [at, at, room_id],
        )
        return cursor.rowcount == 1


def _claim(*, agent_id: uuid.UUID, once: Once, now: datetime) -> tuple[IdempotencyKey | None, IdempotencyKey | None]:
    """Take the key for this post: ``(row to fill, None)``, or ``(None, earlier answer)`` to replay.

    ``INSERT … ON CONFLICT DO NOTHING`` never fails the batch's transaction: a key taken by a concurrent
    request of another process waits for that one's commit (PostgreSQL), then is read and replayed.
    """
    for _ in range(2):
        record = _existing(agent_id=agent_id, key=once.key)
        if record is not None:
            if record.created_at < now - IDEMPOTENCY_WINDOW:
                record.delete()  # an expired key starts afresh
            elif record.fingerprint != once.fingerprint:
                raise IdempotencyKeyReused()
            elif record.status_code:
                return None, record
            else:
                raise IntegrityError("an idempotency key without its answer")  # not reachable: filled in one commit
        fields = IdempotencyKey._meta
        table, key = connection.ops.quote_name(fields.db_table), connection.ops.quote_name("key")
        pk = Agent._meta.pk
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (agent_id, {key}, fingerprint, status_code, body, created_at) "  # noqa: S608
                f"VALUES (%s, %s, %s, 0, %s, %s) ON CONFLICT (agent_id, {key}) DO NOTHING RETURNING id",
                [
                    pk.get_db_prep_value(agent_id, connection),
                    once.key,
                    once.fingerprint,
                    fields.get_field("body").get_db_prep_value({}, connection),
                    fields.get_field("created_at").get_db_prep_value(now, connection),
                ],
            )
            row = cursor.fetchone()
        if row is not None:
            return IdempotencyKey(pk=row[0], agent_id=agent_id, key=once.key, fingerprint=once.fingerprint), None
    raise IntegrityError("the idempotency key was taken twice")


def _existing(*, agent_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    rows = IdempotencyKey.objects.filter(agent_id=agent_id, key=key)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    return rows.first()
