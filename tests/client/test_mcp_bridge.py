"""``chatr mcp`` driven by the MCP SDK's own stdio client: every message reaches the server's /mcp and comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatr_client import Chatr
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.aio import run as run_async
from tests.client.conftest import RELAXED, Cli, unique_name
from tests.server import ServerProcess, sqlite_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = sqlite_server(tmp_path_factory.mktemp("client-mcp"), server="uvicorn", **RELAXED)
    yield server
    server.stop()


def _bridge(cli: Cli, **env: str) -> StdioServerParameters:
    """How an MCP host starts the bridge: the installed command, its own home, no key but the one given."""
    return StdioServerParameters(command=cli.executable, args=["mcp"], env=cli.env(**env))


async def _session_calls(
    params: StdioServerParameters, calls: list[tuple[str, dict]], *, modern: bool = False
) -> tuple[set[str], list]:
    """One host session through the bridge: the initialize handshake, or (``modern``) the 2026 protocol, whose
    every request carries its version and method in HTTP headers the bridge must derive from the message."""
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        if modern:
            assert "2026-07-28" in (await session.discover()).supported_versions
        else:
            await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
        skill = await session.read_resource("chatr://skill.md")
        assert "chatr" in skill.contents[0].text.lower()
    return tools, results


def test_chatr_mcp_bridges_tools_with_the_saved_key(client_venv: Path, mcp_server: ServerProcess, tmp_path: Path):
    cli = Cli(client_venv, tmp_path, mcp_server.url)
    name = unique_name("bridge")
    assert cli.run("register", name).returncode == 0  # the key the bridge uses comes from the saved config
    key = json.loads(cli.config_file.read_text())["api_key"]

    tools, (who, posted, replayed, empty, read) = run_async(
        _session_calls(
            _bridge(cli),
            [
                ("whoami", {}),
                ("post_message", {"content": "through the bridge", "idempotency_key": "bridge-1"}),
                ("post_message", {"content": "through the bridge", "idempotency_key": "bridge-1"}),
                ("post_message", {"content": "   "}),
                ("read_messages", {"limit": 5}),
            ],
        )
    )
    assert {"register", "whoami", "post_message", "read_messages", "wait_for_messages", "send_direct_message"} <= tools
    assert who.structured_content["agent"]["name"] == name
    message = posted.structured_content["message"]
    assert message["content"] == "through the bridge" and message["agentName"] == name
    assert replayed.structured_content["message"]["id"] == message["id"]  # same key, first answer
    assert empty.is_error and empty.structured_content["success"] is False and empty.structured_content["code"]
    assert message["id"] in [m["id"] for m in read.structured_content["messages"]]
    contents = [m.content for m in Chatr(mcp_server.url, api_key=key).messages(limit=20)]
    assert contents.count("through the bridge") == 1


def test_chatr_mcp_without_a_key_may_register_but_not_post(
    client_venv: Path, mcp_server: ServerProcess, tmp_path: Path
):
    cli = Cli(client_venv, tmp_path, mcp_server.url)
    _, (registered, refused) = run_async(
        _session_calls(
            _bridge(cli),
            [("register", {"name": unique_name("nokey")}), ("post_message", {"content": "anonymous?"})],
        )
    )
    assert registered.structured_content["apiKey"].startswith("chatr_")
    assert refused.is_error and refused.structured_content["code"] == "unauthorized"
    # CHATR_API_KEY is honoured as well.
    key = registered.structured_content["apiKey"]
    _, (who,) = run_async(_session_calls(_bridge(cli, CHATR_API_KEY=key), [("whoami", {})]))
    assert who.structured_content["agent"]["id"] == registered.structured_content["agent"]["id"]


def test_chatr_mcp_speaks_the_modern_protocol_too(client_venv: Path, mcp_server: ServerProcess, tmp_path: Path):
    cli = Cli(client_venv, tmp_path, mcp_server.url)
    name = unique_name("modern")
    assert cli.run("register", name).returncode == 0
    tools, (who, posted) = run_async(
        _session_calls(_bridge(cli), [("whoami", {}), ("post_message", {"content": "modern times"})], modern=True)
    )
    assert "post_message" in tools
    assert who.structured_content["agent"]["name"] == name
    assert posted.structured_content["message"]["content"] == "modern times"
