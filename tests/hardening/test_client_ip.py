"""One client-IP rule for every path (contract §1, §8), against a real uvicorn process behind a trusted proxy.

A proxy that appends its own ``X-Forwarded-For`` line (HAProxy's ``option forwardfor``) leaves the
client's own line in front of it. Every path — answers served from the edge's cache, Django views,
streams and MCP — must read all lines joined in order and count the right-most untrusted hop, so a
client can never charge its requests to an address it names.
"""

from __future__ import annotations

import http.client
import json

import pytest

from chatr.client_ip import client_ip, client_ip_of_scope, forwarded_for
from tests.server import sqlite_server
from tests.services import fresh_redis_db

pytestmark = pytest.mark.e2e

LIMIT = 5
MCP_PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("client-ip"),
        server="uvicorn",
        CHATR_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8",
        CHATR_RATE_REQUESTS_PER_IP=f"{LIMIT}/m",
    )
    yield process
    process.stop()


def send(server, path: str, lines: list[str], *, method: str = "GET", body: bytes | None = None):
    """One request with each of ``lines`` as an ``X-Forwarded-For`` line of its own, in order.

    Returns ``(status, headers)``; a stream's body is not read.
    """
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest(method, path)
        for line in lines:
            connection.putheader("X-Forwarded-For", line)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Accept", "application/json, text/event-stream")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def remaining(answer) -> str:
    return answer[1]["x-ratelimit-remaining"]


def test_cached_reads_count_against_the_address_the_proxy_appended_not_the_one_the_client_wrote(server):
    """The review's reproduction: reads naming a victim put the victim at 429 and never counted the reader."""
    victim, attacker = "203.0.113.10", "198.51.100.10"
    answers = [send(server, "/api/messages", [victim, attacker]) for _ in range(LIMIT + 1)]
    assert [status for status, _ in answers] == [200] * LIMIT + [429]
    assert [remaining(answer) for answer in answers] == ["4", "3", "2", "1", "0", "0"]
    own = send(server, "/api/messages", [victim])
    assert own[0] == 200 and remaining(own) == str(LIMIT - 1)


def test_cached_answers_views_streams_and_mcp_count_one_address(server):
    client = "198.51.100.20"
    lines = ["203.0.113.20", client]
    answers = [
        send(server, "/api/messages", lines),  # a ready answer from the edge
        send(server, "/api/groups", lines),  # a Django view
        send(server, "/api/stream", lines),  # a stream
        send(server, "/mcp", lines, method="POST", body=MCP_PING),  # MCP
    ]
    assert [status for status, _ in answers] == [200] * 4
    assert [remaining(answer) for answer in answers] == ["4", "3", "2", "1"]
    # The address they were counted for is the right-most one, as the proxy wrote it.
    assert remaining(send(server, "/api/messages", [client])) == "0"
    assert send(server, "/mcp", lines, method="POST", body=MCP_PING)[0] == 429
    assert send(server, "/api/agents", lines)[0] == 429


def test_a_chain_of_trusted_proxies_is_skipped_across_lines(server):
    """Lines from a chain of trusted proxies (10.0.0.0/8 here): the right-most untrusted hop of them all."""
    client = "198.51.100.30"
    lines = ["203.0.113.30", f"{client}, 10.0.0.5", "10.9.9.9"]
    assert remaining(send(server, "/api/messages", lines)) == "4"
    assert remaining(send(server, "/api/groups", lines)) == "3"
    assert remaining(send(server, "/api/messages", [client])) == "2"
    assert remaining(send(server, "/api/messages", ["203.0.113.30"])) == "4"  # the address the client wrote


def test_an_ipv6_client_behind_the_proxy_counts_by_its_64_on_every_path(server):
    lines = ["2001:db8:aaaa::1", "[2001:db8:bbbb:1::5]:4711"]  # the proxy's line with a port
    assert remaining(send(server, "/api/messages", lines)) == "4"
    assert remaining(send(server, "/mcp", lines, method="POST", body=MCP_PING)) == "3"
    assert remaining(send(server, "/api/groups", ["2001:db8:bbbb:1:ffff::9"])) == "2"  # same /64
    assert remaining(send(server, "/api/groups", ["2001:db8:aaaa::1"])) == "4"


def test_head_requests_of_cached_answers_count_the_same_address(server):
    client = "198.51.100.40"
    assert remaining(send(server, "/api/messages", ["203.0.113.40", client], method="HEAD")) == "4"
    assert remaining(send(server, "/api/agents", ["203.0.113.40", client], method="HEAD")) == "3"
    assert remaining(send(server, "/api/messages", [client])) == "2"


def test_an_untrusted_peer_is_itself_the_client_whatever_its_lines_say(settings):
    settings.CHATR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    scope = {"client": ("192.0.2.1", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.1")]}
    assert client_ip_of_scope(scope) == "192.0.2.1"


def test_every_line_is_read_in_order_and_only_that_header_name(settings, rf):
    settings.CHATR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    headers = [
        (b"x-forwarded-for", b"203.0.113.1"),
        (b"x_forwarded_for", b"203.0.113.2"),  # another header, whatever a WSGI environ would make of it
        (b"x-forwarded-for", b"198.51.100.1, 10.0.0.2"),
        (b"x-forwarded-for", b"10.0.0.3"),
    ]
    assert forwarded_for(headers) == "203.0.113.1,198.51.100.1, 10.0.0.2,10.0.0.3"
    scope = {"client": ("10.0.0.1", 5000), "headers": headers}
    assert client_ip_of_scope(scope) == "198.51.100.1"
    # A Django request reads its ASGI scope (a2wsgi's ``asgi.scope``), not a header joined by someone else.
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99")
    request.META["asgi.scope"] = scope
    assert client_ip(request) == "198.51.100.1"
    # Without a scope (a WSGI server), the lines the server joined.
    del request.META["asgi.scope"]
    assert client_ip(request) == "192.0.2.99"


@pytest.mark.services
def test_two_processes_on_redis_count_one_client_by_one_rule_on_every_path(tmp_path):
    """Cached reads, MCP, views and streams split over two processes sharing Redis: one budget, the right-most hop's."""
    with fresh_redis_db() as url:
        env = {"REDIS_URL": url, "CHATR_RATE_REQUESTS_PER_IP": "6/m", "CHATR_TRUSTED_PROXIES": "127.0.0.1"}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = sqlite_server(tmp_path / "a", server="uvicorn", **env)
        second = sqlite_server(tmp_path / "b", server="uvicorn", **env)
        try:
            lines = ["203.0.113.60", "198.51.100.60"]
            answers = [
                send(first, "/api/messages", lines),
                send(second, "/mcp", lines, method="POST", body=MCP_PING),
                send(first, "/mcp", lines, method="POST", body=MCP_PING),
                send(second, "/api/messages", lines),
                send(first, "/api/groups", lines),
                send(second, "/api/stream", lines),
            ]
            assert [status for status, _ in answers] == [200] * 6
            assert [remaining(answer) for answer in answers] == ["5", "4", "3", "2", "1", "0"]
            assert send(second, "/mcp", lines, method="POST", body=MCP_PING)[0] == 429
            assert send(first, "/api/messages", lines)[0] == 429
            assert remaining(send(first, "/api/messages", ["203.0.113.60"])) == "5"  # the address the client wrote
        finally:
            first.stop()
            second.stop()
