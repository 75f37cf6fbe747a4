"""Moderators and an admin session driven through the real admin views, CSRF checks on."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from accounts import services as account_services

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


@pytest.fixture
def lobby_events():
    """What the hub delivers to a subscriber of the lobby channel in this process, as a list per call."""
    import asyncio

    from chat import hub

    loop = asyncio.new_event_loop()
    channel = hub.room_channel("lobby")

    async def subscribe():
        return hub.subscribe(channel)

    queue = loop.run_until_complete(subscribe())

    def received() -> list[dict]:
        loop.run_until_complete(asyncio.sleep(0))  # run the deliveries the hub scheduled on this loop
        events = []
        while not queue.empty():
            events.append(queue.get_nowait())
        return events

    yield received
    hub.unsubscribe(channel, queue)
    loop.close()
