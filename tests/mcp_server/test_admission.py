"""What ``/mcp`` does before the SDK (contract §10, §8), against a real uvicorn process: ``GET`` is 405 at once
(no stream opens while MCP is stateless), and every JSON-RPC request — whatever its method, with a key or
without — counts as exactly one request of the client IP, refused in the shape the SDK client reads."""

from __future__ import annotations

import itertools
import json

import pytest
import requests
from mcp.shared.exceptions import MCPError

from tests.aio import run as run_async
from tests.mcp_server.client import error, register, session
from tests.server import sqlite_server

pytestmark = pytest.mark.e2e

LIMIT = 6
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Six requests a minute per client; each test is a client of its own behind the trusted local proxy."""
    process = sqlite_server(
        tmp_path_factory.mktemp("mcp-admission"),
        server="uvicorn",
        CHATR_RATE_REQUESTS_PER_IP=f"{LIMIT}/m",
        CHATR_RATE_REGISTRATIONS_PER_IP="10000/h",
        CHATR_TRUSTED_PROXIES="127.0.0.1",
    )
    yield process
    process.stop()


def new_client() -> str:
    return f"198.51.100.{next(_addresses)}"


def rpc(base: str, client: str, message: object, **headers: str) -> requests.Response:
    return requests.post(
        f"{base}/mcp",
        data=json.dumps(message),
        headers={**MCP_HEADERS, "X-Forwarded-For": client, **headers},
        timeout=10,
    )


def request(method: str, params: dict | None = None, *, id_: int = 1) -> dict:
    message: dict = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


INITIALIZE = request(
    "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
)
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@pytest.mark.parametrize("path", ["/mcp", "/mcp/"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "PUT"])
def test_anything_but_post_is_405_at_once_and_opens_no_stream(server, path, method):
    response = requests.request(
        method, f"{server.url}{path}", headers={"Accept": "text/event-stream, application/json"}, timeout=5
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        assert response.json() == {
            "success": False,
            "error": "This method is not allowed here: POST only.",
            "code": "method_not_allowed",
        }


def test_a_flood_of_gets_holds_nothing_open_and_streams_still_open(server):
    """The review opened 1,000 never-ending streams from one address; now each GET is answered and closed."""
    with requests.Session() as http:
        statuses = {http.get(f"{server.url}/mcp", headers={"Accept": "text/event-stream"}, timeout=5).status_code
                    for _ in range(200)}  # fmt: skip
    assert statuses == {405}
    with requests.get(f"{server.url}/api/stream", stream=True, timeout=5) as stream:
        assert stream.status_code == 200


def test_every_json_rpc_method_counts_once_and_a_tool_call_not_twice(server):
    client = new_client()
    answers = [
        rpc(server.url, client, INITIALIZE),
        rpc(server.url, client, INITIALIZED),
        rpc(server.url, client, request("tools/list")),
        rpc(server.url, client, request("resources/read", {"uri": "chatr://rooms/lobby"})),
        rpc(server.url, client, request("tools/call", {"name": "list_groups", "arguments": {}})),
        rpc(server.url, client, request("tools/call", {"name": "wait_for_messages",
                                                       "arguments": {"after": 0, "timeout_seconds": 1}})),
    ]  # fmt: skip
    assert [answer.status_code for answer in answers] == [200, 202, 200, 200, 200, 200]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["5", "4", "3", "2", "1", "0"]
    assert all(answer.headers["X-RateLimit-Limit"] == str(LIMIT) for answer in answers)
    # The budget is the one REST uses: the same client's next REST read is refused too.
    rest = requests.get(f"{server.url}/api/groups", headers={"X-Forwarded-For": client}, timeout=10)
    assert rest.status_code == 429 and rest.json()["code"] == "rate_limited"
    # Another client is untouched.
    assert rpc(server.url, new_client(), request("tools/list")).status_code == 200


def test_a_refusal_comes_back_in_the_shape_each_message_calls_for(server):
    client = new_client()
    for _ in range(LIMIT):
        assert rpc(server.url, client, request("ping")).status_code == 200
    # A tool call: a tool result with isError and the contract's error object, as any tool error.
    tool = rpc(server.url, client, request("tools/call", {"name": "list_agents", "arguments": {}}, id_=7))
    assert tool.status_code == 200 and tool.json()["id"] == 7
    result = tool.json()["result"]
    assert result["isError"] is True
    assert result["structuredContent"]["code"] == "rate_limited" and result["structuredContent"]["retry_after"] >= 1
    assert "Try again in" in result["content"][0]["text"]
    # Any other request: a JSON-RPC error carrying the same object, at 429 with the limit headers.
    read = rpc(server.url, client, request("resources/read", {"uri": "chatr://skill.md"}, id_=8))
    assert read.status_code == 429 and read.headers["Retry-After"] == str(read.json()["error"]["data"]["retry_after"])
    assert read.headers["X-RateLimit-Remaining"] == "0"
    assert read.json()["id"] == 8 and read.json()["error"]["data"]["code"] == "rate_limited"
    # A notification has no id to answer: the error object alone.
    note = rpc(server.url, client, INITIALIZED)
    assert note.status_code == 429 and note.json()["code"] == "rate_limited"


def test_the_sdk_client_reads_a_keyless_flood_as_a_rate_limit(server):
    """A keyless host reading a resource in a loop is stopped like a keyless REST reader, and told why."""
    client = new_client()

    async def flood() -> tuple[int, MCPError]:
        reads = 0
        async with session(server.url, **{"X-Forwarded-For": client}) as opened:  # initialize + initialized
            try:
                while True:
                    await opened.read_resource("chatr://skill.md")
                    reads += 1
            except MCPError as refused:
                return reads, refused

    reads, refused = run_async(flood())
    assert reads == LIMIT - 2
    assert refused.error.data["code"] == "rate_limited" and refused.error.data["retry_after"] >= 1


def test_a_tool_call_through_the_sdk_is_refused_as_a_tool_error(server):
    client = new_client()
    key = register(server.url, "adm")["apiKey"]  # from the local address, not this client

    async def calls() -> list:
        async with session(server.url, key, **{"X-Forwarded-For": client}) as opened:
            return [await opened.call_tool("whoami", {}) for _ in range(LIMIT)]

    results = run_async(calls())
    refused = [result.is_error for result in results]
    assert refused[0] is False and refused[-1] is True
    assert refused == sorted(refused)  # served until the budget ran out, refused from then on
    assert {error(result)["code"] for result in results if result.is_error} == {"rate_limited"}


def test_an_ipv6_client_counts_by_its_64(server):
    first, second = "2001:db8:24:3::1", "2001:db8:24:3:ffff::2"
    for n in range(LIMIT):
        assert rpc(server.url, (first, second)[n % 2], request("ping")).status_code == 200
    assert rpc(server.url, second, request("tools/list")).status_code == 429
    assert rpc(server.url, "2001:db8:24:4::1", request("tools/list")).status_code == 200


def test_a_batch_is_still_refused_and_counts_once(server):
    client = new_client()
    batch = rpc(server.url, client, [request("ping", id_=1), request("tools/list", id_=2)])
    assert batch.status_code == 400 and "result" not in batch.text
    assert batch.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    assert rpc(server.url, client, request("ping")).headers["X-RateLimit-Remaining"] == str(LIMIT - 2)
