"""Stream readers for tests: the seed's way (requests + sseclient), and a raw socket that can misbehave.

The raw reader binds to another loopback source address, shrinks its receive buffer, stops reading or
vanishes with a reset; it de-chunks the body and parses frames itself (``parse_frames``).
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
import sseclient


@dataclass
class Frame:
    id: str | None
    type: str | None  # None for comments (": ping") and "retry:" (raw reader only)
    data: object = None


def sse_frames(base: str, *, path: str = "/api/stream", timeout: float = 10, **headers: str) -> Iterator[Frame]:
    """Frames as the seed's Python example reads them: requests + sseclient, unnamed events."""
    response = requests.get(f"{base}{path}", stream=True, timeout=timeout, headers=headers)
    assert response.status_code == 200, response.text
    try:
        for event in sseclient.SSEClient(response).events():
            assert event.event == "message"  # unnamed: what EventSource.onmessage receives
            body = json.loads(event.data)
            yield Frame(event.id, body["type"], body["data"])
    finally:
        response.close()


def frames_until(frames: Iterator[Frame], done, *, limit: float = 15) -> list[Frame]:
    """Read frames until ``done(frames_so_far)`` holds; fail after ``limit`` seconds."""
    seen: list[Frame] = []
    deadline = time.monotonic() + limit
    for frame in frames:
        seen.append(frame)
        if done(seen):
            return seen
        assert time.monotonic() < deadline, f"gave up waiting; got {[f.type for f in seen]}"
    raise AssertionError("the stream ended")


def message_ids(frames: list[Frame]) -> list[int]:
    ids: list[int] = []
    for frame in frames:
        if frame.type == "history":
            ids.extend(int(message["id"]) for message in frame.data)
        elif frame.type == "message":
            ids.append(int(frame.data["id"]))
    return ids


class RawStream:
    """A stream over a bare socket: raw bytes (``read_until``), frames (``frames``, ``poll``), a reset (``vanish``)."""

    def __init__(
        self,
        port: int,
        query: str = "",
        *,
        host: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        source: str | None = None,
        rcvbuf: int = 0,
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        lines = [f"GET /api/stream{query} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.received = b""  # every byte received, as sent (head, chunk sizes and all)
        self.raw = b""  # bytes received and not yet de-chunked
        self.body = b""  # de-chunked bytes not yet parsed into frames
        self._status: int | None = None
        self.ended = False

    def read_until(self, marker: bytes, timeout: float = 10) -> bytes:
        """Every byte received so far, once ``marker`` is among them."""
        while marker not in self.received:
            if not self._receive(timeout):
                if self.ended:
                    raise ConnectionError("closed")
                raise TimeoutError(f"no {marker!r} within {timeout} s")
        return self.received

    def status(self, timeout: float = 10) -> int:
        """The response's status code, once its head has arrived."""
        while self._status is None:
            if not self._receive(timeout):
                raise ConnectionError("closed") if self.ended else TimeoutError("no response head")
            self._dechunk()
        return self._status

    def frames(self, timeout: float = 2) -> list[Frame]:
        """The frames that arrive until nothing more comes for ``timeout`` seconds (or the stream ends)."""
        while not self.ended and self._receive(timeout):
            self._dechunk()
        self._dechunk()
        return self._parse()

    def poll(self, timeout: float = 0.5) -> list[Frame]:
        """The frames completed by one read from the socket (none if nothing came within ``timeout``)."""
        if not self.ended and self._receive(timeout):
            self._dechunk()
        return self._parse()

    def frames_until(self, done, *, limit: float = 20) -> list[Frame]:
        """Poll until ``done(frames_so_far)`` holds; fail after ``limit`` seconds or when the stream ends."""
        seen: list[Frame] = []
        deadline = time.monotonic() + limit
        while not done(seen):
            assert not self.ended, "the stream ended"
            assert time.monotonic() < deadline, f"gave up waiting after {len(seen)} frames"
            seen += self.poll()
        return seen

    def vanish(self) -> None:
        """Close with a TCP reset, as a crashed client or a dropped network would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def _receive(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            return False
        except ConnectionError:
            chunk = b""
        if not chunk:
            self.ended = True
            return False
        self.received += chunk
        self.raw += chunk
        return True

    def _dechunk(self) -> None:
        if self._status is None:
            if b"\r\n\r\n" not in self.raw:
                return
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            self._status = int(head.split(b" ", 2)[1])
        while b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2 :]
            if size == 0:
                self.ended = True
                return

    def _parse(self) -> list[Frame]:
        frames, self.body = parse_frames(self.body)
        return frames


def parse_frames(body: bytes) -> tuple[list[Frame], bytes]:
    """The complete frames at the start of a de-chunked event-stream body, and the bytes left over."""
    frames = []
    while b"\n\n" in body:
        block, body = body.split(b"\n\n", 1)
        frame = Frame(None, None)
        for line in block.decode().split("\n"):
            if line.startswith("id: "):
                frame.id = line[4:]
            elif line.startswith("data: "):
                payload = json.loads(line[6:])
                frame.type, frame.data = payload["type"], payload["data"]
        frames.append(frame)
    return frames, body


def stream_status(base: str) -> dict:
    return requests.get(f"{base}/api/stream/status", timeout=10).json()


def wait_for_status(base: str, **expected: int) -> dict:
    deadline = time.monotonic() + 10
    while True:
        status = stream_status(base)
        if all(status[name] == value for name, value in expected.items()):
            return status
        assert time.monotonic() < deadline, f"status stayed {status}, expected {expected}"
        time.sleep(0.1)
