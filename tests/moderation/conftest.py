"""Moderators and an admin session driven through the real admin views, CSRF checks on."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from accounts import services as account_services
from realtime import api as realtime
from tests.realtime.capture import capture_events

MODERATOR_PASSWORD = "correct horse battery staple"

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


@dataclass
class AdminSession:
    """A browser-like session on the admin: reads each form's CSRF token from the page it posts from."""

    client: Client
    user: AbstractBaseUser

    def run_action(self, changelist: str, action: str, ids: list[object]):
        page = self.client.get(changelist)
        assert page.status_code == 200
        return self.client.post(
            changelist,
            {
                "csrfmiddlewaretoken": csrf_token(page.content.decode()),
                "action": action,
                "_selected_action": [str(pk) for pk in ids],
                "index": "0",
                "select_across": "0",
            },
        )


def admin_login(client: Client, username: str, password: str, **extra):
    page = client.get("/admin/login/", **extra)
    return client.post(
        "/admin/login/?next=/admin/",
        {"csrfmiddlewaretoken": csrf_token(page.content.decode()), "username": username, "password": password},
        **extra,
    )


@pytest.fixture
def moderator(db) -> AbstractBaseUser:
    return account_services.create_moderator(username="mod", password=MODERATOR_PASSWORD)


@pytest.fixture
def admin_session(moderator) -> AdminSession:
    client = Client(enforce_csrf_checks=True)
    response = admin_login(client, "mod", MODERATOR_PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    return AdminSession(client, moderator)


@pytest.fixture
def post_message(db):
    """Posts to the lobby through the real service, as the API would."""

    def post(who, content: str = "hello"):
        from chat import selectors
        from chat import services as chat_services

        return chat_services.post_room_message(agent=who.agent, room=selectors.lobby(), content=content)

    return post


class ChannelListener:
    """What services publish on one hub channel (after commit); real sockets are tested in test_live.py."""

    def __init__(self, channel: str, captured: list[tuple[str, dict]]) -> None:
        self.channel = channel
        self._captured = captured
        self._seen = 0

    def received(self, *, wait: float = 0.0) -> list[dict]:
        """The events published on the channel since the last call."""
        fresh = self._captured[self._seen :]
        self._seen = len(self._captured)
        return [event for channel, event in fresh if channel == self.channel]


@pytest.fixture
def listen():
    """``listen(channel)`` watches a hub channel; ``.received()`` gives the events published on it."""
    with capture_events() as captured:
        yield lambda channel: ChannelListener(channel, captured)


@pytest.fixture
def lobby_events(listen):
    """What a stream on the lobby would be sent, as a list of events per call."""
    return listen(realtime.room_channel("lobby")).received
