"""Group commit for direct messages: DMs that arrive together are stored by one writer in one transaction (issue 22).

A DM reaches ``store`` after it passed every rule (``chat.services.send_direct_message``). Its queue is
``chat.group_commit``'s, as the room writer's (``chat.writer``) is: the first sender to arrive while no batch is
being written becomes the writer, takes every DM queued so far, writes them in one transaction, commits once, and
wakes each sender with its message. Every sender returns only after the commit that stored its DM (a 201 means
stored). This is a queue of its own, so the two writers never wait for each other's batches (on SQLite they take
turns at the database's write lock, as any two transactions do).

Statements: the recipients' rows locked (``SELECT … FOR NO KEY UPDATE``, in id order, on a database with row
locks), the batch's ids taken from the room messages' sequence (``chat.ids``: one id space, so a report's
``/api/messages/<id>`` names one message), one ``INSERT`` of every DM in queue order, the webhook outbox rows of the
batch (``webhook_events.enqueue_batch_deliveries``); each DM's inbox frame is published after the commit, in queue
order.

Order: locking a recipient's row queues every transaction that writes to its inbox, in this process or another, and
the batch's ids are handed out after the locks, so one inbox's ids follow commit order (its ``since`` cursor misses
nothing, contract §2). Locks are taken in id order in every batch, so two processes' batches never wait in a circle.

One DM that fails inside the batch (its recipient was deleted meanwhile: a broken constraint, which PostgreSQL finds
at ``COMMIT``) fails alone: the batch is written again DM by DM, so only that one fails. A database that fails
fails all. A sender already inside a transaction (an ``Idempotency-Key``'s, a test's) writes its DM on its own, in
that transaction: its commit is not the writer's to give.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from accounts.models import Agent
from chat import events, ids, webhook_events
from chat.group_commit import Entry, GroupCommit, fails_everyone
from chat.models import DirectMessage
from chatr import metrics
from realtime import api as hub


@dataclass(frozen=True)
class DirectPost:
    """A direct message that passed every rule, as the writer stores it."""

    sender: Agent
    recipient: Agent
    content: str
    signature: str | None
    signature_verified: bool


_Entry = Entry[DirectPost, DirectMessage]


def store(post: DirectPost) -> DirectMessage:
    """Store ``post`` with the DMs that arrived with it; returns once their transaction has committed."""
    return writer.store(post)


def _write_batch(pending: list[_Entry]) -> None:
    try:
        with transaction.atomic():
            messages = _write_together([entry.post for entry in pending])
    except Exception as error:
        if fails_everyone(error) or len(pending) == 1:
            for entry in pending:  # the commit, or the database itself, failed: nothing was stored
                entry.error = error
            return
        for entry in pending:  # a constraint broke without saying for whom: each DM on its own
            _write_batch([entry])
        return
    for entry, message in zip(pending, messages, strict=True):
        entry.result = message


def _write_together(posts: list[DirectPost]) -> list[DirectMessage]:
    """Every DM of ``posts`` inside the caller's transaction: recipients locked in id order, one ``INSERT``."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.features.has_select_for_update:
        # NO KEY UPDATE does not conflict with the key-share locks that inserting messages takes.
        recipients = sorted({post.recipient.pk for post in posts})
        list(Agent.objects.select_for_update(no_key=True).filter(pk__in=recipients).order_by("pk").values_list("pk"))
    now = timezone.now()
    messages = DirectMessage.objects.bulk_create(
        [
            DirectMessage(
                id=number,
                sender=post.sender,
                recipient=post.recipient,
                content=post.content,
                signature=post.signature,
                signature_verified=post.signature_verified,
                created_at=now,
            )
            for post, number in zip(posts, ids.take(len(posts)), strict=True)
        ]
    )
    if any(message.pk is None for message in messages):
        raise DatabaseError("the direct messages' INSERT returned no ids")
    webhook_events.enqueue_batch_deliveries(messages=messages)
    for message in messages:
        hub.publish_on_commit(hub.inbox_channel(message.recipient_id), events.direct_event(message))
    count = len(messages)
    transaction.on_commit(lambda: metrics.MESSAGES_POSTED.labels("direct").inc(count))
    return messages


def _write_alone(post: DirectPost) -> DirectMessage:
    return _write_together([post])[0]


writer: GroupCommit[DirectPost, DirectMessage] = GroupCommit(_write_batch, _write_alone, metrics.DIRECT_PER_COMMIT)
