"""The live SSE streams (contract §5): ``GET /api/stream`` and ``GET /api/inbox/stream``, on shared machinery.

A stream is: ``retry:``, then its backlog from the database (history, or the replay after
``Last-Event-ID``), then the frames its hub subscription receives. It subscribes *before* loading the
backlog and drops live frames the backlog already holds, so a message committed in between is sent
exactly once. The backlog is one query off the event loop (``chatr.offloop``), whose thread gives its
database connection back straight after; nothing else touches the database for the life of the stream.

``open_stream`` is the reusable part: the inbox stream is ``open_stream(request,
channel=realtime.inbox_channel(agent.id), backlog=<loader of its events>)``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string

from accounts.authentication import authenticate_key, presented_key
from accounts.models import Agent
from chat import events, selectors
from chat.models import LOBBY_ID
from chatr import metrics
from chatr.errors import ChatrError, InvalidInput, error_response, is_outage, method_not_allowed, outage_response
from chatr.fields import check_query
from chatr.offloop import run_off_loop
from realtime import api as realtime
from realtime.api import versions

logger = logging.getLogger("chatr.stream")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Backlog = Callable[[int | None], list[dict[str, Any]]]
"""Given the Last-Event-ID (or None), the events to send before live ones, oldest first (sync)."""

_MAX_ID = 2**63 - 1


def room_backlog(room_id: str, after: int | None) -> list[dict[str, Any]]:
    messages, is_replay = selectors.stream_backlog(room_id=room_id, after=after)
    if is_replay:
        return [events.message_event(message) for message in messages]
    return [events.history_event(messages)]


def inbox_backlog(agent: Agent, after: int | None) -> list[dict[str, Any]]:
    messages, is_replay = selectors.inbox_backlog(agent=agent, after=after)
    if is_replay:
        return [events.direct_event(message) for message in messages]
    return [events.inbox_history_event(messages)]


class ReadyHistory:
    """Each room's ``history`` frame as ready bytes, rebuilt once per change of the room (``realtime.api.versions``).

    A crowd that connects at once (one shared link) costs one query and one rendering per change,
    not one per viewer. Exact like every ready-made answer: a frame is kept with the versions read
    before it was loaded, and the stream subscribed before reading them, so a message committed in
    between is either in the frame or arrives live (and is dropped if it was both).
    """

    MAX_ROOMS = 1024

    def __init__(self) -> None:
        self.frames: dict[str, tuple[versions.Version, bytes]] = {}
        self.loading: dict[tuple[str, versions.Version], asyncio.Future[bytes]] = {}

    async def frame(self, room_id: str) -> bytes:
        version = await versions.acurrent((versions.room(room_id), versions.AGENTS))
        kept = self.frames.get(room_id)
        if kept is not None and kept[0] == version:
            return kept[1]
        loading = self.loading.get((room_id, version))
        if loading is None:
            # A task of its own, not the first viewer's: a viewer that leaves while it loads (its task is
            # cancelled) must not take the frame away from the crowd waiting for the same load.
            loading = self.loading[(room_id, version)] = asyncio.ensure_future(self._load(room_id, version))
            loading.add_done_callback(_retrieved)
        return await asyncio.shield(loading)

    async def _load(self, room_id: str, version: versions.Version) -> bytes:
        try:
            frame = realtime.encode((await run_off_loop(room_backlog, room_id, None))[0])
        finally:
            del self.loading[(room_id, version)]
        if len(self.frames) >= self.MAX_ROOMS:
            self.frames.clear()
        self.frames[room_id] = (version, frame)
        return frame


def _retrieved(task: asyncio.Future[bytes]) -> None:
    """A load whose every viewer left still had its outcome looked at (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


ready_history = ReadyHistory()


async def inbox_stream(request: HttpRequest) -> HttpResponse:
    """``GET /api/inbox/stream`` (Bearer): the caller's direct messages, framed like the room stream."""
    return await _agent_stream(request, channel=realtime.inbox_channel, backlog=inbox_backlog)


def mentions_backlog(agent: Agent, after: int | None) -> list[dict[str, Any]]:
    items, is_replay = selectors.mentions_backlog(agent=agent, after=after)
    if is_replay:
        return [events.mention_event(item) for item in items]
    return [events.mention_history_event(items)]


async def mentions_stream(request: HttpRequest) -> HttpResponse:
    """``GET /api/mentions/stream`` (Bearer): the caller's mentions and replies as they happen (contract §12)."""
    return await _agent_stream(request, channel=realtime.mentions_channel, backlog=mentions_backlog)


async def _agent_stream(
    request: HttpRequest,
    *,
    channel: Callable[[object], str],
    backlog: Callable[[Agent, int | None], list[dict[str, Any]]],
) -> HttpResponse:
    """A stream of the calling agent's own channel; it ends when the agent's key stops working."""
    try:
        agent = await run_off_loop(authenticate_key, presented_key(request))
    except ChatrError as error:
        return _error_response(error)
    except Exception as error:
        if not is_outage(error):
            raise
        return outage_response(error)
    return await open_stream(
        request, channel=channel(agent.pk), backlog=functools.partial(backlog, agent), agent_id=agent.pk
    )


async def room_stream(request: HttpRequest) -> HttpResponse:
    """``GET /api/stream[?room=<id>]``: the lobby's stream, or any existing room's."""
    room_id = request.GET.get("room") or LOBBY_ID
    return await open_stream(
        request,
        channel=realtime.room_channel(room_id),
        backlog=functools.partial(room_backlog, room_id),
        check=None if room_id == LOBBY_ID else functools.partial(selectors.get_room, room_id=room_id),
        with_stats=True,
        history=functools.partial(ready_history.frame, room_id),
    )


async def open_stream(
    request: HttpRequest,
    *,
    channel: str,
    backlog: Backlog,
    check: Callable[[], object] | None = None,
    with_stats: bool = False,
    history: Callable[[], Awaitable[bytes]] | None = None,
    agent_id: object | None = None,
) -> HttpResponse:
    """An SSE response for ``channel``; errors (400, 404, 429) answer in the contract's shape instead.

    ``check`` runs first (off the event loop) and may raise a ``ChatrError``, e.g. an unknown room.
    ``history``, when given, answers a fresh connect with ready-made bytes instead of ``backlog(None)``.
    ``agent_id``: whose key opened the stream (rotation, revocation and ban end it).
    A stream is opened by GET only: any other method is 405 before anything is counted or held.
    """
    if request.method != "GET":
        return method_not_allowed("GET")
    try:
        check_query(request.GET, ("room", "lastEventId"), allow_empty=True)  # repeated: 400, as on REST
        after = last_event_id(request)
        slot = await _admit_or_undo(check, request.client_ip)  # type: ignore[attr-defined]
    except ChatrError as error:
        return _error_response(error)
    except Exception as error:
        if not is_outage(error):
            raise
        return outage_response(error)  # the database or Redis is away: the client retries
    stream = _Stream(slot, kind=channel.partition(":")[0])
    serve = functools.partial(
        _serve,
        stream=stream,
        channel=channel,
        backlog=backlog,
        after=after,
        with_stats=with_stats,
        history=history,
        agent_id=agent_id,
    )
    response = EventStreamResponse(serve, on_close=stream.close)
    # A client that leaves before ``serve`` starts cancels the request without closing the response:
    # the stream is closed when the response is collected then.
    weakref.finalize(response, stream.close)
    return response


def _error_response(error: ChatrError) -> HttpResponse:
    headers = getattr(error, "headers", None) or {}
    if error.status_code == 401:
        headers = {**headers, "WWW-Authenticate": 'Bearer realm="chatr"'}
    return error_response(
        status=error.status_code,
        code=error.code,
        message=error.message,
        details=getattr(error, "details", None),
        headers=headers,
        **error.extra,
    )


class EventStreamResponse(HttpResponse):
    """``text/event-stream`` with the headers of contract §5, written by ``serve(send)`` itself.

    Not a ``StreamingHttpResponse``: the server's stream handler (``chatr.asgi``) sends the headers and
    then hands the connection's ASGI ``send`` to ``serve``, which writes the backlog and then lets the hub
    write live frames straight to it (no Django response iteration per frame). ``on_close`` runs when
    Django closes the response, also if ``serve`` never ran (the client left first).
    """

    def __init__(self, serve: Callable[[Send], Awaitable[None]], *, on_close: Callable[[], None]) -> None:
        super().__init__(content_type="text/event-stream")
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"
        self.serve = serve
        self._on_close = on_close

    def close(self) -> None:
        try:
            self._on_close()
        finally:
            super().close()


def last_event_id(request: HttpRequest) -> int | None:
    """The id to resume after: the ``Last-Event-ID`` header, else ``?lastEventId=``; None if absent."""
    raw = request.headers.get("Last-Event-ID")
    field = "Last-Event-ID"
    if raw is None or not raw.strip():
        raw, field = request.GET.get("lastEventId"), "lastEventId"
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_ID:
        raise InvalidInput({field: ["A message id (a non-negative integer) is required."]})
    return int(raw)


class TooManyStreams(ChatrError):
    status_code = 429
    code = "too_many_streams"

    def __init__(self) -> None:
        limit = settings.CHATR_MAX_STREAMS_PER_IP
        retry_after = 5
        self.headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + retry_after),
        }
        super().__init__(
            f"At most {limit} streams may be open from one address; close one first.",
            extra={"retry_after": retry_after},
        )


