"""A small TCP proxy that misbehaves on purpose, one fault per connection, to test the client's retries.

Faults, used by the connections in the order they arrive (later connections pass through):
- ``"drop"``: forward the request to the server, then close the client's connection as the answer starts, so the
  server did the work and the client never learns of it (a connection lost mid-request);
- ``"delay:<seconds>"``: forward, but hold the answer back that long (the client times out first);
- ``"503"``: answer 503 ``service_unavailable`` itself, like a balancer with no healthy backend.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

_KEY = re.compile(rb"\r\nidempotency-key: *([^\r\n]*)", re.IGNORECASE)
_REQUEST_LINE = re.compile(rb"(GET|POST|PATCH|PUT|DELETE) (\S+) HTTP/1\.1\r\n")


class FaultyProxy:
    def __init__(self, upstream_port: int, faults: list[str]) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.faults = list(faults)
        self.received: list[bytes] = []  # what each connection sent, as it arrived
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._closed = False
        self._closing = threading.Event()  # ends held-back answers
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        self._listener.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def requests(self, path: str) -> list[bytes]:
        """The idempotency keys of every request for ``path`` (b"" where none was sent), in order."""
        keys = []
        for data in self.received:
            for match in _REQUEST_LINE.finditer(data):
                if match.group(2).split(b"?")[0] == path.encode():
                    head = data[match.start() : data.find(b"\r\n\r\n", match.start())]
                    key = _KEY.search(head)
                    keys.append(key.group(1) if key else b"")
        return keys

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                fault = self.faults.pop(0) if self.faults else ""
                index = len(self.received)
                self.received.append(b"")
            threading.Thread(target=self._serve, args=(client, fault, index), daemon=True).start()

    def _record(self, index: int, data: bytes) -> None:
        with self._lock:
            self.received[index] += data

    def _serve(self, client: socket.socket, fault: str, index: int) -> None:
        if fault == "503":
            self._record(index, _read_request(client))
            body = b'{"success": false, "error": "No backend is available.", "code": "service_unavailable"}'
            client.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            client.close()
            return
        upstream = socket.create_connection(self.upstream)

        def client_to_upstream() -> None:
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    self._record(index, data)
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=client_to_upstream, daemon=True).start()
        try:
            first = True
            while data := upstream.recv(65536):
                if first and fault == "drop":
                    break  # the server answered: the work is done, and the client will never hear of it
                if first and fault.startswith("delay:"):
                    self._closing.wait(float(fault.split(":", 1)[1]))
                first = False
                client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
