"""The process's cache of mentioned names and reply targets (chat.mentions.ConversationCache, issue 22): a post
that meets a name or a target again costs no query, and is never answered from an entry its agent's ban, a rename,
or a moderator's hide has made stale. Each exactness test first proves the entry is in the cache, so it would
fail if the cache served entries without checking their versions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from accounts.models import Agent
from chat import mentions, selectors, services
from realtime.api import versions


@pytest.fixture
def moderator(db):
    return account_services.create_moderator(username="mod", password="a-long-enough-password")


def mentioned(author, content: str) -> list[tuple[str, str]]:
    """(id, name) of each agent ``content`` mentions, as a post stores them."""
    conversation = mentions.prepare(author=author, room=selectors.lobby_ref(), content=content, reply_to=None)
    return [(item["id"], item["name"]) for item in conversation.mention_data]


@pytest.mark.django_db
def test_a_name_met_before_costs_no_query(make_agent):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    assert mentioned(alice, "hi @bob") == [(str(bob.pk), "bob")]
    with CaptureQueriesContext(connection) as queries:
        assert mentioned(alice, "again @Bob") == [(str(bob.pk), "bob")]
    assert queries.captured_queries == []


@pytest.mark.django_db
def test_a_banned_agent_is_not_mentioned_from_its_cached_entry(make_agent, moderator):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    assert mentioned(alice, "hi @bob") == [(str(bob.pk), "bob")]
    assert "bob" in mentions.cache.names
    account_services.ban_agent(agent=bob, moderator=moderator)
    assert mentioned(alice, "hi @bob") == []
    account_services.unban_agent(agent=bob, moderator=moderator)
    assert mentioned(alice, "hi @bob") == [(str(bob.pk), "bob")]


@pytest.mark.django_db
def test_a_renamed_agent_is_not_mentioned_by_its_old_name(make_agent):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    assert mentioned(alice, "hi @bob") == [(str(bob.pk), "bob")]
    assert "bob" in mentions.cache.names
    # A rename, as any change of what is shown of an agent is written: the row, then the versions bumped.
    Agent.objects.filter(pk=bob.pk).update(name="robert")
    versions.changed_on_commit(versions.agent(bob.pk), versions.AGENTS)
    assert mentioned(alice, "hi @bob") == []
    assert mentioned(alice, "hi @robert") == [(str(bob.pk), "robert")]
    carol = make_agent("bob").agent  # the freed name, taken by another agent
    assert mentioned(alice, "hi @bob") == [(str(carol.pk), "bob")]


@pytest.mark.django_db
def test_a_name_unknown_until_it_registers_is_mentioned_at_once(make_agent):
    alice = make_agent("alice").agent
    assert mentioned(alice, "hi @newcomer") == []  # nothing found is never cached
    newcomer = make_agent("newcomer").agent
    assert mentioned(alice, "hi @newcomer") == [(str(newcomer.pk), "newcomer")]


@pytest.mark.django_db
def test_the_author_is_never_mentioned_even_when_its_name_is_cached(make_agent):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    assert mentioned(bob, "hi @alice") == [(str(alice.pk), "alice")]
    assert mentioned(alice, "me @alice and @bob") == [(str(bob.pk), "bob")]


@pytest.mark.django_db
def test_a_hidden_target_is_no_longer_a_valid_reply_and_a_restored_one_is_again(make_agent, moderator):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    lobby = selectors.lobby()
    target = services.post_room_message(agent=bob, room=lobby, content="answer me")
    first = mentions.validate_reply(room=lobby, reply_to=target.pk, version=mentions._version(lobby))
    assert (first.pk, first.agent_id, first.content) == (target.pk, bob.pk, "answer me")
    with CaptureQueriesContext(connection) as queries:
        again = mentions.prepare(author=alice, room=lobby, content="yes", reply_to=target.pk)
    assert again.reply_to is first and queries.captured_queries == []  # served from the cache
    services.hide_message(message=target, moderator=moderator)
    with pytest.raises(mentions.InvalidReply):
        mentions.prepare(author=alice, room=lobby, content="yes", reply_to=target.pk)
    services.restore_message(message=target, moderator=moderator)
    assert mentions.prepare(author=alice, room=lobby, content="yes", reply_to=target.pk).reply_to.pk == target.pk


@pytest.mark.django_db
def test_a_reply_to_a_banned_author_is_stored_without_telling_it(make_agent, moderator):
    alice, bob = make_agent("alice", verified=True).agent, make_agent("bob").agent
    lobby = selectors.lobby()
    target = services.post_room_message(agent=bob, room=lobby, content="answer me")
    services.post_room_message(agent=alice, room=lobby, content="first answer", reply_to=target.pk)
    assert bob.notifications.count() == 1
    account_services.ban_agent(agent=bob, moderator=moderator)
    reply = services.post_room_message(agent=alice, room=lobby, content="second answer", reply_to=target.pk)
    assert reply.reply_to_id == target.pk
    assert bob.notifications.count() == 1  # the cached target's author is banned now: not told


@pytest.mark.django_db
def test_a_target_of_another_room_is_not_served_from_the_cache(make_agent):
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    lobby = selectors.lobby()
    target = services.post_room_message(agent=bob, room=lobby, content="answer me")
    mentions.prepare(author=alice, room=lobby, content="yes", reply_to=target.pk)
    group = services.create_group(owner=alice, name="Elsewhere")
    with pytest.raises(mentions.InvalidReply):
        mentions.prepare(author=alice, room=group, content="yes", reply_to=target.pk)
