"""One request pipeline (chatr.pipeline, chatr.edge): against a real uvicorn process, every chain of the request
table gets the body limit, the client IP, the per-IP request limit, the log line and the metrics from the same
place — a ready answer and a rendered answer of one path count against one limit under one metric label."""

from __future__ import annotations

import itertools
import re
import time

import pytest
import requests
from django.conf import settings

from tests.e2e.clients import headers, register
from tests.server import sqlite_server

pytestmark = pytest.mark.e2e

LIMIT = 6
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("pipeline"),
        server="uvicorn",
        CHATR_METRICS="1",
        CHATR_TRUSTED_PROXIES="127.0.0.1/32",
        CHATR_RATE_REQUESTS_PER_IP=f"{LIMIT}/m",
        CHATR_RATE_REGISTRATIONS_PER_IP="1000/h",
        CHATR_RATE_LOBBY_UNVERIFIED="1000/m",
        CHATR_STREAM_PING_SECONDS="0.5",
    )
    yield process
    process.stop()


def client() -> str:
    """A client address of its own (through the trusted proxy), so each test starts with a full allowance."""
    return f"198.51.100.{next(_addresses)}"


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def requests_counted(base: str, route: str) -> dict[str, float]:
    """``chatr_http_requests_total`` of GET ``route``, by status."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    counted = {}
    for status, value in re.findall(
        rf'chatr_http_requests_total\{{method="GET",route="{re.escape(route)}",status="(\d+)"\}} (\S+)', text
    ):
        counted[status] = float(value)
    return counted


def log_lines(server, address: str) -> list[str]:
    time.sleep(0.2)  # the server's stdout reaches the file through a pipe
    return [line for line in server.log_path.read_text().splitlines() if f"ip={address}" in line]


def test_a_ready_and_a_rendered_answer_of_one_path_share_the_limit_the_label_and_the_log(server):
    base, address = server.url, client()
    before = requests_counted(base, "api/messages").get("200", 0)
    remaining = []
    for n in range(LIMIT):
        # ?limit=50 is kept and answered ready-made after its first render; a cursor read is rendered every time.
        query = "?limit=50" if n % 2 == 0 else "?limit=50&before=1000000"
        answer = requests.get(f"{base}/api/messages{query}", headers=as_client(address), timeout=10)
        assert answer.status_code == 200
        remaining.append(int(answer.headers["X-RateLimit-Remaining"]))
    assert remaining == list(range(LIMIT - 1, -1, -1))
    for query in ("?limit=50", "?limit=50&before=1000000"):
        refused = requests.get(f"{base}/api/messages{query}", headers=as_client(address), timeout=10)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert "Retry-After" in refused.headers
    counted = requests_counted(base, "api/messages")
    assert counted.get("200", 0) - before == LIMIT
    assert counted.get("429", 0) >= 2
    assert "/api/messages" not in requests.get(f"{base}/metrics", timeout=10).text  # no label of its own
    lines = log_lines(server, address)
    assert sum(" GET /api/messages 200 " in line for line in lines) == LIMIT
    assert sum(" GET /api/messages 429 " in line for line in lines) == 2


def test_every_limited_chain_counts_against_one_allowance_and_logs_the_same_client(server):
    base, address = server.url, client()
    agent = register(base, prefix="pipe")
    stream = requests.get(f"{base}/api/stream", headers=as_client(address), stream=True, timeout=10)  # stream
    assert stream.status_code == 200
    stream.close()
    statuses = [
        requests.get(f"{base}/api/agents", headers=as_client(address), timeout=10).status_code,  # ready answer
        requests.get(f"{base}/api/agents/{agent['name']}", headers=as_client(address), timeout=10).status_code,  # view
        requests.get(f"{base}/ai/health", headers=as_client(address), timeout=10).status_code,  # /ai
        requests.post(
            f"{base}/api/messages",
            json={"content": "through the edge"},
            headers={**headers(agent), **as_client(address)},
            timeout=10,
        ).status_code,
    ]
    assert statuses == [200, 200, 200, 201]
    assert requests.get(f"{base}/api/agents", headers=as_client(address), timeout=10).status_code == 200  # the 6th
    refused = requests.get(f"{base}/api/stream", headers=as_client(address), timeout=10)
    assert refused.status_code == 429
    page = requests.get(f"{base}/search?q=edge", headers=as_client(address), timeout=10)
    assert page.status_code == 200  # pages are not counted per IP (contract §8: /api and /ai)
    lines = log_lines(server, address)
    for expected in (
        "GET /api/stream 200",
        "GET /api/agents 200",
        f"GET /api/agents/{agent['name']} 200",
        "GET /ai/health 200",
        "POST /api/messages 201",
        "GET /api/stream 429",
        "GET /search 200",
    ):
        assert any(expected in line for line in lines), expected
    assert any("POST /api/messages 201" in line and f"agent={agent['id']}" in line for line in lines)


@pytest.mark.parametrize("path", ["/api/messages", "/api/stream", "/ai/messages", "/mcp", "/", "/admin/login/"])
def test_the_body_limit_holds_on_every_chain(server, path):
    body = b"x" * (settings.CHATR_MAX_BODY_BYTES + 1)
    answer = requests.post(f"{server.url}{path}", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 413


@pytest.mark.parametrize("path", ["/api/messages", "/api/stream", "/ai/health", "/", "/search"])
def test_a_foreign_host_and_a_nul_are_refused_on_every_chain(server, path):
    foreign = requests.get(f"{server.url}{path}", headers={"Host": "evil.example"}, timeout=10)
    assert foreign.status_code == 400
    nul = requests.get(f"{server.url}{path}?q=%00", timeout=10)
    assert nul.status_code == 400
    if path.startswith(("/api", "/ai")):
        assert foreign.json()["code"] == nul.json()["code"] == "bad_request"


def test_a_ready_answer_adds_the_limit_headers_it_met_to_its_kept_headers(server):
    """A kept answer's headers are kept as the edge completes them (``nosniff`` once); each request adds its own
    ``X-RateLimit-*``, on the 200 and on the 304 alike."""
    base, address = server.url, client()
    warm = requests.get(f"{base}/api/agents", timeout=10)  # another client: renders and keeps the answer
    assert warm.status_code == 200
    answers = [requests.get(f"{base}/api/agents", headers=as_client(address), timeout=10) for _ in range(2)]
    etag = answers[-1].headers["ETag"]
    answers.append(
        requests.get(f"{base}/api/agents", headers={**as_client(address), "If-None-Match": etag}, timeout=10)
    )
    assert [answer.status_code for answer in answers] == [200, 200, 304]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == [str(LIMIT - n) for n in (1, 2, 3)]
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == str(LIMIT)
        assert answer.headers["X-Content-Type-Options"] == "nosniff"  # one header: requests joins repeats with ", "
        assert int(answer.headers["X-RateLimit-Reset"]) >= time.time()
    assert answers[0].headers["ETag"] == etag and answers[0].content == answers[1].content
    assert answers[2].content == b""
