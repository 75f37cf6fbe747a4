"""Hostile input against a real uvicorn process on PostgreSQL, which (unlike SQLite) refuses NUL in text:
every string field, path and query with NUL or lone surrogates, oversized and unfinished bodies.
No answer is a 500, the server logs no error, and the database is unchanged."""

from __future__ import annotations

import json
import re
import socket
import time

import psycopg
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.hardening.hostile_inputs import NUL_URLS, NUL_VALUES, STRING_FIELDS, SURROGATE_VALUES, fill, url
from tests.server import ServerProcess
from tests.services import fresh_postgres_database

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    with fresh_postgres_database() as database_url:
        server = ServerProcess({**E2E_ENV, "DATABASE_URL": database_url, "CHATR_TEST_LOG": str(log)}, server="uvicorn")
        server.migrate()
        server.start()
        server.database_url = database_url
        try:
            yield server
        finally:
            server.stop()


def table_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        return {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for (name,) in tables}


@pytest.fixture(scope="module")
def cast(postgres_server):
    """An agent, another agent and a group both belong to."""
    base = postgres_server.url
    alice, victim = register(base, "alice"), register(base, "victim")
    group = requests.post(f"{base}/ai/groups", headers=headers(victim), json={"name": "g"}, timeout=10).json()["group"]
    joined = requests.post(f"{base}/ai/groups/{group['id']}/join", headers=headers(alice), timeout=10)
    assert joined.status_code == 200
    return alice, {"victim": victim["id"], "group": group["id"]}


def server_errors(server: ServerProcess) -> list[str]:
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "Internal Server Error" in line or "Traceback" in line]


def test_nul_and_lone_surrogates_in_every_string_field_are_400_on_postgresql(postgres_server, cast):
    alice, ids = cast
    base = postgres_server.url
    before = table_counts(postgres_server.database_url)
    session = requests.Session()
    answers = {}
    for method, path, template in STRING_FIELDS:
        for value in NUL_VALUES + SURROGATE_VALUES:
            response = session.request(
                method,
                base + url(path, **ids),
                data=fill(template, value, **ids).encode(),
                headers={**headers(alice), "Content-Type": "application/json"},
                timeout=10,
            )
            answers[(method, path, json.dumps(template), value)] = (response.status_code, response.json()["code"])
    refused = {case: answer for case, answer in answers.items() if answer[0] != 400}
    assert refused == {}
    assert {code for _, code in answers.values()} <= {"validation_error", "invalid_json"}
    assert table_counts(postgres_server.database_url) == before
    assert server_errors(postgres_server) == []


def test_a_nul_in_any_path_or_query_is_400_on_postgresql(postgres_server, cast):
    alice, _ = cast
    before = table_counts(postgres_server.database_url)
    for method, path in NUL_URLS:
        response = requests.request(
            method,
            postgres_server.url + path,
            headers=headers(alice),
            json={} if method == "POST" else None,
            timeout=10,
        )
        assert response.status_code == 400, (method, path, response.text[:200])
    # Django's admin search and filters are lookups by a client-given string as well.
    assert requests.get(f"{postgres_server.url}/admin/accounts/agent/?q=%00", timeout=10).status_code == 400
    assert table_counts(postgres_server.database_url) == before
    assert server_errors(postgres_server) == []


def _complete(answer: bytes) -> bool:
    """The answer's head and as much body as its Content-Length says (the two may arrive in separate segments)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def raw_request(port: int, head: str, body: bytes = b"", *, timeout: float = 5) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` and wait for an answer WITHOUT finishing the body; (answer, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        try:
            while not _complete(answer):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


def test_a_body_declared_over_16_kib_is_refused_before_it_is_sent(postgres_server):
    head = (
        "POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {1 << 30}\r\n\r\n"
    )
    answer, seconds = raw_request(postgres_server.port, head)  # one gigabyte announced, nothing sent
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert seconds < 2


def test_a_chunked_body_without_length_is_refused_after_16_kib_without_waiting_for_the_rest(postgres_server):
    head = (
        "POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunks = b"".join(b"1000\r\n" + b" " * 4096 + b"\r\n" for _ in range(5))  # 20 KiB of a body that never ends
    answer, seconds = raw_request(postgres_server.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert seconds < 2
    assert b'"code": "payload_too_large"' in answer or b"payload_too_large" in answer


def test_a_1_mb_body_is_413_and_the_server_keeps_serving(postgres_server, cast):
    alice, _ = cast
    before = table_counts(postgres_server.database_url)
    big = json.dumps({"content": "x" * (1 << 20)})
    for path in ("/api/messages", "/api/register", "/ai/messages", "/admin/login/"):
        response = requests.post(
            postgres_server.url + path,
            data=big,
            headers={**headers(alice), "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 413, path
    nested = "[" * 8000 + "]" * 8000
    response = requests.post(
        f"{postgres_server.url}/api/messages",
        data=nested,
        headers={**headers(alice), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert table_counts(postgres_server.database_url) == before
    assert requests.get(f"{postgres_server.url}/api/messages", timeout=10).status_code == 200
    assert server_errors(postgres_server) == []
