"""Tools for the scale-out tests: a TCP proxy that can cut a service off, and a stream reader that resumes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable

import requests
import sseclient

from tests.server import free_port


class TcpProxy:
    """Forwards a local port to ``target``; ``cut()`` drops every connection and refuses new ones
    (a service gone away), ``restore()`` listens again on the same port (the service is back)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self.thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def restore(self) -> None:
        async def listen() -> None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

        self._run(listen())

    def cut(self) -> None:
        async def close() -> None:
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._run(close())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()


class Reader(threading.Thread):
    """Reads a stream like a browser's EventSource: on any end it comes back (after ``retry``) with
    ``Last-Event-ID`` set to the last id it saw. Records every message id, in arrival order; ``connected``
    is set by the first frame (a fresh stream's history)."""

    def __init__(self, base: str, *, path: str = "/api/stream", headers: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True)
        self.url = f"{base}{path}"
        self.headers = headers or {}
        self.ids: list[int] = []
        self.presence: list[dict] = []
        self.last: str | None = None
        self.connects = 0
        self.refusals: list[int] = []
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.response: requests.Response | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            headers = {**self.headers, **({"Last-Event-ID": self.last} if self.last else {})}
            try:
                response = requests.get(self.url, stream=True, timeout=(3, 5), headers=headers)
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if response.status_code != 200:
                self.refusals.append(response.status_code)
                response.close()
                time.sleep(0.2)
                continue
            self.response = response
            self.connects += 1
            try:
                for event in sseclient.SSEClient(response).events():
                    self._take(json.loads(event.data), event.id)
                    # Subscribed: the first frame (the history) is written after the subscription is in place,
                    # the headers before it.
                    self.connected.set()
                    if self.stopping.is_set():
                        break
            except (requests.RequestException, ConnectionError, ValueError, AttributeError, OSError):
                pass  # the stream ended or broke (or stop() closed it): come back, as EventSource does
            finally:
                response.close()
            time.sleep(0.1)

    def _take(self, body: dict, event_id: str | None) -> None:
        if body["type"] == "history":
            self.ids += [int(message["id"]) for message in body["data"]]
        elif body["type"] in {"message", "direct"}:
            self.ids.append(int(body["data"]["id"]))
        elif body["type"] == "presence":
            self.presence.append(body["data"])
        if event_id:
            self.last = event_id

    def wait_for(self, wanted: set[int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.ids):
            assert time.monotonic() < deadline, f"still missing {sorted(wanted - set(self.ids))[:10]}"
            time.sleep(0.05)

    def drop(self) -> None:
        """End the current connection, as a network would: the reader comes back with ``Last-Event-ID``."""
        response = self.response
        if response is not None:
            with contextlib.suppress(Exception):
                response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read at once

    def stop(self) -> None:
        self.stopping.set()
        self.drop()
        self.join(timeout=10)
        assert not self.is_alive(), "the reader did not stop"


def follow_cursor_while_writing(
    *, read_pages: list[Callable[[requests.Session, str], list[dict]]], writers: list[Callable[[], None]]
) -> list[str]:
    """Ids a reader sees by following one id cursor while ``writers`` run.

    Each pass asks every ``read_page(session, cursor)`` in turn (e.g. one per server process) and
    moves the cursor on; the reader stops after one full pass that began once the last writer
    finished, so whatever was acknowledged is in reach of its cursor by then.
    """
    done = threading.Event()
    seen: list[str] = []

    def read() -> None:
        session = requests.Session()
        cursor = "0"
        while True:
            finished = done.is_set()
            for read_page in read_pages:
                for message in read_page(session, cursor):
                    seen.append(message["id"])
                    cursor = message["id"]
            if finished:
                return
            time.sleep(0.002)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write) for write in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    return seen
