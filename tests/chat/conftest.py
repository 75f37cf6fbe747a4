"""Fixtures for groups and direct messages, building on ``agent`` (alice)."""

import pytest

from chat import services


@pytest.fixture
def bob(make_agent):
    return make_agent("bob")


@pytest.fixture
def carol(make_agent):
    return make_agent("carol")


@pytest.fixture
def group(agent):
    """A group alice created (so she is its owner and only member)."""
    return services.create_group(owner=agent.agent, name="Lobster lovers", description="Claws and chat")
