"""What ``/mcp`` does before the SDK sees a request: the method check and the per-IP request limit.

MCP here is stateless (no session lives in a process), so the server can never send anything on the
stream a ``GET`` would open: ``GET`` (and every method but ``POST``) is 405, and no connection is held.

Every ``POST`` carries one JSON-RPC message — a request (``initialize``, ``tools/list``,
``resources/read``, a tool call, …), a notification or a response; the SDK refuses batches — and counts
as one request of the client IP against contract §8's request limit, exactly once, whether or not a key
is sent, so keyless reads are limited as REST's keyless reads are. Counting here rather than in each
tool is what makes every method count, and a tool call count once.

A refusal is answered in the shape the client's SDK reads for that message: a tool call gets a tool
result with ``isError`` and the contract's error object (contract §10, as for any other tool error);
another request gets a JSON-RPC error whose ``data`` is that object, at the HTTP status of the refusal
(the SDK surfaces a JSON-RPC error sent at a non-2xx status as the request's error); a notification or
anything else gets the error object alone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from mcp_types import CallToolResult, TextContent

from chatr import ratelimits
from chatr.errors import ServiceUnavailable, error_body, is_outage, log_outage

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

ALLOWED_METHODS = "POST"
# The implementation-defined server-error range of JSON-RPC 2.0 (-32000 to -32099).
REFUSED = -32000


@dataclass(frozen=True)
class Refusal:
    status: int
    body: dict[str, Any]  # the contract's error object
    headers: dict[str, str] = field(default_factory=dict)


async def count_request(ip: str) -> ratelimits.Usage | Refusal | None:
    """One request of ``ip`` (contract §8): its usage for the response headers, or why it is refused."""
    try:
        return await ratelimits.aconsume("requests_per_ip", ip)
    except ratelimits.RateLimited as limited:
        return Refusal(429, limited.body(), limited.headers())
    except Exception as error:
        if not is_outage(error):
            raise
        log_outage(error)  # the shared cache (Redis) is away
        outage = ServiceUnavailable()
        return Refusal(503, error_body(status=503, code=outage.code, message=outage.message), outage.headers)


async def read_body(receive: Receive) -> bytes:
    """The request's whole body (``chatr.body_limit`` has bounded it already)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once more, then whatever the connection says next."""
    pending: list[MutableMapping[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> MutableMapping[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


def with_usage_headers(send: Send, usage: ratelimits.Usage | None) -> Send:
    """``send`` that adds the ``X-RateLimit-*`` headers of the counted request to the response (contract §1)."""
    if usage is None:
        return send
    extra = _encoded(usage.headers())

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


async def refuse(send: Send, body: bytes, refusal: Refusal) -> None:
    """Answer a refused request in the shape its JSON-RPC message calls for (see the module's docstring)."""
    message = _message(body)
    status, payload = refusal.status, refusal.body
    if message is not None and "id" in message and "method" in message:
        if message["method"] == "tools/call":
            result = tool_error(refusal.body).model_dump(by_alias=True, mode="json", exclude_none=True)
            status, payload = 200, {"jsonrpc": "2.0", "id": message["id"], "result": result}
        else:
            error = {"code": REFUSED, "message": refusal.body["error"], "data": refusal.body}
            payload = {"jsonrpc": "2.0", "id": message["id"], "error": error}
    await _send_json(send, status, payload, refusal.headers)


async def method_not_allowed(send: Send) -> None:
    body = error_body(status=405, code="method_not_allowed", message="This method is not allowed here: POST only.")
    await _send_json(send, 405, body, {"Allow": ALLOWED_METHODS})


def tool_error(body: dict[str, Any]) -> CallToolResult:
    """A tool result carrying the contract's error object (contract §10)."""
    text = f"Error ({body['code']}): {body['error']}"
    if "retry_after" in body:
        text += f" Try again in {body['retry_after']} s."
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=body, is_error=True)


def _message(body: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


async def _send_json(send: Send, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
    encoded = json.dumps(payload, ensure_ascii=False).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(encoded)).encode()),
        *_encoded(headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": encoded})


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
