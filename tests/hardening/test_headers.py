"""Security review II, findings 5 and 12, against the server as ``make run`` serves it (``python -m chatr.serve``).

5. 8 MB and 100 MB headers were accepted, and ten streams with 20 MB headers took the server from 172 to
   614 MB for good. Request line + headers over 16 KiB: 431, and the server's memory does not move.
12. uvicorn's ``proxy_headers`` default trusted ``X-Forwarded-For`` from 127.0.0.1, so a local client
    chose its own address and dodged every per-IP limit although ``CHATR_TRUSTED_PROXIES`` was empty.
"""

import json
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests

from tests.server import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("headers")
    process = ServerProcess({"CHATR_SQLITE_PATH": str(folder / "chatr.sqlite3")}, server="uvicorn")
    process.migrate()
    process.start()
    yield process
    process.stop()


def rss(server: ServerProcess) -> int:
    return psutil.Process(server.pid).memory_info().rss


def send_head(port: int, head: bytes, *, total: int | None = None, target: str = "/api/agents") -> bytes:
    """Send a request line and headers (``total`` bytes of header padding, streamed), return the answer.

    The answer is read while sending, as a real client under a 431 would see it: the server may
    close before the client has finished sending.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    answer = bytearray()

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                answer.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + head)
        if total:
            chunk = b"a" * MiB
            sock.sendall(b"X-Big: ")
            for _ in range(total // MiB):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        else:
            sock.sendall(b"\r\n")
    except OSError:
        pass  # the server closed on us: what it answered is in `answer`
    reader.join(30)
    sock.close()
    return bytes(answer)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize("size", [8 * MiB, 100 * MiB], ids=["8MB", "100MB"])
def test_a_huge_header_is_431_and_costs_the_server_no_memory(server, size):
    before = rss(server)
    started = time.monotonic()
    answer = send_head(server.port, b"", total=size)
    assert status_of(answer) == 431, answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["success"] is False and body["code"] == "request_header_fields_too_large"
    assert time.monotonic() - started < 10
    assert rss(server) - before < 8 * MiB, f"RSS grew by {(rss(server) - before) / MiB:.0f} MB"
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def test_ten_connections_with_20_mb_headers_at_once_leave_the_memory_where_it_was(server):
    before = rss(server)
    answers: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: answers.append(send_head(server.port, b"", total=20 * MiB))) for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status_of(answer) for answer in answers] == [431] * 10
    assert rss(server) - before < 16 * MiB


def test_many_small_headers_over_16_kib_are_431(server):
    head = b"".join(f"X-H{index}: {'v' * 20}\r\n".encode() for index in range(2000))  # ~56 KB
    assert status_of(send_head(server.port, head)) == 431


def test_a_long_request_line_is_431(server):
    assert status_of(send_head(server.port, b"", target="/api/agents/" + "a" * 20_000)) == 431


def test_a_head_just_under_16_kib_is_served_and_just_over_is_refused(server):
    line = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    end = b"\r\n"

    def head_of(total: int) -> bytes:
        padding = total - len(line) - len(b"X-Pad: \r\n") - len(end)
        return b"X-Pad: " + b"p" * padding + b"\r\n"

    exactly = send_head(server.port, head_of(16 * 1024), target="/health")
    assert status_of(exactly) == 200
    over = send_head(server.port, head_of(16 * 1024 + 1), target="/health")
    assert status_of(over) == 431


def test_a_body_after_a_normal_head_is_not_counted_as_head(server):
    """A POST whose head and body arrive together is not mistaken for a big head."""
    body = json.dumps({"name": "x" * 40}).encode()
    head = b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\nX-Pad: "
    head += b"p" * 16_000 + b"\r\n\r\n" + body
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + head)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    assert status_of(answer) == 400  # the body was read: the name is invalid (a 4xx of the app, not 431)
    assert b"request_header_fields_too_large" not in answer


def test_keep_alive_requests_are_each_counted_from_their_own_start(server):
    """Many small requests on one connection add up past 16 KiB, yet each is served."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * 4000 + b"\r\n\r\n"
    seen = b""
    for _ in range(8):
        sock.sendall(request)
        while seen.count(b"HTTP/1.1 ") < _ + 1:
            seen += sock.recv(65536)
    sock.close()
    assert seen.count(b"HTTP/1.1 200") == 8


# --- finding 12 ---------------------------------------------------------------------------------


def register_from(base: str, name: str, forwarded_for: str) -> int:
    response = requests.post(
        f"{base}/api/register", json={"name": name}, headers={"X-Forwarded-For": forwarded_for}, timeout=10
    )
    return response.status_code


def test_a_local_clients_x_forwarded_for_does_not_dodge_the_per_ip_limit(server):
    """Registrations are 5 an hour per IP: six from 127.0.0.1, each claiming another address."""
    statuses = [register_from(server.url, f"proxy{index}", f"203.0.113.{index}") for index in range(6)]
    assert statuses == [201] * 5 + [429]


def test_the_documented_plain_uvicorn_command_ignores_x_forwarded_for_too(tmp_path):
    """docs/deployment.md: ``uvicorn chatr.asgi:application … --no-proxy-headers``."""
    env = {"CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3")}
    migrate = ServerProcess(env)
    migrate.migrate()
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "chatr.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--no-proxy-headers",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=migrate.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/health", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        statuses = [register_from(base, f"plain{index}", f"198.51.100.{index}") for index in range(6)]
    finally:
        process.terminate()
        process.wait(10)
    assert statuses == [201] * 5 + [429]
    documented = (ROOT / "docs" / "deployment.md").read_text()
    assert "--no-proxy-headers" in documented
