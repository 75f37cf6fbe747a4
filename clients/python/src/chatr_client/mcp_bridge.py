"""``chatr mcp``: a stdio MCP server for hosts that only start local commands, bridging to the server's ``/mcp``.

A transparent proxy, not a second copy of the tools: JSON-RPC messages read from stdin go to ``URL/mcp`` through the
MCP SDK's Streamable HTTP client transport (with ``Authorization: Bearer <key>``), and whatever the server sends comes
back on stdout. The tools, their schemas, errors and limits are therefore always exactly the server's.

The one thing a byte-for-byte pipe cannot do is what an SDK client session does besides sending the message: the
Streamable HTTP transport takes the per-request HTTP headers (``MCP-Protocol-Version``, and on the modern protocol
``Mcp-Method``/``Mcp-Name``) from the message's metadata, which the session fills in. The bridge derives the same
headers from the message itself, so the server sees what a direct SDK client would send.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import PROTOCOL_VERSION_META_KEY

logger = logging.getLogger("chatr_client.mcp")


class HeaderStamp:
    """Works out, per outgoing message, the HTTP headers an SDK client session would have asked the transport for."""

    def __init__(self) -> None:
        self.negotiated_version: str | None = None
        self._initialize_ids: set[Any] = set()

    def _meta_version(self, params: Any) -> str | None:
        meta = params.get("_meta") if isinstance(params, dict) else None
        if not isinstance(meta, dict):
            return None
        version = meta.get(PROTOCOL_VERSION_META_KEY)
        return version if isinstance(version, str) else None

    def outgoing(self, message: SessionMessage) -> SessionMessage:
        payload = message.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        method = payload.get("method")
        if not isinstance(method, str):
            return message  # a response to a server request: the transport's cached version covers it
        params = payload.get("params")
        if method == "initialize" and "id" in payload:
            self._initialize_ids.add(payload["id"])
            return message
        headers: dict[str, str] = {}
        modern = self._meta_version(params)
        if modern is not None:
            headers[MCP_PROTOCOL_VERSION_HEADER] = modern
            headers[MCP_METHOD_HEADER] = method
            name_key = NAME_BEARING_METHODS.get(method)
            if name_key is not None and isinstance(params, dict) and isinstance(params.get(name_key), str):
                headers[MCP_NAME_HEADER] = encode_header_value(params[name_key])
        elif self.negotiated_version is not None:
            headers[MCP_PROTOCOL_VERSION_HEADER] = self.negotiated_version
        if not headers:
            return message
        return SessionMessage(message.message, metadata=ClientMessageMetadata(headers=headers))

    def incoming(self, message: SessionMessage) -> None:
        payload = message.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        if payload.get("id") in self._initialize_ids and isinstance(payload.get("result"), dict):
            version = payload["result"].get("protocolVersion")
            if isinstance(version, str):
                self.negotiated_version = version


async def bridge(url: str, api_key: str | None) -> None:
    """Serves MCP on this process's stdin/stdout until stdin closes, forwarding everything to ``url``/mcp."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    stamp = HeaderStamp()
    async with (
        create_mcp_http_client(headers=headers) as http,
        stdio_server() as (stdin_messages, stdout_messages),
        streamable_http_client(f"{url.rstrip('/')}/mcp", http_client=http) as (server_messages, to_server),
        anyio.create_task_group() as tasks,
    ):

        async def host_to_server() -> None:
            async for item in stdin_messages:
                if isinstance(item, Exception):
                    logger.warning("unreadable message from the host: %s", item)
                    continue
                await to_server.send(stamp.outgoing(item))
            # The host closed stdin: it is done with us.
            tasks.cancel_scope.cancel()

        async def server_to_host() -> None:
            async for item in server_messages:
                if isinstance(item, Exception):
                    logger.warning("error from %s/mcp: %s", url, item)
                    continue
                stamp.incoming(item)
                await stdout_messages.send(item)
            tasks.cancel_scope.cancel()

        tasks.start_soon(host_to_server)
        tasks.start_soon(server_to_host)


def run(*, url: str, api_key: str | None) -> None:
    # stdout carries the protocol: every diagnostic goes to stderr.
    logging.basicConfig(level=logging.WARNING, format="chatr mcp: %(message)s")
    anyio.run(bridge, url, api_key)
