"""A real webhook receiver: an HTTP server on loopback that records what it gets and answers from a script."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering (released when the receiver stops)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, receiver: Receiver, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.receiver = receiver
        super().__init__(address, _Handler)

    def verify_request(self, request: object, client_address: object) -> bool:
        with self.receiver.lock:
            self.receiver.connections += 1  # every accepted connection, even one that sends nothing
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with receiver.lock:
            receiver.requests.append(received)
            receiver.arrivals.append(time.monotonic())
            if receiver.reply_for is not None:
                reply = receiver.reply_for(received, list(receiver.requests))
            else:
                reply = receiver.script.pop(0) if receiver.script else receiver.default
        if reply.hang:
            receiver.released.wait(reply.hang)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver:
    """``with Receiver([Reply(500), Reply(200)]) as hook:`` … ``hook.url``, ``hook.requests``, ``hook.connections``."""

    def __init__(
        self,
        script: list[Reply] | None = None,
        *,
        default: Reply | None = None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        reply_for: Callable[[Received, list[Received]], Reply] | None = None,
    ):
        self.reply_for = reply_for
        self.script = list(script or [])
        self.default = default or Reply(200)
        self.requests: list[Received] = []
        self.arrivals: list[float] = []  # time.monotonic() at each request, in order
        self.connections = 0
        self.lock = threading.Lock()
        self.released = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server((host, 0), self, family)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
