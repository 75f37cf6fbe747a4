"""Security review II, finding 6: no client can forge a log line or drive a terminal through the log.

``/api/agents/x%0A2026-12-03 … INFO chatr.request POST /admin/login/ 302`` wrote a complete fake line
into the server's log, and ``%1B`` wrote terminal escapes. Against a real server (as ``make run``
serves it), every control character a client sent must reach the log escaped.
"""

import logging
import socket
import uuid

import pytest
import requests

from chatr.log_filters import EscapeControls, RedactSecrets
from tests.server import ServerProcess
from tests.waiting import wait_until

FORGED = "2026-12-03 09:00:00,000 INFO chatr.request POST /admin/login/ 302 1.0ms ip=10.0.0.1"


def raw_get(port: int, target: str, headers: str = "") -> bytes:
    """A request line sent byte for byte (no client library normalises it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("log-injection")
    process = ServerProcess(
        {"CHATR_SQLITE_PATH": str(folder / "chatr.sqlite3"), "CHATR_TEST_LOG": str(folder / "server.log")},
        server="uvicorn",
    )
    process.migrate()
    process.start()
    yield process
    process.stop()


def log_after(server: ServerProcess, offset: int) -> bytes:
    """The log since ``offset`` up to the line of one more request made now: by then, whatever the requests
    before it wrote (after their responses) is in the log."""
    marker = f"/api/agents/logmark{uuid.uuid4().hex[:8]}"
    requests.get(server.url + marker, timeout=10)

    def written() -> bytes:
        text = server.log_path.read_bytes()[offset:]
        before, found, rest = text.partition(f"chatr.request GET {marker} ".encode())
        return before.rpartition(b"\n")[0] + b"\n" if found and b"\n" in rest else b""

    return wait_until(written, message="the marker request was not logged")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "target",
    [
        "/api/agents/x%0A" + FORGED.replace(" ", "%20"),
        "/api/agents/x%0D%0A" + FORGED.replace(" ", "%20"),
        "/api/agents/x%1B%5B2J%1B%5B31mred",
        "/no/such/page%0A" + FORGED.replace(" ", "%20"),
        "/api/agents/x%E2%80%A8" + FORGED.replace(" ", "%20"),  # U+2028 LINE SEPARATOR
        "/api/agents/x%C2%85" + FORGED.replace(" ", "%20"),  # U+0085 NEXT LINE
    ],
)
def test_a_control_character_in_the_path_is_escaped_in_the_log(server, target):
    offset = server.log_path.stat().st_size
    raw_get(server.port, target)
    written = log_after(server, offset)
    assert b"chatr.request GET /" in written
    lines = written.decode("utf-8").split("\n")
    assert not any(line.startswith("2026-12-03 09:00:00") for line in lines), written
    assert b"\x1b" not in written and b"\r" not in written
    assert "\u2028" not in written.decode() and "\x85" not in written.decode()
    request_lines = [line for line in lines if "chatr.request GET /" in line]
    assert len(request_lines) == 1 and "\\" in request_lines[0]  # the escape: \\n, \\x1b, \\u2028 …


@pytest.mark.e2e
def test_a_query_string_and_headers_with_controls_do_not_reach_the_log_raw(server):
    offset = server.log_path.stat().st_size
    response = requests.get(
        f"{server.url}/api/agents/nobody", params={"q": f"x\n{FORGED}"}, headers={"User-Agent": "ua\x1b[31m"}
    )
    assert response.status_code in (400, 404)
    written = log_after(server, offset)
    assert b"\x1b" not in written and FORGED.encode() not in written.split(b"\n")[-1]


def records(message: str, *args: object, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("chatr.test", logging.WARNING, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    for each in (EscapeControls(), RedactSecrets()):
        each.filter(record)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    return formatter.format(record)


def test_arguments_are_escaped_and_our_own_format_is_not():
    line = records("look: %s (%d)", f"a\n{FORGED}\x1b[0m", 3)
    assert "\n" not in line and "\x1b" not in line and "a\\n2026" in line and "(3)" in line


def test_a_traceback_with_a_client_string_cannot_start_a_line_of_its_own():
    try:
        raise ValueError(f"bad name\n{FORGED}")
    except ValueError as error:
        line = records("failed", exc=error)
    _message, traceback_head, *continuation = line.split("\n")
    assert traceback_head == "Traceback (most recent call last):"
    assert continuation and all(each.startswith("  ") for each in continuation)
    assert not any(each.startswith("2026-12-03") for each in continuation)
