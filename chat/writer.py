"""Group commit: room posts that arrive together are stored by one writer in one transaction.

A post reaches ``store`` after it passed every rule (``chat.services.check_room_post``), so nothing here refuses
it for what it says. The queue is ``chat.group_commit``'s: the first poster to arrive while no batch is being
written becomes the writer, takes every post queued so far, writes them all in one transaction on its own database
connection, commits once, and wakes each poster with its result. Every poster returns only after the commit that
stored its post (a 201 means stored). A thread with several posts (a command's drain, ``store_all``) queues them
together and waits for each, leading a batch whenever one of its posts is the queue's head.

Statements: one per kind of row for the whole batch (issue 22) — one ``INSERT`` of its idempotency keys, one
``UPDATE`` per room of its count, one ``INSERT … RETURNING`` of its messages, one of its notifications, one
``executemany`` of the keys' answers; the webhook outbox rows (group rooms) follow the messages. On PostgreSQL the
messages go as one JSON parameter, in the same round trip as the read of each room's previous visible id, and the
rows other apps write with them (the search index's, asked for by ``messages_inserting``) in the ``INSERT``'s own
statement (``chat.postgres_batch``). Frames are built from the objects the writer holds and published from one
``on_commit`` callback.

Order: the rooms' rows are updated before the batch's messages are inserted, which locks them until commit on
PostgreSQL, and the messages are inserted in queue order (each returned row is checked against the post at its
place); so ids of one room are handed out in commit order, in one process and across processes (contract §2).

Locks: a batch takes its idempotency keys (sorted), then its rooms' rows, then the rows of the agents it may
notify (each in id order) before it writes, so the batches of two processes never wait for each other in a
circle. A key already taken (a retry) rolls the round back and claims key by key, each existing row read and
locked before the next, as every retry always did. Two posts of one batch with the same key: the second waits for
the next round and is replayed there.

One post that fails inside the batch (its room vanished, its idempotency key is taken with another body) fails
alone: the transaction is rolled back and the batch written again without it. A statement shared by the batch
that breaks without naming a post (a constraint found broken at ``COMMIT``) writes each post again on its own, so
only the one that breaks it fails. A database that fails fails all.

A poster already inside a transaction (a test, a management command) writes its post on its own, by the same
statements, in that transaction: its commit is not the writer's to give.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.base import ModelState
from django.utils import timezone

from accounts.models import Agent
from chat import events, mentions, message_signals, postgres_batch, webhook_events
from chat.exceptions import IdempotencyKeyReused, RoomNotFound
from chat.group_commit import Entry, GroupCommit, fails_everyone
from chat.models import IdempotencyKey, Message, Room
from chatr import metrics
from realtime import api as hub
from realtime.api import versions as freshness

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


_Entry = Entry[RoomPost, Stored]


def store(post: RoomPost) -> Stored:
    """Store ``post`` with the posts that arrived with it; returns once their transaction has committed."""
    return writer.store(post)


def store_all(posts: list[RoomPost]) -> list[Stored | BaseException]:
    """Store ``posts`` (one caller's, queued together) with the posts that arrived with them; returns once every
    one's transaction has committed: its ``Stored``, or the error that post alone failed with."""
    return writer.store_all(posts)


def _write_one(post: RoomPost) -> Stored:
    """A post written inside its caller's transaction, by the statements a batch of one would run."""
    entry = _Entry(post)
    with transaction.atomic():
        try:
            return _write_together([entry], timezone.now(), careful=False, own_transaction=False)[0]
        except _Conflict:
            pass
        except _OneFailed as failed:
            raise failed.error from None
    with transaction.atomic():  # a key was taken meanwhile: claim it as a retry
        try:
            return _write_together([entry], timezone.now(), careful=True, own_transaction=False)[0]
        except _OneFailed as failed:
            raise failed.error from None


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


class _OneFailed(Exception):
    """One post of the batch broke (its room is gone, its key is taken with another body): it fails alone."""

    def __init__(self, entry: _Entry, error: Exception) -> None:
        super().__init__()
        self.entry, self.error = entry, error


class _Conflict(Exception):
    """A key of the batch was already taken: the round is written again claiming key by key (``careful``)."""


def _write_round(pending: list[_Entry]) -> None:
    careful = False
    while pending:
        now = timezone.now()
        try:
            with transaction.atomic():
                results = _write_together(pending, now, careful=careful, own_transaction=True)
        except _Conflict:
            careful = True
            continue
        except _OneFailed as failed:
            failed.entry.error = failed.error
            pending = [entry for entry in pending if entry is not failed.entry]  # it fails alone; the rest again
            continue
        except Exception as error:
            if fails_everyone(error) or len(pending) == 1:
                for entry in pending:  # the commit, or the database itself, failed: nothing was stored
                    entry.error = error
                return
            # A statement shared by the batch broke without saying for whom: each post again on its own, so
            # that only the one that breaks it fails.
            for entry in pending:
                _write_round([entry])
            return
        for entry, result in zip(pending, results, strict=True):
            entry.result = result
        return


def _write_together(pending: list[_Entry], now: datetime, *, careful: bool, own_transaction: bool) -> list[Stored]:
    """Every post of ``pending`` inside the caller's transaction, with one statement per kind of row for all.

    Locks in one order in every transaction, so batches of two processes never deadlock: the idempotency keys
    (sorted), then the rooms' rows, then the notified agents' rows (each in id order).
    """
    claims = _claim_all(pending, now, careful=careful)
    fresh = [entry for entry in pending if claims.get(id(entry), _NO_CLAIM)[1] is None]
    if fresh:
        updates = _room_updates(fresh, now)
        notified = _notified(fresh)
        # On PostgreSQL, with no agent's row to lock between the rooms and the messages, the rooms' UPDATEs go in the
        # messages' round trip (``chat.postgres_batch``): one round trip less while the rooms are locked.
        ahead = connections[DEFAULT_DB_ALIAS].vendor == "postgresql" and not notified
        if not ahead:
            _count_on_rooms(fresh, updates)
            _lock_notified(notified)
        messages, counted = _insert_all([entry.post for entry in fresh], now, ahead=updates if ahead else [])
        _check_rooms(fresh, updates, counted)
        webhook_events.enqueue_batch_deliveries(messages=messages)
        mentions.record_all(
            [(message, entry.post.conversation) for message, entry in zip(messages, fresh, strict=True)]
        )
        _announce_on_commit(messages, own_transaction=own_transaction)
        _fill_answers(
            [
                (claims[id(entry)][0], entry.post.once, message)
                for entry, message in zip(fresh, messages, strict=True)
                if id(entry) in claims
            ]
        )
        stored = {id(entry): Stored(message=message) for entry, message in zip(fresh, messages, strict=True)}
    else:
        stored = {}
    return [stored.get(id(entry)) or Stored(replayed=claims[id(entry)][1]) for entry in pending]


_NO_CLAIM: tuple[IdempotencyKey | None, IdempotencyKey | None] = (None, None)


def _claim_all(
    pending: list[_Entry], now: datetime, *, careful: bool
) -> dict[int, tuple[IdempotencyKey | None, IdempotencyKey | None]]:
    """Take the keys of the round's keyed posts, in sorted order: ``id(entry) → (row to fill, earlier answer)``.

    The common case — every key new — is one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for all. A key that
    was taken (a retry) raises ``_Conflict``: the round is rolled back and written again ``careful``ly, key by
    key, reading each existing row (locked) before inserting, in the order of the keys, as a retry always was.
    """
    keyed = sorted(
        ((entry, entry.post.once) for entry in pending if entry.post.once is not None),
        key=lambda pair: (str(pair[0].post.agent.pk), pair[1].key),
    )
    if not keyed:
        return {}
    claims: dict[int, tuple[IdempotencyKey | None, IdempotencyKey | None]] = {}
    if careful:
        for entry, once in keyed:
            try:
                claims[id(entry)] = _claim(agent_id=entry.post.agent.pk, once=once, now=now)
            except (IdempotencyKeyReused, IntegrityError) as error:
                raise _OneFailed(entry, error) from error
        return claims
    fields = IdempotencyKey._meta
    db = connections[DEFAULT_DB_ALIAS]  # the thread's own wrapper: each access through the proxy is a lookup
    table, key = db.ops.quote_name(fields.db_table), db.ops.quote_name("key")
    agent_pk = Agent._meta.pk
    body = fields.get_field("body").get_db_prep_value({}, db)
    created_at = fields.get_field("created_at").get_db_prep_value(now, db)
    params: list[Any] = []
    prepared = []  # each author's id as the database returns it
    for entry, once in keyed:
        prepared.append(agent_pk.get_db_prep_value(entry.post.agent.pk, db))
        params += [prepared[-1], once.key, once.fingerprint, body, created_at]
    values = ", ".join(["(%s, %s, %s, 0, %s, %s)"] * len(keyed))
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (agent_id, {key}, fingerprint, status_code, body, created_at) "  # noqa: S608
            f"VALUES {values} ON CONFLICT (agent_id, {key}) DO NOTHING RETURNING id, agent_id, {key}",
            params,
        )
        rows = cursor.fetchall()
    if len(rows) != len(keyed):
        raise _Conflict()
    taken = {(agent_id, key_): pk for pk, agent_id, key_ in rows}
    for (entry, once), agent_id in zip(keyed, prepared, strict=True):
        pk = taken[(agent_id, once.key)]  # matched by key: no reliance on the rows' order
        record = IdempotencyKey(pk=pk, agent_id=entry.post.agent.pk, key=once.key, fingerprint=once.fingerprint)
        claims[id(entry)] = (record, None)
    return claims


