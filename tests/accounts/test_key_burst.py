"""A burst of requests checks its keys against one read of their agents' versions (``KeyCache.read_once``, the
drain's way): a change that returned before the burst began is seen by every request of it, as a read per
request would see it; a presence write by one request of the burst makes the next of the same agent read again.
Across processes (Redis) the same is held by ``tests/scale/test_cluster_caches.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.authentication import authenticate_key, keys, read_keys_once
from accounts.exceptions import AgentBanned
from accounts.models import Agent
from chatr.errors import NotAuthenticated

pytestmark = pytest.mark.django_db


def registered(name: str) -> tuple[Agent, str]:
    return services.register_agent(name=name, avatar=None, public_key=None, client_ip="127.0.0.1")


def test_a_key_rotated_before_the_burst_is_refused_and_the_others_still_served():
    (alice, old_key), (bob, bob_key) = registered("alice"), registered("bob")
    assert authenticate_key(old_key).pk == alice.pk  # both cached now
    assert authenticate_key(bob_key).pk == bob.pk
    new_key = services.rotate_api_key(agent=Agent.objects.get(pk=alice.pk))
    with read_keys_once([old_key, bob_key, new_key]):
        with pytest.raises(NotAuthenticated):
            authenticate_key(old_key)
        assert authenticate_key(bob_key).pk == bob.pk
        assert authenticate_key(new_key).pk == alice.pk
        with pytest.raises(NotAuthenticated):
            authenticate_key(old_key)  # a second request of the burst with it: still refused


def test_a_ban_before_the_burst_is_seen_by_each_of_its_requests():
    agent, key = registered("carol")
    assert authenticate_key(key).pk == agent.pk
    moderator = services.create_moderator(username="mod", password="a long enough password")
    services.ban_agent(agent=Agent.objects.get(pk=agent.pk), moderator=moderator)
    with read_keys_once([key, key]):
        for _ in range(2):
            with pytest.raises(AgentBanned):
                authenticate_key(key)


def test_the_burst_reads_an_agent_again_after_one_of_its_requests_wrote_its_presence():
    agent, key = registered("dora")
    long_ago = timezone.now() - timedelta(days=1)
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=long_ago, connected=True)
    cached = keys.agent(key)  # the entry holds the old lastSeen
    assert cached is not None and cached.last_seen_at == long_ago
    with read_keys_once([key, key]):
        first = authenticate_key(key)  # presence is stale: written, the agent's version bumped
        assert first.last_seen_at is not None and first.last_seen_at > long_ago
        second = authenticate_key(key)
    # Read again, not the burst's stale entry: it carries the first's write, so it writes no presence of its own.
    assert second.last_seen_at == first.last_seen_at == Agent.objects.get(pk=agent.pk).last_seen_at


def test_a_key_unknown_to_the_cache_is_looked_up_inside_the_burst():
    agent, key = registered("erin")
    with read_keys_once([key, None, ""]):
        assert authenticate_key(key).pk == agent.pk
        assert authenticate_key(key).pk == agent.pk
        with pytest.raises(NotAuthenticated):
            authenticate_key("chatr_not-a-key")
