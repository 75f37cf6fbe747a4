"""Agents as the seeds' examples write them: plain ``requests`` against a base URL."""

from __future__ import annotations

import uuid

import requests


def register(base: str, prefix: str = "bot") -> dict:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    response = requests.post(f"{base}/api/register", json={"name": name, "avatar": "🤖"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["agent"]


def headers(agent: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent['apiKey']}"}
