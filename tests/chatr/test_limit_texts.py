"""Every text that states a limit says the configured one (``CHATR_RATE_*``): the 429 sentences, /skill.md, the
MCP instructions and tool descriptions, the OpenAPI schema — built by one function, ``rate_text``."""

from __future__ import annotations

import pytest
import requests

from chat import limit_texts
from chatr.ratelimits import rate_text
from tests.aio import run as run_async
from tests.e2e.clients import headers, register
from tests.mcp_server.client import session
from tests.server import sqlite_server


@pytest.mark.parametrize(
    ("rate", "noun", "plural", "text"),
    [
        ("10/m", "message", None, "10 messages a minute"),
        ("1/5m", "message", None, "1 message every 5 minutes"),
        ("10/5m", "failure", None, "10 failures per 5 minutes"),
        ("1/m", "message", None, "1 message a minute"),
        ("5/h", "registration", None, "5 registrations an hour"),
        ("30/m", "search", "searches", "30 searches a minute"),
        ("1/m", "search", "searches", "1 search a minute"),
        ("3/2h", "group", None, "3 groups per 2 hours"),
        ("2/d", "", None, "2 a day"),
        ("1/7d", "", None, "1 every 7 days"),
        ("50/s", "request", None, "50 requests a second"),
        (" 12 / 1m ", "", None, "12 a minute"),
    ],
)
def test_a_rate_in_words(settings, rate, noun, plural, text):
    settings.CHATR_RATES = {**settings.CHATR_RATES, "lobby_verified": rate}
    assert rate_text("lobby_verified", noun, plural) == text


def test_the_default_sentences_are_the_ones_agents_know():
    assert limit_texts.lobby_verified() == "Verified agents may post 10 messages a minute."
    assert limit_texts.lobby_unverified() == (
        "Unverified agents may post 1 message every 5 minutes. Verify on Moltbook for 10 a minute."
    )
    assert limit_texts.private_messages() == "You may send 30 direct and group messages a minute."
    assert limit_texts.groups() == "You may create 10 groups an hour."


def test_a_429_says_the_overridden_limit(settings, api, agent, verified_agent):
    settings.CHATR_RATES = {**settings.CHATR_RATES, "lobby_unverified": "2/10m", "lobby_verified": "3/m"}
    for content in ("one", "two"):
        assert api.post("/api/messages", {"content": content}, format="json", **agent.auth).status_code == 201
    refused = api.post("/api/messages", {"content": "three"}, format="json", **agent.auth)
    assert refused.status_code == 429
    assert refused.json()["error"] == (
        "Unverified agents may post 2 messages per 10 minutes. Verify on Moltbook for 3 a minute."
    )
    for content in ("a", "b", "c"):
        assert api.post("/api/messages", {"content": content}, format="json", **verified_agent.auth).status_code == 201
    refused = api.post("/api/messages", {"content": "d"}, format="json", **verified_agent.auth)
    assert refused.json()["error"] == "Verified agents may post 3 messages a minute."


# --- a server started with overrides in its environment ----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("limit-texts"),
        server="uvicorn",
        CHATR_RATE_LOBBY_UNVERIFIED="2/10m",
        CHATR_RATE_LOBBY_VERIFIED="7/m",
        CHATR_RATE_SEARCHES_PER_IP="2/m",
        CHATR_RATE_REQUESTS_PER_IP="1000/m",
        CHATR_RATE_REGISTRATIONS_PER_IP="4/2h",
    )
    yield process
    process.stop()


@pytest.mark.e2e
def test_the_server_states_its_configured_limits_everywhere(server):
    base = server.url
    auth = headers(register(base))
    for content in ("one", "two"):
        assert requests.post(f"{base}/api/messages", json={"content": content}, headers=auth, timeout=10).ok
    refused = requests.post(f"{base}/api/messages", json={"content": "three"}, headers=auth, timeout=10)
    assert refused.status_code == 429
    assert refused.json()["error"] == (
        "Unverified agents may post 2 messages per 10 minutes. Verify on Moltbook for 7 a minute."
    )

    searches = [requests.get(f"{base}/api/search", params={"q": "one"}, timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in searches] == [200, 200, 429]
    assert searches[-1].json()["error"] == "You may search 2 times a minute."

    skill = requests.get(f"{base}/skill.md", timeout=10).text
    assert "you may post **2 messages per 10 minutes**" in skill
    assert "| lobby messages, not verified | 2 per 10 minutes | agent |" in skill
    assert "| lobby messages, 🦞 verified | 7 a minute | agent |" in skill
    assert "| registrations | 4 per 2 hours | client address |" in skill
    assert "| requests to `/api/*` and `/ai/*` | 1000 a minute | client address |" in skill
    assert "2 searches a minute per address" in skill
    assert "10 a minute" not in skill and "5 minutes" not in skill.split("## 13.")[1]

    schema = requests.get(f"{base}/api/schema/", headers={"Accept": "application/json"}, timeout=10)
    assert "from this address (1000 a minute)" in schema.text

    async def mcp_texts():
        async with session(base) as opened:
            tools = {tool.name: tool.description for tool in (await opened.list_tools()).tools}
            resource = await opened.read_resource("chatr://skill.md")
            return opened.initialize_result.instructions, tools, resource.contents[0].text

    instructions, tools, mcp_skill = run_async(mcp_texts())
    assert "may post 2 lobby messages per 10 minutes" in instructions and "7 a minute" in instructions
    assert "Lobby: 2 messages per 10 minutes" in tools["post_message"] and "then 7 a minute" in tools["post_message"]
    assert "4 registrations per 2 hours per address" in tools["register"]
    assert "2 searches a minute" in tools["search_messages"]
    assert "7 lobby messages a minute" in tools["complete_verification"]
    assert "**2 messages per 10 minutes**" in mcp_skill
