"""The process's cache of groups and members (chat.memberships, issue 22): a group post to a group its author was
found a member of costs no query for either, and is never answered from an entry a leave, an admin's removal, a
deleted group or another process's change has made stale. Each exactness test first proves the entry is in the
cache, so it would fail if the cache served entries without checking their versions (or if a change did not bump
them)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from chat import memberships, services
from chat.exceptions import GroupNotFound
from chat.models import Membership, Room
from realtime.api import versions

pytestmark = pytest.mark.django_db


def post(api, who, group_id: str, content: str = "hello"):
    return api.post(f"/ai/groups/{group_id}/messages", {"content": content}, format="json", **who.auth)


def cached_member(who, group) -> bool:
    return memberships.cache.members.get((group.pk, who.agent.pk)) is not None


def test_a_group_and_member_met_before_cost_no_query(agent, group):
    room = memberships.group_ref(group_id=group.pk)
    assert memberships.is_member(agent=agent.agent, room=room)
    with CaptureQueriesContext(connection) as queries:
        again = memberships.group_ref(group_id=group.pk)
        assert memberships.is_member(agent=agent.agent, room=again)
    assert queries.captured_queries == []
    assert (again.pk, again.kind) == (group.pk, Room.Kind.GROUP)


def test_a_member_who_left_is_refused_at_once(api, agent, make_agent, group):
    bob = make_agent("bob")
    services.join_group(agent=bob.agent, group_id=group.pk)
    assert post(api, bob, group.pk).status_code == 201
    assert cached_member(bob, group)
    services.leave_group(agent=bob.agent, group_id=group.pk)
    response = post(api, bob, group.pk)
    assert (response.status_code, response.json()["code"]) == (403, "not_a_member")


def test_a_join_counts_at_once_and_a_non_member_is_never_cached(api, agent, make_agent, group):
    bob = make_agent("bob")
    assert post(api, bob, group.pk).json()["code"] == "not_a_member"
    assert not cached_member(bob, group)
    services.join_group(agent=bob.agent, group_id=group.pk)
    assert post(api, bob, group.pk).status_code == 201


def test_a_membership_removed_by_the_admin_is_refused(api, agent, make_agent, group):
    bob = make_agent("bob")
    services.join_group(agent=bob.agent, group_id=group.pk)
    assert post(api, bob, group.pk).status_code == 201
    assert cached_member(bob, group)
    Membership.objects.get(room=group, agent=bob.agent).delete()  # as the admin deletes one: the model's delete
    assert post(api, bob, group.pk).json()["code"] == "not_a_member"


def test_a_banned_member_is_refused_though_the_membership_is_cached(api, agent, make_agent, group):
    bob = make_agent("bob")
    services.join_group(agent=bob.agent, group_id=group.pk)
    assert post(api, bob, group.pk).status_code == 201
    assert cached_member(bob, group)
    moderator = account_services.create_moderator(username="mod", password="a-long-enough-password")
    account_services.ban_agent(agent=bob.agent, moderator=moderator)
    response = post(api, bob, group.pk)
    assert (response.status_code, response.json()["code"]) == (403, "agent_banned")


def test_a_deleted_group_is_not_found(api, agent, group):
    assert post(api, agent, group.pk).status_code == 201
    assert group.pk in memberships.cache.groups
    Room.objects.get(pk=group.pk).delete()
    with pytest.raises(GroupNotFound):
        memberships.group_ref(group_id=group.pk)
    response = post(api, agent, group.pk)
    assert (response.status_code, response.json()["code"]) == (404, "group_not_found")


def test_the_lobby_is_not_a_group(api, agent):
    with pytest.raises(GroupNotFound):
        memberships.group_ref(group_id="lobby")
    assert post(api, agent, "lobby").status_code == 404


def test_another_process_changing_the_members_is_seen_through_the_version(agent, make_agent, group):
    """What another process does shows here only as a bumped version (its signals ran there): a row deleted
    without this process' signals, then the version bumped, must not be answered from the entry."""
    bob = make_agent("bob")
    services.join_group(agent=bob.agent, group_id=group.pk)
    room = memberships.group_ref(group_id=group.pk)
    assert memberships.is_member(agent=bob.agent, room=room)
    Membership.objects.filter(room=group, agent=bob.agent)._raw_delete(connection.alias)  # no signal
    assert memberships.is_member(agent=bob.agent, room=room)  # served from the entry: the version is unchanged
    versions.changed(versions.members(group.pk))
    assert not memberships.is_member(agent=bob.agent, room=room)


def test_with_the_cache_off_every_check_asks(settings, agent, group):
    settings.CHATR_KEY_CACHE = False
    room = memberships.group_ref(group_id=group.pk)
    with CaptureQueriesContext(connection) as queries:
        assert memberships.is_member(agent=agent.agent, room=room)
    assert len(queries.captured_queries) == 1