_RoomUpdate = tuple[str, str, list[Any]]  # room id, statement, its parameters


def _room_updates(fresh: list[_Entry], now: datetime) -> list[_RoomUpdate]:
    """Count the new messages on their rooms' rows (in id order), which locks each until commit.

    One plain UPDATE per room of the batch, run before any of its messages is inserted (so ids of one room are
    handed out in commit order, contract §2): by ``_count_on_rooms``, or ahead of the messages' ``INSERT`` in its
    query string. A room that is gone fails its first post (``RoomNotFound``, ``_check_rooms``); the round is
    written again without it. The ORM's ``F()`` expression resolution was a tenth of a post's CPU time.
    """
    db = connections[DEFAULT_DB_ALIAS]
    counts: dict[str, int] = {}
    for entry in fresh:
        counts[entry.post.room.pk] = counts.get(entry.post.room.pk, 0) + 1
    table = db.ops.quote_name(Room._meta.db_table)
    at = db.ops.adapt_datetimefield_value(now)
    return [
        (
            room_id,
            # active_at: the group list's order.
            f"UPDATE {table} SET visible_count = visible_count + %s, last_message_at = %s, "  # noqa: S608
            "active_at = %s WHERE id = %s",
            [counts[room_id], at, at, room_id],
        )
        for room_id in sorted(counts)
    ]


