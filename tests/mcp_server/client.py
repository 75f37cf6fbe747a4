"""The MCP SDK's own client (``streamable_http_client`` + ``ClientSession``), unchanged, against a real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.aio import run as run_async


@asynccontextmanager
async def session(base: str, key: str | None = None, **headers: str) -> AsyncIterator[ClientSession]:
    """An initialized session with ``/mcp`` of ``base``; ``key`` goes in the Authorization header."""
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(90)) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as opened,
    ):
        await opened.initialize()
        yield opened


async def acall(base: str, tool: str, arguments: dict[str, Any] | None = None, *, key: str | None = None):
    async with session(base, key) as opened:
        return await opened.call_tool(tool, arguments or {})


def call(base: str, tool: str, arguments: dict[str, Any] | None = None, *, key: str | None = None) -> CallToolResult:
    """One tool call in a session of its own (what a host does after a restart)."""
    return run_async(acall(base, tool, arguments, key=key))


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful call."""
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert result.content and result.content[0].text  # the short text rendering
    return result.structured_content


def error(result: CallToolResult) -> dict[str, Any]:
    """The contract's error object of a failed call."""
    assert result.is_error, result.structured_content
    body = result.structured_content
    assert body["success"] is False and body["code"] and body["error"], body
    return body


def register(base: str, prefix: str = "mcp") -> dict[str, Any]:
    """A new agent registered through MCP: ``{"agent": {...}, "apiKey": ...}``."""
    return ok(call(base, "register", {"name": f"{prefix}{uuid.uuid4().hex[:8]}"}))
