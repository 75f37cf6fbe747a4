"""The hub's frames written straight to the socket (``chatr.chunk_writes``), behind uvicorn's own httptools protocol.

Each viewer here is a real ``HttpToolsProtocol`` on an in-memory transport serving a small streaming app that
hands its ``send`` to the hub, as the stream view does. A viewer whose ``send`` is wrapped (so that no chunk
writer can be found for it) takes uvicorn's ``send`` path: both must receive the same bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from django.conf import settings
from uvicorn.server import ServerState

from chatr import chunk_writes
from realtime import hub

CHANNEL = "plain:room"  # no feed: frames pass straight through
HEAD = b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class Viewer:
    """One connection: its transport, its protocol and its hub subscription once the app has subscribed."""

    def __init__(self, transport: MemoryTransport, protocol: Any) -> None:
        self.transport = transport
        self.protocol = protocol
        self.subscription: hub.Subscription | None = None

    def body(self) -> bytes:
        """What the socket received after the response's head."""
        return b"".join(self.transport.writes).partition(b"\r\n\r\n")[2]


async def open_viewers(*, wrapped: list[bool]) -> list[Viewer]:
    viewers: list[Viewer] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        viewer = viewers[-1]  # the connections open one after another, each once the last one watches
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        subscription = viewer.subscription = await hub.subscribe(CHANNEL)
        if wrapped[viewers.index(viewer)]:
            inner = send

            async def send(message: dict) -> None:
                await inner(message)

        try:
            await subscription.live(send)
        except hub.Overflow:
            pass
        finally:
            hub.unsubscribe(subscription)

    config = uvicorn.Config(app, lifespan="off", access_log=False, http="httptools", proxy_headers=False)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    for _ in wrapped:
        transport = MemoryTransport()
        protocol = config.http_protocol_class(config=config, server_state=state, app_state={}, _loop=loop)
        protocol.connection_made(transport)
        viewers.append(Viewer(transport, protocol))
        protocol.data_received(HEAD)
        for _ in range(100):
            if viewers[-1].subscription is not None and viewers[-1].subscription.direct is not None:
                break
            await asyncio.sleep(0)
    return viewers


def close(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        viewer.protocol.connection_lost(None)


def frame(number: int) -> bytes:
    return b'id: %d\ndata: {"type":"message","data":{"content":"s%d"}}\n\n' % (number, number)


def test_a_frame_written_to_the_socket_directly_is_the_bytes_uvicorns_send_writes():
    async def watch() -> tuple[list[Viewer], list[bool]]:
        viewers = await open_viewers(wrapped=[False, True])
        direct = [viewer.subscription.socket is not None for viewer in viewers]
        hub.publish_frame(CHANNEL, frame(1))
        await asyncio.sleep(0)
        for number in (2, 3):  # one turn of the loop: one chunk holding both
            hub.publish_frame(CHANNEL, frame(number))
        await asyncio.sleep(0)
        close(viewers)
        return viewers, direct

    (straight, through_send), direct = asyncio.run(watch())
    assert direct == [True, False]  # the first one's frames did take the direct way
    expected = b"%x\r\n%b\r\n" % (len(frame(1)), frame(1))
    both = frame(2) + frame(3)
    expected += b"%x\r\n%b\r\n" % (len(both), both)
    assert through_send.body() == expected
    assert straight.body() == expected


def test_a_socket_that_pushes_back_gets_its_frames_through_send_in_order_once_it_drains():
    async def watch() -> tuple[Viewer, Viewer, bool, bytes, bool]:
        quick, slow = await open_viewers(wrapped=[False, False])
        hub.publish_frame(CHANNEL, frame(1))
        await asyncio.sleep(0)
        slow.protocol.pause_writing()  # what the transport says once its buffer is full
        for number in (2, 3, 4):
            hub.publish_frame(CHANNEL, frame(number))
            await asyncio.sleep(0)
        held = slow.body()
        socket_while_paused = slow.subscription.socket is not None
        slow.protocol.resume_writing()
        for _ in range(100):
            if slow.subscription.socket is not None:
                break
            await asyncio.sleep(0)
        hub.publish_frame(CHANNEL, frame(5))
        await asyncio.sleep(0)
        close([quick, slow])
        return quick, slow, socket_while_paused, held, slow.subscription.socket is not None

    quick, slow, socket_while_paused, held, direct_again = asyncio.run(watch())
    chunked = [b"%x\r\n%b\r\n" % (len(frame(n)), frame(n)) for n in range(1, 6)]
    assert quick.body() == b"".join(chunked)  # never held up by the slow one
    assert held == chunked[0]  # nothing written while the socket pushed back
    assert not socket_while_paused
    caught_up = frame(3) + frame(4)  # what queued behind the waiting write went out in one
    assert slow.body() == chunked[0] + chunked[1] + b"%x\r\n%b\r\n" % (len(caught_up), caught_up) + chunked[4]
    assert direct_again


def test_a_socket_that_pushes_back_for_a_whole_queue_ends_its_stream_and_no_one_else_waits():
    limit = settings.CHATR_STREAM_QUEUE_FRAMES

    async def watch() -> tuple[Viewer, Viewer]:
        quick, slow = await open_viewers(wrapped=[False, False])
        slow.protocol.pause_writing()
        for number in range(1, limit + 3):
            hub.publish_frame(CHANNEL, frame(number))
            await asyncio.sleep(0)
        for _ in range(100):
            if slow.subscription.overflowed and not hub._hub.channels.get(CHANNEL, set()) - {quick.subscription}:
                break
            await asyncio.sleep(0)
        close([quick, slow])
        return quick, slow

    quick, slow = asyncio.run(watch())
    assert slow.subscription.overflowed
    assert slow.body() == b""
    assert quick.body() == b"".join(b"%x\r\n%b\r\n" % (len(frame(n)), frame(n)) for n in range(1, limit + 3))


def test_a_socket_whose_write_fails_ends_its_stream_and_the_viewers_after_it_still_get_the_frame():
    async def watch() -> list[Viewer]:
        viewers = await open_viewers(wrapped=[False, False, False])
        broken = viewers[1].transport

        def write(data: bytes) -> None:
            raise RuntimeError("unable to perform operation: the handler is closed")  # as uvloop says

        broken.write = write  # type: ignore[method-assign]
        hub.publish_frame(CHANNEL, frame(1))
        await asyncio.sleep(0)
        close(viewers)
        return viewers

    first, broken, last = asyncio.run(watch())
    chunked = b"%x\r\n%b\r\n" % (len(frame(1)), frame(1))
    assert first.body() == chunked
    assert last.body() == chunked
    assert broken.subscription.overflowed  # ended: it resumes with Last-Event-ID


def test_no_chunk_writer_for_a_send_that_is_not_uvicorns_own():
    async def send(message: dict) -> None:
        pass

    assert chunk_writes.chunk_writer(send) is None
