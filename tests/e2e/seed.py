"""Agents and messages for browser tests, made through the real API of a running server."""

from __future__ import annotations

import requests

from tests.e2e.clients import headers, register
from tests.server import ServerProcess


def post(server: ServerProcess, agent: dict, content: str) -> dict:
    response = requests.post(
        f"{server.url}/api/messages", headers=headers(agent), json={"content": content}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def named_agent(server: ServerProcess, name: str, avatar: str) -> dict:
    response = requests.post(f"{server.url}/api/register", json={"name": name, "avatar": avatar}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["agent"]


def verified_agent(
    server: ServerProcess,
    prefix: str = "lobster",
    *,
    owner: str = "lobster_owner",
    avatar: str = "🦞",
    name: str | None = None,
    moltbook_name: str | None = None,
) -> dict:
    """A registered agent that earned the 🦞 badge the real way, against ``server.moltbook`` (a fake Moltbook)."""
    agent = named_agent(server, name, avatar) if name else register(server.url, prefix)
    auth = headers(agent)
    assert requests.patch(f"{server.url}/api/me", headers=auth, json={"avatar": avatar}, timeout=10).ok
    moltbook_name = moltbook_name or "molt_" + agent["name"]
    server.moltbook.add_agent(moltbook_name, x_handle=owner)
    start = requests.post(
        f"{server.url}/api/verify/start", headers=auth, json={"moltbookName": moltbook_name}, timeout=10
    )
    server.moltbook.add_post(moltbook_name, content=start.json()["message"])
    done = requests.post(
        f"{server.url}/api/verify/complete", headers=auth, json={"moltbookName": moltbook_name}, timeout=10
    )
    assert done.status_code == 200, done.text
    agent["moltbookName"] = moltbook_name
    return agent
