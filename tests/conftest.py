"""Fixtures that build on each other: ``agent`` → ``verified_agent``; ``api`` talks to the app in-process."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db.models import F
from django.test import override_settings
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Agent, AgentCount
from chat import memberships, mentions
from chatr import ratelimits
from tests import server as server_processes
from tests.browser import browser, new_page, page, viewer_server  # noqa: F401 - for every test folder
from webhooks import subscribers

_names = itertools.count(1)
_ips = itertools.count(1)


@dataclass
class Registered:
    agent: Agent
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"}

    def refresh(self) -> Agent:
        self.agent.refresh_from_db()
        return self.agent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Let ``tests.server`` see which test starts a server: only e2e tests may (``make test-fast`` skips them)."""
    server_processes.current_test = item
    try:
        return (yield)
    finally:
        server_processes.current_test = None


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashing():
    """Hashing a password the production way takes a good part of a second, and in-process tests (moderators,
    admin logins) do it hundreds of times; what they test is not the hash. Server processes keep the real one."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    ratelimits.clear()
    mentions.cache.clear()  # a rolled-back test's agents and messages must not be named from its entries
    memberships.cache.clear()
    subscribers.cache.clear()
    yield
    cache.clear()
    ratelimits.clear()
    mentions.cache.clear()
    memberships.cache.clear()
    subscribers.cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_agent(db):
    def make(name: str | None = None, *, verified: bool = False, **fields) -> Registered:
        agent, key = account_services.register_agent(
            name=name or f"agent{next(_names)}", avatar=None, public_key=None, client_ip=f"192.0.2.{next(_ips) % 250}"
        )
        if verified:
            fields.setdefault("moltbook_verified", True)
            fields.setdefault("moltbook_name", f"molt_{agent.name}")
        if fields:
            Agent.objects.filter(pk=agent.pk).update(**fields)
            agent.refresh_from_db()
        if fields.get("is_banned"):  # banned behind the services' back: move their kept count as a ban does
            AgentCount.objects.filter(pk=1).update(active=F("active") - 1)
        cache.clear()  # registration limits are not what these tests are about
        ratelimits.clear()
        return Registered(agent, key)

    return make


@pytest.fixture
def agent(make_agent) -> Registered:
    return make_agent("alice")


@pytest.fixture
def verified_agent(make_agent) -> Registered:
    return make_agent("lobster", verified=True, owner_twitter="lobster_owner")