def _count_on_rooms(fresh: list[_Entry], updates: list[_RoomUpdate]) -> None:
    """The rooms' UPDATEs one by one, each room's first post failing at once if its room is gone."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        for room_id, statement, params in updates:
            cursor.execute(statement, params)
            _check_rooms(fresh, [(room_id, statement, params)], [cursor.rowcount])


def _check_rooms(fresh: list[_Entry], updates: list[_RoomUpdate], counted: list[int]) -> None:
    """``counted``: the rows each of ``updates`` changed (none when they ran apart: nothing to check)."""
    for (room_id, _, _), rows in zip(updates, counted, strict=False):
        if rows != 1:
            gone = next(entry for entry in fresh if entry.post.room.pk == room_id)
            raise _OneFailed(gone, RoomNotFound())


def _notified(fresh: list[_Entry]) -> set[uuid.UUID]:
    """The agents the batch may notify, whose rows a database with row locks locks after the rooms."""
    if not connections[DEFAULT_DB_ALIAS].features.has_select_for_update:
        return set()
    agents: set[uuid.UUID] = set()
    for entry in fresh:
        conversation = entry.post.conversation
        agents.update(agent.pk for agent in conversation.mentions)
        if conversation.reply_to is not None:
            agents.add(conversation.reply_to.agent_id)
    return agents


def _lock_notified(agents: set[uuid.UUID]) -> None:
    """Lock the agents the batch may notify, in id order, after the rooms: feed ids of one agent are then handed
    out in commit order (the §2 invariant, per feed). SQLite has one writer (``_notified`` is empty there)."""
    if agents:
        list(Agent.objects.select_for_update(no_key=True).filter(pk__in=agents).order_by("pk").values_list("pk"))


_MESSAGE_FIELDS = [field for field in Message._meta.concrete_fields if not field.primary_key]
_AGENT_COLUMN = [field.attname for field in _MESSAGE_FIELDS].index("agent_id")


def _insert_all(posts: list[RoomPost], now: datetime, *, ahead: list[_RoomUpdate]) -> tuple[list[Message], list[int]]:
    """The batch's messages as one ``INSERT … RETURNING``, in queue order.

    The ids must follow the queue. Neither SQLite nor PostgreSQL documents the order of ``RETURNING`` rows (both
    return them in the order the rows were inserted, which Django's ``bulk_create`` relies on as well): each
    returned row carries its author, reply target and text, and the batch fails (``DatabaseError``) rather than give
    a post another's id unless the row at each place matches the post at that place and the ids rise along the
    queue. Two posts that match each other on all three are the same row but for the id, so either order is exact.
    Each column is prepared by its own field; the ORM's save machinery (signals, the compiler) cost more than the
    rest of the writer's statements together.
    """
    messages = [_new_message(post, now) for post in posts]
    db = connections[DEFAULT_DB_ALIAS]  # the thread's own wrapper: each access through the proxy is a lookup
    same = {"created_at": now, "hidden": False, "hidden_at": None}  # one value for the whole batch: prepared once
    prepared_same = {f.attname: f.get_db_prep_save(same[f.attname], db) for f in _MESSAGE_FIELDS if f.attname in same}
    tails: dict[str, int] = {}
    counted: list[int] = []
    if db.vendor == "postgresql":
        # Other apps' rows (the search index's) in the INSERT's own statement: no round trip of their own while the
        # rooms are locked.
        answers = message_signals.messages_inserting.send(sender=Message, messages=messages)
        with_rows = [cast(message_signals.RowsWithMessages, each) for _, each in answers if each is not None]
        rows, tails, counted = postgres_batch.insert(
            messages,
            _MESSAGE_FIELDS,
            prepared_same,
            db,
            ahead=[(sql, params) for _, sql, params in ahead],
            with_rows=with_rows,
        )
        agents = [message.agent_id for message in messages]  # as psycopg returns a uuid column
    else:
        rows, agents = _insert_values(messages, prepared_same, db)
    if len(rows) != len(messages):
        raise DatabaseError("the messages' INSERT returned another number of rows")
    last = 0
    for message, agent, (pk, agent_id, reply_to_id, content) in zip(messages, agents, rows, strict=True):
        if (agent_id, reply_to_id, content) != (agent, message.reply_to_id, message.content) or pk <= last:
            raise DatabaseError("the messages' INSERT returned its rows in another order")
        last = message.pk = pk
        message._state.adding = False
        message._state.db = db.alias
    for room_id, tail in tails.items():
        hub.visible_in_transaction(hub.room_channel(room_id), tail)
    return messages, counted


_Rows = tuple[list[tuple[Any, ...]], list[Any]]  # the returned rows, each author's id as the database returns it


def _insert_values(messages: list[Message], prepared_same: dict[str, Any], db: BaseDatabaseWrapper) -> _Rows:
    """``INSERT … VALUES (…), (…) RETURNING``, a placeholder per value (SQLite)."""
    params: list[Any] = []
    agents = []
    for message in messages:
        prepared = [
            prepared_same[field.attname]
            if field.attname in prepared_same
            else field.get_db_prep_save(getattr(message, field.attname), db)
            for field in _MESSAGE_FIELDS
        ]
        agents.append(prepared[_AGENT_COLUMN])
        params += prepared
    columns = ", ".join(db.ops.quote_name(cast(str, field.column)) for field in _MESSAGE_FIELDS)
    row = "(" + ", ".join(["%s"] * len(_MESSAGE_FIELDS)) + ")"
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {db.ops.quote_name(Message._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(messages))} RETURNING id, agent_id, reply_to_id, content",
            params,
        )
        return cursor.fetchall(), agents


def _new_message(post: RoomPost, now: datetime) -> Message:
    """``Message(room=…, agent=…, …)`` without ``Model.__init__`` (its defaults and relation descriptors were a
    tenth of the writer's time): every concrete field's value set directly, the room, author and reply target
    cached as the relations' objects. A test holds it equal to the constructor's, field by field."""
    message = Message.__new__(Message)
    state = ModelState()
    target = post.conversation.reply_to
    state.fields_cache = {"room": post.room, "agent": post.agent, "reply_to": target}
    message.__dict__.update(
        _state=state,
        id=None,
        room_id=post.room.pk,
        agent_id=post.agent.pk,
        content=post.content,
        signature=post.signature,
        signature_verified=post.signature_verified,
        created_at=now,
        hidden=False,
        hidden_at=None,
        mentions=post.conversation.mention_data,
        reply_to_id=None if target is None else target.pk,
    )
    return message


def _announce_on_commit(messages: list[Message], *, own_transaction: bool) -> None:
    """Once the batch commits: its rooms' versions bumped and each message framed (from the message the writer
    holds, its author, mentions and reply target included; each room's id before it is read now, the frame built
    after the commit) and published on its room, all in one ``hub.announce`` (with Redis one trip for the batch),
    the messages counted.

    In a caller's transaction (``own_transaction`` False) the versions are bumped now as well: that transaction may
    never commit (a test's), and what it wrote must still not be served from an older answer inside it. The
    writer's own transaction commits at once, so a bump before it would change nothing.
    """
    rooms: dict[str, str] = {}
    for message in messages:
        rooms.setdefault(message.room_id, message.room.kind)
    scopes = [freshness.room(room_id) for room_id in rooms]
    if not own_transaction:
        freshness.changed(*scopes)
    placed = []
    for message in messages:
        channel = hub.room_channel(message.room_id)
        placed.append((channel, message, hub.after_id_in_transaction(channel, message.pk)))  # the id before, now

    kinds = Counter(rooms[message.room_id] for message in messages)

    def publish() -> None:
        # The frames are built here, after the commit: on PostgreSQL the rooms' rows are locked until it, and
        # the other processes' batches wait for them.
        hub.announce(scopes, [(channel, events.message_event(message), after) for channel, message, after in placed])
        for kind, count in kinds.items():
            metrics.MESSAGES_POSTED.labels(kind).inc(count)

    # Robust: a failure here (Redis gone) comes after the commit and cannot undo it. Raised, it would reach
    # ``_write_round`` as a failed batch, which writes each post again — a second copy of each — and answers its
    # posters with an error for posts that are stored. Logged instead; a stream finds the message by the next
    # frame's gap (it reads the log) and a resume reads it from the log.
    transaction.on_commit(publish, robust=True)


def _fill_answers(filled: list[tuple[IdempotencyKey | None, Once | None, Message]]) -> None:
    """Each claimed key's answer (status and body), stored with its message: one statement for the batch."""
    db = connections[DEFAULT_DB_ALIAS]
    rows = []
    body_field = IdempotencyKey._meta.get_field("body")
    for record, once, message in filled:
        if record is None or once is None:
            continue
        record.status_code, record.body = once.answer(message)
        rows.append((record.status_code, body_field.get_db_prep_value(record.body, db), record.pk))
    if not rows:
        return
    table = db.ops.quote_name(IdempotencyKey._meta.db_table)
    with db.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET status_code = %s, body = %s WHERE id = %s", rows)  # noqa: S608


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


writer: GroupCommit[RoomPost, Stored] = GroupCommit(_write_batch, _write_one, metrics.POSTS_PER_COMMIT)
