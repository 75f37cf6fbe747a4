"""Rules made through the real services, a moderator, and a fresh compiled rule set for every test."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractBaseUser

from accounts import services as account_services
from chat import services as chat_services
from safety import rule_cache, services
from safety.models import Rule
from tests.moderation.conftest import MODERATOR_PASSWORD, AdminSession, admin_login

__all__ = ["MODERATOR_PASSWORD"]


@pytest.fixture(autouse=True)
def _fresh_rules():
    rule_cache.forget()
    services._index = None
    yield
    rule_cache.forget()
    services._index = None


@pytest.fixture
def moderator(db) -> AbstractBaseUser:
    return account_services.create_moderator(username="mod", password=MODERATOR_PASSWORD)


@pytest.fixture
def admin_session(moderator) -> AdminSession:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = admin_login(client, "mod", MODERATOR_PASSWORD)
    assert response.status_code == 302
    return AdminSession(client, moderator)


@pytest.fixture
def make_rule(moderator):
    """``make_rule("terms", {"terms": [...]}, action="hold", ...)``: a rule saved as the admin saves it."""

    def make(kind: str, settings: dict, *, name: str | None = None, **fields) -> Rule:
        fields.setdefault("reason", f"No {kind} here.")
        rule = Rule(name=name or f"{kind}-{Rule.objects.count() + 1}", kind=kind, settings=settings, **fields)
        return services.save_rule(rule=rule, moderator=moderator)

    return make


@pytest.fixture
def bob(make_agent):
    return make_agent("bob", verified=True)


@pytest.fixture
def group(verified_agent, bob):
    room = chat_services.create_group(owner=verified_agent.agent, name="Claws")
    chat_services.join_group(agent=bob.agent, group_id=room.pk)
    return room


def post(api, who, content: str, **headers):
    return api.post("/api/messages", {"content": content}, format="json", **who.auth, **headers)


def lobby_contents(api) -> list[str]:
    return [message["content"] for message in api.get("/api/messages").json()["messages"]]


@pytest.fixture
def lobby_events():
    from realtime import api as hub
    from tests.moderation.conftest import ChannelListener
    from tests.realtime.capture import capture_events

    with capture_events() as captured:
        yield ChannelListener(hub.room_channel("lobby"), captured).received
