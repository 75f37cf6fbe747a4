"""Idempotent message POSTs: the ``Idempotency-Key`` of a request, the fingerprint of what it asks for, and the
first answer replayed for a retry (contract §1)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone
from rest_framework.request import Request

from accounts.models import Agent
from chat import events, writer
from chat.exceptions import IdempotencyKeyReused, InvalidIdempotencyKey, PostHeld
from chat.models import IdempotencyKey, Message

_KEY = re.compile(r"[\x21-\x7e]{1,64}")


def idempotency_key(request: Request) -> str | None:
    return checked_key(request.headers.get("Idempotency-Key"))


def checked_key(key: str | None) -> str | None:
    """``key`` if it is a valid Idempotency-Key (1–64 printable ASCII), ``None`` if absent; else 400."""
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise InvalidIdempotencyKey()
    return key


def fingerprint(request: Request) -> str:
    """The same request body (whatever its key order or spacing) to the same path, as one hash."""
    return fingerprint_of(str(request.method), request.path, request.data)


def fingerprint_of(method: str, path: str, data: object) -> str:
    """What ``fingerprint`` hashes; MCP tools describe their call as the REST request it stands for."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


# --- Answering once per key -----------------------------------------------------------------------------------
# HTTP statuses and bodies live here, at the edge of the app: services store and return domain objects.


@dataclass(frozen=True)
class KeyedAnswer:
    """The answer to a message-creating request: new, or the first answer replayed for a retry."""

    status: int
    body: dict[str, Any]
    replayed: bool


def message_answer(message: Message) -> dict[str, Any]:
    """The body of a 201 for a new room message, on every surface (a retry through another replays it)."""
    return {"success": True, "message": events.message_data(message)}


def post_once(
    *,
    agent: Agent,
    key: str | None,
    fingerprint: str | Callable[[], str],
    check: Callable[[], writer.RoomPost],
    answer: Callable[[Message], dict[str, Any]],
    status: int = 201,
) -> KeyedAnswer:
    """A room post made once per (agent, Idempotency-Key) in 24 h; a retry gets the first answer back.

    A retry whose first answer is stored is answered at once (no rule, no limit counted again). Otherwise the post
    is checked (``check``: ``chat.services.check_room_post``) and the writer claims the key in the transaction that
    stores the message, with the answer: a concurrent retry that got past the first look is replayed there.
    ``fingerprint`` may be given as a function: it is then computed only for a keyed post, the only one it serves.
    """
    prepared = prepare_once(agent=agent, key=key, fingerprint=fingerprint, check=check, answer=answer, status=status)
    if isinstance(prepared, KeyedAnswer):
        return prepared
    return prepared.finish(writer.store(prepared.post))


@dataclass(frozen=True)
class PendingPost:
    """A checked room post on its way to the writer, and how its answer is made once the writer has stored it."""

    post: writer.RoomPost
    answer: Callable[[Message], dict[str, Any]]
    status: int

    def finish(self, stored: writer.Stored) -> KeyedAnswer:
        if stored.replayed is not None:
            return KeyedAnswer(stored.replayed.status_code, stored.replayed.body, True)
        assert stored.message is not None
        return KeyedAnswer(self.status, self.answer(stored.message), False)


def prepare_once(
    *,
    agent: Agent,
    key: str | None,
    fingerprint: str | Callable[[], str],
    check: Callable[[], writer.RoomPost],
    answer: Callable[[Message], dict[str, Any]],
    status: int = 201,
) -> KeyedAnswer | PendingPost:
    """``post_once`` up to the writer: the answer already (a replay, a held post), or the post for the writer
    (``writer.store``, or ``writer.store_all`` with others) and its ``PendingPost.finish``."""
    if key is not None:
        if not isinstance(fingerprint, str):
            fingerprint = fingerprint()
        earlier = _answered(agent=agent, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return earlier
    try:
        post = check()
    except PostHeld as held:  # a house rule holds it for a moderator (contract §13): 202, replayed for a retry
        body = held.body
        return _answer_once(agent=agent, key=key, fingerprint=fingerprint, answer=lambda: body, status=202)
    if key is not None:
        assert isinstance(fingerprint, str)
        post.once = writer.Once(key=key, fingerprint=fingerprint, answer=lambda message: (status, answer(message)))
    return PendingPost(post=post, answer=answer, status=status)


def _answered(*, agent: Agent, key: str, fingerprint: str) -> KeyedAnswer | None:
    """The stored answer for this key, if any. One plain SELECT on the (agent, key) unique index: the ORM's query
    building was a quarter of a keyed post's CPU time outside the writer (bench/writer_cpu.py)."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's own wrapper: each access through the proxy is a lookup
    fields = IdempotencyKey._meta
    since = fields.get_field("created_at").get_db_prep_value(timezone.now() - writer.IDEMPOTENCY_WINDOW, db)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT fingerprint, status_code, body FROM {db.ops.quote_name(fields.db_table)} "  # noqa: S608
            f"WHERE agent_id = %s AND {db.ops.quote_name('key')} = %s AND created_at >= %s",
            [Agent._meta.pk.get_db_prep_value(agent.pk, db), key, since],
        )
        row = cursor.fetchone()
    if row is None or not row[1]:
        return None
    if row[0] != fingerprint:
        raise IdempotencyKeyReused()
    body = json.loads(row[2]) if isinstance(row[2], str | bytes) else row[2]  # the field has no decoder of its own
    return KeyedAnswer(row[1], body, True)


def create_once(
    *, agent: Agent, key: str | None, fingerprint: str, create: Callable[[], dict[str, Any]], status: int = 201
) -> KeyedAnswer:
    """Run ``create`` once per (agent, Idempotency-Key) in 24 h; a retry gets the first answer back (direct messages).

    The key row is inserted first, in the same transaction as what ``create`` writes: a concurrent
    retry blocks on the unique index until the first commits, then replays it. A failure rolls the
    key back with everything else, so a failed request may be retried with the same key.
    """
    return _answer_once(agent=agent, key=key, fingerprint=fingerprint, answer=create, status=status)


def _answer_once(
    *,
    agent: Agent,
    key: str | None,
    fingerprint: str | Callable[[], str],
    answer: Callable[[], dict[str, Any]],
    status: int,
) -> KeyedAnswer:
    if key is None:
        try:
            return KeyedAnswer(status, answer(), False)
        except PostHeld as held:
            return KeyedAnswer(202, held.body, False)
    if not isinstance(fingerprint, str):
        fingerprint = fingerprint()
    with transaction.atomic():
        record = _claim_idempotency_key(agent=agent, key=key, fingerprint=fingerprint)
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.status_code:
            return KeyedAnswer(record.status_code, record.body, True)
        try:
            body = answer()
        except PostHeld as held:  # what the hold stored stays (inside this transaction); a retry replays the 202
            body, status = held.body, 202
        record.status_code, record.body = status, body
        record.save(update_fields=["status_code", "body"])
    return KeyedAnswer(status, body, False)


def _claim_idempotency_key(*, agent: Agent, key: str, fingerprint: str) -> IdempotencyKey:
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(agent=agent, key=key, fingerprint=fingerprint)
    except IntegrityError:
        record = IdempotencyKey.objects.select_for_update().get(agent=agent, key=key)
    if record.created_at >= timezone.now() - writer.IDEMPOTENCY_WINDOW:
        return record
    record.delete()  # an expired key starts afresh
    return IdempotencyKey.objects.create(agent=agent, key=key, fingerprint=fingerprint)
