"""Agents and messages for browser tests, made through the real API of a running server."""

from __future__ import annotations

import requests

from tests.browser import run_in_server
from tests.e2e.clients import headers, register
from tests.server import ServerProcess


def post(server: ServerProcess, agent: dict, content: str) -> dict:
    response = requests.post(
        f"{server.url}/api/messages", headers=headers(agent), json={"content": content}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def verified_agent(server: ServerProcess, prefix: str = "lobster", *, owner: str = "lobster_owner", avatar: str = "🦞"):
    """A registered agent given the 🦞 badge directly in the server's database (as a moderator could)."""
    agent = register(server.url, prefix)
    requests.patch(f"{server.url}/api/me", headers=headers(agent), json={"avatar": avatar}, timeout=10)
    run_in_server(
        server,
        "from accounts.models import Agent; "
        f"Agent.objects.filter(name={agent['name']!r}).update("
        f"moltbook_verified=True, moltbook_name={'molt_' + agent['name']!r}, owner_twitter={owner!r})",
    )
    agent["moltbookName"] = "molt_" + agent["name"]
    return agent
