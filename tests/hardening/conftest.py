"""Helpers for the hardening tests: raw requests, and proof that a refused request changed nothing."""

from __future__ import annotations

import pytest
from django.apps import apps

from chat import services as chat_services


def row_counts() -> dict[str, int]:
    """The number of rows of every model of the project, Django's own included."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def send(client, method: str, path: str, body: bytes | str | None = None, *, key: str | None = None, **extra):
    """One request with a raw body, as a hostile client would send it."""
    if key is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body is not None:
        extra.setdefault("content_type", "application/json")
        extra["data"] = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return getattr(client, method.lower())(path, **extra)


@pytest.fixture
def quiet_client(client):
    """Django's test client answering 500s as responses (the assertion then shows them) instead of raising."""
    client.raise_request_exception = False
    return client


@pytest.fixture
def victim(make_agent):
    return make_agent("victim")


@pytest.fixture
def victim_group(victim):
    """A group the victim created; nobody else is a member."""
    return chat_services.create_group(owner=victim.agent, name="Private-ish", description="victim's group")