async def _admit_or_undo(check: Callable[[], object] | None, ip: str) -> realtime.Slot | None:
    if check is None and not settings.CHATR_RATELIMITS:
        return None  # nothing to look up, nothing to count: no thread
    # A client that leaves while the slot is being taken cancels us mid-await: the worker thread
    # still takes the slot, so give it back as soon as it has.
    admission = asyncio.ensure_future(run_off_loop(_admit, check, ip))
    try:
        return await asyncio.shield(admission)
    except asyncio.CancelledError:
        admission.add_done_callback(_undo_admission)
        raise


def _undo_admission(admission: asyncio.Future) -> None:
    if not admission.cancelled() and admission.exception() is None:
        realtime.release_slot_soon(admission.result())


def _admit(check: Callable[[], object] | None, ip: str) -> realtime.Slot | None:
    """Runs ``check`` and takes a stream slot for ``ip`` (None when limits are off)."""
    if check is not None:
        check()
    if not settings.CHATR_RATELIMITS:
        return None
    slot = realtime.take_stream_slot(ip)
    if slot is None:
        raise TooManyStreams()
    return slot


async def _serve(
    send: Send,
    *,
    stream: _Stream,
    channel: str,
    backlog: Backlog,
    after: int | None,
    with_stats: bool,
    history: Callable[[], Awaitable[bytes]] | None,
    agent_id: object | None,
) -> None:
    async def write(body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    try:
        jobs.start()
        await write(realtime.RETRY)
        subscription = stream.subscription = await realtime.subscribe(
            channel, wants_stats=with_stats, agent_id=agent_id
        )
        if after is None and history is not None:
            first = await history()
            newest = realtime.frame_id(first) or 0
        else:
            loaded = await run_off_loop(backlog, after)
            newest = after or 0
            for event in loaded:
                newest = max(newest, realtime.event_id(event) or 0)
            first = b"".join(realtime.encode(event) for event in loaded)
        # Until a live frame newer than the backlog shows up, live frames may repeat backlog ones.
        subscription.deduplicate_upto = newest
        if first:
            await write(first)
        # The headers are out: a wrapper that only completes them (the edge's ``body_send``) has nothing to do
        # for the live frames, which the hub writes with the send beneath it (one coroutine less per frame
        # per viewer).
        await subscription.live(getattr(send, "body_send", send))
    except realtime.Overflow:
        logger.info("a stream on %s was ended (fell behind, or its channel lost track); it resumes", channel)
    except (TimeoutError, Exception) as error:
        if not (isinstance(error, TimeoutError) or is_outage(error)):
            raise
        # The database or Redis went away while the stream started: end it cleanly, the client retries.
        logger.warning("a stream on %s could not start: %s: %s", channel, type(error).__name__, error)
    finally:
        stream.close()


class _Stream:
    """What one open stream holds: its hub subscription and its per-IP slot (whose lease the engine renews).

    ``close`` gives both back exactly once, from any thread (the garbage collector may call it).
    """

    def __init__(self, slot: realtime.Slot | None, *, kind: str) -> None:
        self.slot = slot
        self.kind = kind
        self.subscription: realtime.Subscription | None = None
        self.loop = asyncio.get_running_loop()
        self.closed = False
        metrics.stream_opened(kind)

    def close(self) -> None:
        if self.closed:
            return
        if _running_loop() is not self.loop:
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.close)
            return
        self.closed = True
        metrics.stream_closed(self.kind)
        if self.subscription is not None:
            realtime.unsubscribe(self.subscription)
        realtime.release_slot_soon(self.slot)


