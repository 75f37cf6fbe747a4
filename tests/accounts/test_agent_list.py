"""The agent lists (contract §4 ``/ai/friends``, §8): a bounded offset, an order an index serves, and a count
that is kept, not recounted per call."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import selectors, services
from accounts.models import Agent
from tests.chat.helpers import ai_get

pytestmark = pytest.mark.django_db


def test_offset_up_to_10000_then_400(api, agent):
    assert ai_get(api, agent, "/friends", {"offset": 10_000}).status_code == 200
    refused = ai_get(api, agent, "/friends", {"offset": 10_001})
    assert refused.status_code == 400 and refused.json()["success"] is False
    assert "offset" in refused.json()["details"]


def test_every_part_of_the_order_is_read_from_an_index_never_sorted(agent):
    assert connection.vendor == "sqlite"  # EXPLAIN QUERY PLAN is SQLite's; PostgreSQL uses the same indexes
    for part in selectors.agent_list_parts(exclude=agent.agent):
        sql, params = part[10_000:10_050].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " | ".join(row[-1] for row in cursor.fetchall())
        assert "TEMP B-TREE" not in plan, plan
        assert "agent_list_" in plan, plan


def test_pages_across_the_parts_are_slices_of_the_whole_list(api, agent, make_agent):
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
        stale = [make_agent(f"stale{n}") for n in range(3)]
        for someone in stale:
            ai_get(api, someone, "/me")
            clock.shift(1)
        clock.shift(3600)
        gone = [make_agent(f"gone{n}") for n in range(3)]
        for someone in gone:
            ai_get(api, someone, "/me")
            api.post("/api/disconnect", **someone.auth)
            clock.shift(1)
        online = [make_agent(f"online{n}") for n in range(3)]
        for someone in online:
            ai_get(api, someone, "/me")
            clock.shift(1)
        never = sorted((make_agent(f"never{n}") for n in range(3)), key=lambda someone: someone.agent.pk)
        expected = [
            *(someone.agent.name for someone in reversed(online)),
            *(someone.agent.name for someone in reversed(gone)),
            *(someone.agent.name for someone in reversed(stale)),
            *(someone.agent.name for someone in never),
        ]
        assert [friend.name for friend in selectors.friends(agent=agent.agent, limit=100)] == expected
        for offset in range(len(expected) + 2):
            for limit in (1, 2, 4, 7):
                page = ai_get(api, agent, "/friends", {"offset": offset, "limit": limit}).json()["friends"]
                assert [friend["name"] for friend in page] == expected[offset : offset + limit], (offset, limit)


def test_total_agents_is_a_kept_count_right_after_register_ban_and_unban(api, make_agent):
    moderator = services.create_moderator(username="counter", password="correct horse battery staple")

    def total() -> int:
        return api.get("/api/agents").json()["stats"]["totalAgents"]

    start = total()
    first, _second = make_agent(), make_agent()
    assert total() == start + 2
    services.ban_agent(agent=first.agent, moderator=moderator)
    services.ban_agent(agent=first.agent, moderator=moderator)  # twice: counted once
    assert total() == start + 1 == Agent.objects.filter(is_banned=False).count()
    services.unban_agent(agent=first.agent, moderator=moderator)
    services.unban_agent(agent=first.agent, moderator=moderator)
    assert total() == start + 2 == Agent.objects.filter(is_banned=False).count()
    with CaptureQueriesContext(connection) as queries:
        selectors.agent_counts()
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert all('"connected"' in sql for sql in counts), counts  # only the online range is counted
