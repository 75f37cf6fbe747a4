"""Stream readers for tests: the seed's way (requests + sseclient) and a raw socket that can vanish."""

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
    type: str
    data: object


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
    """A stream over a bare socket: reads raw bytes, or disappears without a goodbye (RST)."""

    def __init__(self, port: int, query: str = "", *, headers: dict[str, str] | None = None, rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"GET /api/stream{query} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""

    def read_until(self, marker: bytes, timeout: float = 10) -> bytes:
        self.sock.settimeout(timeout)
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        return self.buffer

    def status(self) -> int:
        head = self.read_until(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1])

    def vanish(self) -> None:
        """Close with a TCP reset, as a crashed client or a dropped network would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


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