def _slow_mode_seconds() -> dict[str, int]:
    """``{room id: seconds}`` of the rooms in slow mode, from the function ``CHATR_SLOW_MODES`` names (the house
    rules' app; chat imports nothing of it), or none if the setting is empty."""
    path = getattr(settings, "CHATR_SLOW_MODES", "")
    return import_string(path)() if path else {}


class _Jobs:
    """The once-per-process work of all streams: stats, keep-alives, presence expiry."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self.loop = loop
        for job in (self._stats, self._keepalive, self._presence):
            realtime.spawn(self._forever(job))

    async def _forever(self, job: Callable[[], Any]) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_outage(error):
                    logger.warning("stream job %s: the database or Redis is away: %s", job.__name__, error)
                else:
                    logger.exception("stream job %s failed", job.__name__)
                await asyncio.sleep(1)

    async def _stats(self) -> None:
        await asyncio.sleep(settings.CHATR_STREAM_STATS_SECONDS)
        if not any(subscription.wants_stats for subscription in realtime.subscriptions()):
            return
        stats = await run_off_loop(selectors.public_stats)
        slow = await run_off_loop(_slow_mode_seconds)
        frames: dict[str, bytes] = {}  # by channel: each room's frame carries its own slow mode (contract §13)
        now = asyncio.get_running_loop().time()
        for subscription in realtime.subscriptions():
            if subscription.wants_stats:
                frame = frames.get(subscription.channel)
                if frame is None:
                    seconds = slow.get(subscription.channel.partition(":")[2], 0)
                    frame = frames[subscription.channel] = realtime.encode(
                        events.stats_event({**stats, "slowModeSeconds": seconds})
                    )
                subscription.offer(frame, now)

    async def _keepalive(self) -> None:
        interval = settings.CHATR_STREAM_PING_SECONDS
        await asyncio.sleep(min(1.0, interval / 4))
        now = asyncio.get_running_loop().time()
        for subscription in realtime.subscriptions():
            if now - subscription.last_offer >= interval:
                subscription.offer(realtime.PING, now)

    async def _presence(self) -> None:
        from accounts.services import expire_presence

        await asyncio.sleep(settings.CHATR_PRESENCE_SWEEP_SECONDS)
        await run_off_loop(expire_presence)


jobs = _Jobs()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def stream_status(request: HttpRequest) -> HttpResponse:
    """``GET /api/stream/status`` when ``CHATR_STREAM_STATUS`` is on: this process's hub counts and the
    number of streams open from the caller's own address (nothing about anybody else's)."""
    if not settings.CHATR_STREAM_STATUS:
        return error_response(status=404, code="not_found", message="Not found.")
    if request.method not in {"GET", "HEAD"}:
        return method_not_allowed("GET", "HEAD")
    ip = request.client_ip  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "success": True,
            "subscribers": realtime.subscriber_count(),
            "channels": realtime.channel_count(),
            "openStreams": await run_off_loop(realtime.count_streams, ip),
        }
    )
