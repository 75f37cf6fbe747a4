"""A stream reader over a bare socket that can misbehave: bind to another loopback source address,
shrink its receive buffer, stop reading, or vanish with a reset. It de-chunks and parses frames itself."""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass, field


@dataclass
class Frame:
    id: int | None
    type: str | None  # None for comments (": ping") and "retry:"
    data: object = None


@dataclass
class SseSocket:
    host: str
    port: int
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    rcvbuf: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        if self.rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        if self.source:
            self.sock.bind((self.source, 0))
        self.sock.settimeout(10)
        self.sock.connect((self.host, self.port))
        lines = [f"GET /api/stream{self.query} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""  # bytes received and not yet de-chunked
        self.body = b""  # de-chunked bytes not yet parsed into frames
        self.status: int | None = None
        self.ended = False

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
        self.raw += chunk
        return True

    def _dechunk(self) -> None:
        if self.status is None:
            if b"\r\n\r\n" not in self.raw:
                return
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ", 2)[1])
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
        import time

        seen: list[Frame] = []
        deadline = time.monotonic() + limit
        while not done(seen):
            assert not self.ended, "the stream ended"
            assert time.monotonic() < deadline, f"gave up waiting after {len(seen)} frames"
            seen += self.poll()
        return seen

    def _parse(self) -> list[Frame]:
        frames = []
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            frame = Frame(None, None)
            for line in block.decode().split("\n"):
                if line.startswith("id: "):
                    frame.id = int(line[4:])
                elif line.startswith("data: "):
                    payload = json.loads(line[6:])
                    frame.type, frame.data = payload["type"], payload["data"]
            frames.append(frame)
        return frames

    def vanish(self) -> None:
        """Close with a TCP reset, as a crashed client would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def message_ids(frames: list[Frame]) -> list[int]:
    ids: list[int] = []
    for frame in frames:
        if frame.type == "history":
            ids.extend(int(message["id"]) for message in frame.data)
        elif frame.type == "message":
            ids.append(int(frame.data["id"]))
    return ids
