"""The per-process fan-out of stream frames. Only services publish, and only after commit.

An event is encoded once to the bytes of its SSE frame (``realtime.frames.encode``) and the same bytes
are handed to every viewer of its channel in this process. A live viewer (a stream) is written to by
the hub itself, in the loop that fans out: one ASGI ``send`` per viewer per burst, with one message
dict shared by all of them, and no task woken. A viewer whose socket pushes back gets a task that
finishes the write while later frames queue behind it (bounded); one that falls a whole queue behind
is closed, never waited for; it comes back with ``Last-Event-ID`` and the database replays what it
missed.

How a frame reaches the other processes is the backend's business (``realtime.backends``): with one
process it goes straight from the publishing thread into the event loop; with Redis it is published
once and each process listens once per channel its viewers watch.

The database is the log; a frame that carries an id is a doorbell. Channels whose kind has a
registered feed (``realtime.feeds``) are ordered. A frame may say which visible id of its channel
came before it (``after``, read by the publisher inside the transaction that committed it, while the
channel's ids were locked): when that is the last id this process fanned out, the frame is contiguous
and goes out at once, with no read. Otherwise (a frame published out of commit order, one lost on
the way, a publisher that did not say) the process reads the visible ids up to N it has not fanned
out yet (one query per burst, off the loop, coalesced while one is in flight) and fans them out in id
order, reusing the frames it already has. Two messages committed a few microseconds apart, whose
frames were published in the other order or lost, still reach every viewer once and in id order.
Frames without an id (delete, presence) are not ordered by id and pass straight through, behind any
read in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from chatr import chunk_writes, metrics
from chatr.offloop import run_off_loop
from realtime import backends, feeds, frames, slots

logger = logging.getLogger("chatr.hub")


class Overflow(Exception):
    """The viewer's stream ends: it fell behind by a whole queue, or its channel lost track of the log.

    Either way the client resumes with ``Last-Event-ID`` and the database replays what it missed.
    """


class Subscription:
    """One viewer of a channel. Lives in the event loop's thread.

    Two modes. Queued (``next_frames``, for waiters such as MCP tools): a bounded queue the owner reads.
    Live (``live``, for streams): the hub writes each frame to the viewer's connection itself, in the
    loop that fans out — no task is woken per viewer per frame. A write the socket cannot take at once
    (the client reads slowly) is finished by a task of its own while later frames queue up behind it;
    a viewer that falls a whole queue behind is ended, never waited for.

    ``direct`` is the viewer's ASGI ``send`` while the hub may write to it straight away (live, its
    backlog's duplicates behind it, no write pending, not ended), else ``None``; ``socket`` is then also
    its connection's chunk writer when the server has one (``chatr.chunk_writes``: uvicorn's httptools),
    which takes the frames' chunk as framed once for every viewer. The hub's fan-out loop reads these.
    """

    __slots__ = (
        "_busy",
        "_chunks",
        "_done",
        "_frames",
        "_limit",
        "_send",
        "_task",
        "_waiter",
        "agent_id",
        "channel",
        "deduplicate_upto",
        "direct",
        "last_offer",
        "overflowed",
        "socket",
        "wants_stats",
    )

    def __init__(
        self, channel: str, *, limit: int, wants_stats: bool, now: float, agent_id: object | None = None
    ) -> None:
        self.channel = channel
        self.wants_stats = wants_stats
        self.agent_id = agent_id  # whose key opened it: rotation, revocation and ban end it
        self.overflowed = False
        self.last_offer = now
        self.deduplicate_upto: int | None = None
        self.direct: Callable[[dict], Any] | None = None
        self.socket: chunk_writes.ChunkWriter | None = None
        self._chunks: chunk_writes.ChunkWriter | None = None
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._task = asyncio.current_task()  # the task that writes this viewer's response
        self._send: Callable[[dict], Any] | None = None
        self._busy: asyncio.Task | None = None
        self._done: asyncio.Future[None] | None = None

    def offer(self, frame: bytes, now: float) -> None:
        if self.overflowed or not self._fresh(frame):
            return
        self.last_offer = now
        if self._send is not None and self._busy is None:
            self._write({"type": "http.response.body", "body": frame, "more_body": True})
            self._settle()
            return
        if len(self._frames) >= self._limit:
            if self._waiter is None and self._task is not None and self._send is None:
                # Not waiting for frames means stuck writing to a client that does not read (the
                # server pushes back once the socket's buffers are full): end it there.
                self._task.cancel()
            elif self._busy is not None and self._task is not None:
                # Live, and its socket has not taken a write for a whole queue: abandon that write too.
                self._busy.cancel()
                self._task.cancel()
            self.end()
            return
        self._frames.append(frame)
        self._wake()

    def _fresh(self, frame: bytes) -> bool:
        """False for a frame the backlog already held (until a newer message shows up live)."""
        if self.deduplicate_upto is None:
            return True
        number = frames.frame_id(frame)
        if number is None:
            return True
        if number <= self.deduplicate_upto:
            return False
        self.deduplicate_upto = None
        return True

    def _settle(self) -> None:
        """Let the hub write to this viewer directly again once nothing stands in the way."""
        ready = self._send is not None and self._busy is None and self.deduplicate_upto is None
        self.direct = self._send if ready and not self.overflowed else None
        self.socket = self._chunks if self.direct is not None else None

    def end(self) -> None:
        """End the stream once what it is writing now is written; it resumes with Last-Event-ID."""
        self.overflowed = True
        self.direct = self.socket = None
        self._frames.clear()  # nothing more will be sent: let the memory go at once
        self._wake()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_frames(self) -> list[bytes]:
        """Every frame queued so far (at least one), oldest first; ``Overflow`` once it fell behind."""
        while not self._frames and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.overflowed:
            raise Overflow()
        queued = list(self._frames)
        self._frames.clear()
        return queued

    async def live(self, send: Callable[[dict], Any]) -> None:
        """Write every frame from now on straight to ``send`` (an ASGI send) until the stream ends.

        Returns when the hub ends the stream (``Overflow`` raised); the caller's cancellation (the
        client left) ends it too.
        """
        self._task = asyncio.current_task()
        self._done = asyncio.get_running_loop().create_future()
        self._send = send
        self._chunks = chunk_writes.chunk_writer(send)
        # Frames that came while the backlog was loading, less those it held.
        self._frames = deque(frame for frame in self._frames if self._fresh(frame))
        if self._frames:
            self._busy = asyncio.ensure_future(self._drain(None, None))
        self._settle()
        try:
            await self._done
        finally:
            self._send = self._chunks = None
            self.direct = self.socket = None
        raise Overflow()

    def _write(self, message: dict) -> None:
        """Hand ``message`` (an ASGI body message, possibly shared with other viewers) to the connection now.

        The usual case completes on the spot (the server's ``send`` does not suspend); when the socket
        pushes back, a task finishes the write and the frames queued behind it.
        """
        send = self._send
        assert send is not None
        writing = send(message)
        try:
            waited = writing.send(None)
        except StopIteration:
            return  # written: the usual case
        except BaseException:
            self.end()
            return
        self.pushed_back(writing, waited)

    def pushed_back(self, writing: Any, waited: Any) -> None:
        """The socket pushes back: finish this write in a task, and the frames that queue behind it."""
        self.direct = self.socket = None
        self._busy = asyncio.ensure_future(self._drain(writing, waited))

    async def _drain(self, writing: Any, waited: Any) -> None:
        try:
            while writing is not None:
                if waited is None:
                    await asyncio.sleep(0)  # a bare yield: try again on the next turn
                else:
                    # The write yielded this future to us, not to a task, so it is still marked as claimed by
                    # an ``await``; awaiting it as it is raises "await wasn't used with future" (the viewer
                    # was ended the first time its socket pushed back).
                    waited._asyncio_future_blocking = False
                    await waited
                try:
                    waited = writing.send(None)
                except StopIteration:
                    writing = None
            while self._frames and not self.overflowed and self._send is not None:
                queued = list(self._frames)
                self._frames.clear()
                await self._send({"type": "http.response.body", "body": b"".join(queued), "more_body": True})
        except asyncio.CancelledError:
            raise
        except BaseException:
            self.end()
        finally:
            self._busy = None
            self._settle()


class ChannelLog:
    """How far this process has fanned out one ordered channel.

    Frames with an id are doorbells: "the channel's log has grown up to this id". A frame whose
    ``after`` (the channel's visible id before it) is at most ``last`` is contiguous with what went
    out and goes out at once. Otherwise the hub reads the log from the database up to the highest id
    announced, one query per burst, and fans the items out in id order, never an id it has fanned out
    before. So frames published in another order than their commits (two writers a few microseconds
    apart, two processes), or lost on the way, reach every viewer once and in order anyway.
    """

    __slots__ = ("afters", "announced", "channel", "feed", "held", "known", "last", "ready", "task")

    def __init__(self, channel: str, feed: feeds.Feed, loop: asyncio.AbstractEventLoop) -> None:
        self.channel = channel
        self.feed = feed
        self.last: int | None = None  # the highest id fanned out; None until the first read
        self.announced = 0  # the highest id a doorbell announced
        self.known: dict[int, bytes] = {}  # frames that came with doorbells, not yet fanned out
        self.afters: dict[int, int] = {}  # of those, the visible id before each, when its publisher said
        self.held: list[bytes] = []  # frames without an id, waiting behind a read in flight
        self.ready: asyncio.Future[None] = loop.create_future()
        self.task: asyncio.Task | None = None

    def contiguous(self) -> list[bytes]:
        """Take the known frames that follow ``last`` without a gap, in id order (no read needed)."""
        assert self.last is not None
        taken: list[bytes] = []
        while self.known:
            number = min(self.known)
            if number <= self.last:  # the first read found it already fanned out (or before any viewer)
                del self.known[number]
                self.afters.pop(number, None)
                continue
            after = self.afters.get(number)
            if after is None or after > self.last:
                break
            taken.append(self.known.pop(number))
            del self.afters[number]
            self.last = number
        return taken


class Hub:
    """The fan-out state of one process, bound to the event loop that serves its viewers."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channels: dict[str, set[Subscription]] = {}
        # How many channels of each kind (``room``, ``mentions``…) have a viewer here: read from any thread, so a
        # publisher learns in one lookup that no frame of a kind can reach anyone (``watched``).
        self.kinds: dict[str, int] = {}
        self.logs: dict[str, ChannelLog] = {}
        self._tasks: set[asyncio.Task] = set()
        self._link: Any = None
        self._pending: dict[str, list[bytes]] = {}  # frames to offer at the end of this turn of the loop
        self._flushing = False

    # --- called in the event loop ------------------------------------------------------------
    async def subscribe(
        self, channel: str, *, wants_stats: bool = False, agent_id: object | None = None
    ) -> Subscription:
        """A new viewer that receives every frame published on ``channel`` from now on."""
        loop = asyncio.get_running_loop()
        self.bind(loop)
        subscription = Subscription(
            channel,
            limit=settings.CHATR_STREAM_QUEUE_FRAMES,
            wants_stats=wants_stats,
            now=loop.time(),
            agent_id=agent_id,
        )
        members = self.channels.get(channel)
        if members is None:
            kind = channel.partition(":")[0]
            self.kinds[kind] = self.kinds.get(kind, 0) + 1  # counted before its log is read: see ``watched``
            members = self.channels[channel] = set()
        members.add(subscription)
        try:
            if self._link is not None:
                await self._link.sync(channel)
            log = self.logs.get(channel)
            if log is None and (feed := feeds.feed_for(channel)) is not None:
                log = self.logs[channel] = ChannelLog(channel, feed, loop)
                log.task = self.spawn(self._catch_up(log))
            if log is not None:
                # The caller loads its backlog after this returns, so it must hold every id the log
                # will treat as already fanned out.
                await asyncio.shield(log.ready)
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        members = self.channels.get(subscription.channel)
        if members is None:
            return
        members.discard(subscription)
        if not members:
            del self.channels[subscription.channel]
            kind = subscription.channel.partition(":")[0]
            if self.kinds.get(kind, 0) > 1:
                self.kinds[kind] -= 1
            else:
                self.kinds.pop(kind, None)
            self.logs.pop(subscription.channel, None)
            if self._link is not None:
                self.spawn(self._link.sync(subscription.channel))

    def fan_out(self, channel: str, frame: bytes, after: int | None = None) -> None:
        """Fan ``frame`` out to this process's viewers of ``channel``, in id order on an ordered channel.

        ``after``: the channel's visible id before this frame's, as its publisher read it inside the
        committing transaction (None when it did not say).
        """
        if not self.channels.get(channel):
            return
        log = self.logs.get(channel)
        if log is None:
            self._offer_soon(channel, frame)
            return
        number = frames.frame_id(frame)
        if number is None:
            if log.task is None:
                self._offer_soon(channel, frame)
            else:
                log.held.append(frame)  # keeps its place behind the messages being read
            return
        if log.last is not None and number <= log.last:
            return  # fanned out already (a read up to a later id found it)
        log.announced = max(log.announced, number)
        if log.task is None and after is not None and log.last is not None and after <= log.last:
            # Contiguous: no visible id of the channel lies between what went out and this frame.
            log.last = number
            self._offer_soon(channel, frame)
            return
        log.known[number] = frame
        if after is not None:
            log.afters[number] = after
        if log.task is None:
            log.task = self.spawn(self._catch_up(log))

    async def _catch_up(self, log: ChannelLog) -> None:
        """Fan out up to the highest id announced: the contiguous frames at once, the rest after one read
        of the log; repeat while doorbells keep ringing."""
        try:
            if log.last is None:
                log.last = await run_off_loop(log.feed.newest)
                log.ready.set_result(None)
            while self.logs.get(log.channel) is log:
                loaded = log.contiguous()
                if log.announced > log.last:
                    upto = log.announced
                    known = {number: frame for number, frame in log.known.items() if number <= upto}
                    metrics.HUB_LOG_READS.inc()
                    loaded += await run_off_loop(feeds.frames_between, log.feed, log.last, upto, known)
                    if self.logs.get(log.channel) is not log:
                        return
                    log.last = upto
                    log.known = {number: frame for number, frame in log.known.items() if number > upto}
                    log.afters = {number: after for number, after in log.afters.items() if number > upto}
                if log.announced <= log.last:
                    loaded += log.held
                    log.held = []
                self._offer(log.channel, loaded)
                if log.announced <= log.last:
                    return
        except Exception as error:
            logger.exception("reading %s from the database failed; ending its streams", log.channel)
            if not log.ready.done():
                log.ready.set_exception(error)
                log.ready.exception()  # retrieved here: the subscribers waiting on it get it too
            self.end_channel(log.channel)
        finally:
            log.task = None

    def end_channel(self, channel: str) -> None:
        """End every stream on ``channel``: this process can no longer vouch that it misses nothing."""
        self.logs.pop(channel, None)
        for subscription in list(self.channels.get(channel, ())):
            subscription.end()

    def end_agent(self, agent_id: str) -> None:
        """End every subscription opened with a key of ``agent_id`` (rotated or revoked key, or a ban)."""
        for subscription in list(self.subscriptions()):
            if subscription.agent_id is not None and str(subscription.agent_id) == agent_id:
                subscription.end()

    def _offer_soon(self, channel: str, frame: bytes) -> None:
        """Offer ``frame`` at the end of this turn of the loop, with the channel's other frames of the turn.

        The frames of posts committed together (one batch of the writer) reach the loop together: each
        viewer gets them in one write instead of one write per frame.
        """
        pending = self._pending.get(channel)
        if pending is not None:
            pending.append(frame)
            return
        self._pending[channel] = [frame]
        if not self._flushing and self.loop is not None:
            self._flushing = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        pending, self._pending = self._pending, {}
        for channel, ready in pending.items():
            self._offer(channel, ready)

    def _offer(self, channel: str, ready: list[bytes]) -> None:
        """Hand ``ready`` (frames in order) to every viewer of ``channel``: one write per live viewer.

        The hot loop of a busy room (2,000 viewers × 20 frames a second is 40,000 turns a second): for a
        viewer the hub may write to directly it is one call of its socket's chunk writer with the chunk
        framed once for all (or, on a server without one, or while its socket pushes back, one ``send``
        of one message dict shared by every viewer — ASGI servers read the message, never change it —
        driven to its end on the spot); any other viewer takes the frames through ``offer`` (its queue,
        its backlog's duplicates).
        """
        if self._pending and (earlier := self._pending.pop(channel, None)):
            ready = earlier + ready  # what this turn offered before goes first
        members = self.channels.get(channel)
        if not members or not ready:
            return
        now = self.loop.time() if self.loop is not None else 0.0
        body = ready[0] if len(ready) == 1 else b"".join(ready)
        message = {"type": "http.response.body", "body": body, "more_body": True}
        framed = None
        for subscription in list(members):
            write = subscription.socket
            if write is not None:
                if framed is None:
                    framed = chunk_writes.chunk(body)
                try:
                    written = write(framed)
                except Exception:  # a transport whose connection is gone may raise: as a failed send
                    subscription.end()
                    continue
                if written:
                    subscription.last_offer = now
                    continue
            send = subscription.direct
            if send is None:
                for frame in ready:
                    subscription.offer(frame, now)
                continue
            subscription.last_offer = now
            writing = send(message)
            try:
                waited = writing.send(None)
            except StopIteration:
                continue  # written: the usual case
            except BaseException:
                subscription.end()
                continue
            subscription.pushed_back(writing, waited)

    def subscriptions(self) -> Iterator[Subscription]:
        for members in list(self.channels.values()):
            yield from list(members)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run ``coroutine`` to its end even if whoever started it is cancelled."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def subscriber_count(self) -> int:
        return sum(len(members) for members in self.channels.values())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve viewers on ``loop`` (cheap when already bound); called from inside it."""
        if self.loop is loop:
            return
        # A new event loop (a new server, or a test's own loop): nothing of the old one survives.
        self.loop = loop
        self.channels = {}
        self.kinds = {}
        self.logs = {}
        self._tasks = set()
        self._pending = {}
        self._flushing = False
        self._link = backends.current().link(self)
        self.spawn(slots.renew_held_forever())

    # --- called from any thread ----------------------------------------------------------------
    def deliver(self, channel: str, frame: bytes, after: int | None = None) -> None:
        loop = self.loop
        # Reading the dict from another thread is safe under the GIL; a viewer subscribing right
        # now loads its backlog after subscribing, so a frame skipped here is in that backlog.
        if loop is None or loop.is_closed() or channel not in self.channels:
            return
        if running_loop() is loop:
            self.fan_out(channel, frame, after)
        else:
            loop.call_soon_threadsafe(self.fan_out, channel, frame, after)

    def call_in_loop(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in the hub's loop: now if this is it, else as soon as it can."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if running_loop() is loop:
            function(*args)
        else:
            loop.call_soon_threadsafe(function, *args)


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_hub = Hub()


def publish_on_commit(channel: str, event: dict[str, Any]) -> None:
    """Send ``event`` to every stream on ``channel`` once the current transaction commits.

    An event with an id on an ordered channel that may have a viewer goes with the channel's visible id
    before it, read here, inside the transaction (``feeds.previous_in_transaction``): every process
    that fanned that one out fans this one out without reading the log back.
    """
    after = after_in_transaction(channel, event)
    # Robust: a publish that fails after the commit (Redis gone) cannot undo it. Raised, it would make a stored write
    # look failed to its caller (a group-commit writer would write its batch again); logged, the stream finds the
    # frame by the next one's gap or a resume reads it from the log.
    transaction.on_commit(lambda: publish(channel, event, after), robust=True)


def after_in_transaction(channel: str, event: dict[str, Any]) -> int | None:
    """The ``after`` to publish ``event`` with once the transaction commits: the channel's visible id before the
    event's, read now (an event with an id, on an ordered channel that may have a viewer), else None.

    For publishers that collect a batch's events and publish them from one commit callback."""
    number = frames.event_id(event)
    return None if number is None else after_id_in_transaction(channel, number)


def after_id_in_transaction(channel: str, number: int) -> int | None:
    """``after_in_transaction`` for the event with id ``number``, before the event itself is built: a publisher
    holding a lock until its commit builds the event after it."""
    if not backends.current().has_audience(_hub, channel):
        return None
    return feeds.previous_in_transaction(channel, number)


def watched(kind: str) -> bool:
    """Whether a viewer of some ``<kind>:…`` channel may exist now, in any process (with Redis: always).

    Ask after the commit of what a frame would announce, and build none when False: a viewer that subscribes
    later is counted (``Hub.subscribe``) before it reads the log, so it finds the committed item there (a
    stream's backlog, a wait's first load), and nothing is missed.
    """
    return backends.current().watched(_hub, kind)


def publish(channel: str, event: dict[str, Any], after: int | None = None) -> None:
    """Encode ``event`` once and hand it to every process's viewers of ``channel`` (call after commit).

    ``after``: the channel's visible id before the event's, when the caller read it in the committing
    transaction; None makes every process read its log to place the frame.
    """
    backends.current().publish(_hub, channel, event, after)


def announce(scopes: Sequence[str], events: Sequence[tuple[str, dict[str, Any], int | None]]) -> None:
    """After a commit: bump the versions of ``scopes``, then publish each ``(channel, event, after)`` in order.

    For a publisher whose commit changed several things at once (the writer's batch): the store carries it all in
    as few trips as it can (with Redis, one).
    """
    backends.current().announce(_hub, scopes, events)


def publish_frame(channel: str, frame: bytes, after: int | None = None) -> None:
    """Deliver an already encoded frame on ``channel``."""
    backends.current().publish_frame(_hub, channel, frame, after)


def end_agent_streams_on_commit(agent_id: object) -> None:
    """Once the transaction commits, end every stream and wait opened with the agent's key, on every process."""
    transaction.on_commit(lambda: end_agent_streams(agent_id))


def end_agent_streams(agent_id: object) -> None:
    backends.current().end_agent(_hub, str(agent_id))


def attach(loop: asyncio.AbstractEventLoop) -> None:
    """Bind the hub to the server's event loop (cheap when it already is)."""
    _hub.bind(loop)


async def subscribe(channel: str, *, wants_stats: bool = False, agent_id: object | None = None) -> Subscription:
    """A viewer of ``channel``: read it with ``next_frames()`` or hand it a connection with ``live(send)``.

    ``agent_id`` names the agent whose key opened it; rotating or revoking that key, or a ban, ends it.
    """
    return await _hub.subscribe(channel, wants_stats=wants_stats, agent_id=agent_id)


def unsubscribe(subscription: Subscription) -> None:
    _hub.unsubscribe(subscription)


def subscriptions() -> Iterator[Subscription]:
    return _hub.subscriptions()


def spawn(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task:
    return _hub.spawn(coroutine)


def subscriber_count() -> int:
    return _hub.subscriber_count()


def channel_count() -> int:
    return len(_hub.channels)
