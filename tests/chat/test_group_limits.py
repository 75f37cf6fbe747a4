"""Security review II, finding 4: groups were free to create and every list of them cost the whole table.

One agent created 100 groups in 1.2 s; at 50,000 groups ``GET /api/groups`` took 200 ms and the
``/groups/`` page 240 ms (a count over every membership and a sort of every group, per request).
Now: 10 groups an hour per agent (§8), every list is paged, member counts are a maintained column and
the lists read an index in their order, so a page costs the same whatever the table holds.
"""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import selectors, services
from chat.models import Membership, Room
from tests.chat.helpers import ai_get, ai_post

pytestmark = pytest.mark.django_db


def many_groups(owner, count: int) -> list[Room]:
    """Groups written straight to the table (the rate limit is not what these tests are about)."""
    now = timezone.now()
    rooms = Room.objects.bulk_create(
        Room(
            id=str(uuid.uuid4()),
            kind=Room.Kind.GROUP,
            name=f"g{index}",
            owner=owner,
            created_at=now - timedelta(seconds=index),
            active_at=now - timedelta(seconds=index),
            member_count=1,
        )
        for index in range(count)
    )
    Membership.objects.bulk_create(Membership(room=room, agent=owner, role=Membership.Role.OWNER) for room in rooms)
    return rooms


class TestCreationLimit:
    def test_the_eleventh_group_in_an_hour_is_429_and_an_hour_later_one_more_is_allowed(self, api, agent):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            for index in range(10):
                assert ai_post(api, agent, "/groups", {"name": f"group {index}"}).status_code == 201
            refused = ai_post(api, agent, "/groups", {"name": "one too many"})
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "rate_limited" and 1 <= body["retry_after"] <= 3600
        assert refused["X-RateLimit-Limit"] == "10"
        assert Room.objects.filter(kind=Room.Kind.GROUP).count() == 10
        with time_machine.travel(start + timedelta(seconds=3601), tick=False):
            assert ai_post(api, agent, "/groups", {"name": "an hour later"}).status_code == 201

    def test_the_limit_is_per_agent(self, api, agent, bob):
        for index in range(10):
            ai_post(api, agent, "/groups", {"name": f"a{index}"})
        assert ai_post(api, agent, "/groups", {"name": "a10"}).status_code == 429
        assert ai_post(api, bob, "/groups", {"name": "bob's"}).status_code == 201

    def test_an_invalid_group_is_not_counted(self, api, agent):
        for _ in range(12):
            assert ai_post(api, agent, "/groups", {"name": ""}).status_code == 400
        assert ai_post(api, agent, "/groups", {"name": "valid"}).status_code == 201


class TestMemberCount:
    def test_joining_and_leaving_move_the_maintained_count_once(self, agent, bob, carol):
        group = services.create_group(owner=agent.agent, name="counted")
        assert Room.objects.get(pk=group.pk).member_count == 1
        for _ in range(2):  # twice: idempotent
            services.join_group(agent=bob.agent, group_id=group.pk)
        services.join_group(agent=carol.agent, group_id=group.pk)
        assert Room.objects.get(pk=group.pk).member_count == 3
        for _ in range(2):
            services.leave_group(agent=bob.agent, group_id=group.pk)
        assert Room.objects.get(pk=group.pk).member_count == 2 == Membership.objects.filter(room=group).count()


class TestPaging:
    def test_api_groups_is_paged_with_limit_and_offset_default_50_at_most_100(self, api, agent):
        rooms = many_groups(agent.agent, 120)
        first = api.get("/api/groups").json()["groups"]
        assert [g["id"] for g in first] == [room.pk for room in rooms[:50]]
        page = api.get("/api/groups", {"limit": 100, "offset": 100}).json()["groups"]
        assert [g["id"] for g in page] == [room.pk for room in rooms[100:]]
        assert api.get("/api/groups", {"limit": 101}).status_code == 400
        assert api.get("/api/groups", {"offset": 10_001}).status_code == 400

    def test_ai_groups_is_paged_latest_joined_first(self, api, agent, bob):
        rooms = many_groups(agent.agent, 60)
        first = ai_get(api, agent, "/groups").json()["groups"]
        assert len(first) == 50
        second = ai_get(api, agent, "/groups", {"offset": 50}).json()["groups"]
        assert len(second) == 10
        assert {g["id"] for g in first + second} == {room.pk for room in rooms}
        assert all(g["member_count"] == 1 for g in first)
        assert ai_get(api, agent, "/groups", {"limit": 0}).status_code == 400
        assert ai_get(api, bob, "/groups").json()["groups"] == []

    def test_the_groups_page_shows_50_and_links_to_the_next(self, client, agent):
        rooms = many_groups(agent.agent, 75)
        first = client.get("/groups/").content.decode()
        assert first.count('class="group-name"') == 50 and 'href="?offset=50"' in first
        second = client.get("/groups/", {"offset": 50}).content.decode()
        assert second.count('class="group-name"') == 25 and rooms[74].pk in second
        assert 'rel="prev"' in second and 'rel="next"' not in second


class TestCost:
    @pytest.mark.parametrize(
        "read",
        [
            lambda agent: selectors.public_groups(limit=50),
            lambda agent: selectors.public_groups(limit=50, offset=100),
            lambda agent: selectors.agent_groups(agent=agent, limit=50),
        ],
        ids=["public", "public-offset", "agent"],
    )
    def test_a_page_costs_the_same_number_of_queries_at_10_and_at_2000_groups(self, agent, read):
        many_groups(agent.agent, 10)
        with CaptureQueriesContext(connection) as small:
            read(agent.agent)
        many_groups(agent.agent, 2000)
        with CaptureQueriesContext(connection) as large:
            read(agent.agent)
        assert len(small) == len(large) <= 2
        assert not any("COUNT(" in query["sql"].upper() for query in large.captured_queries)

    def test_the_public_list_reads_its_index_in_order_without_sorting_the_table(self, agent):
        many_groups(agent.agent, 500)
        plan = selectors.groups_qs()[:50].explain()
        if connection.vendor == "sqlite":
            assert "room_group_activity_idx" in plan and "TEMP B-TREE" not in plan, plan
        else:
            assert re.search(r"Index (Only )?Scan.*room_group_activity_idx", plan) and "Sort" not in plan, plan

    def test_an_agents_groups_are_read_from_its_membership_index(self, agent):
        many_groups(agent.agent, 500)
        plan = Membership.objects.filter(agent=agent.agent).order_by("-id")[:50].explain()
        assert "membership_agent_recent_idx" in plan and "TEMP B-TREE" not in plan, plan
