"""The aiclient surface (contract §4, §8): direct messages, groups, friends and /ai/me, in-process."""

import re
import uuid

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Agent
from chat import services
from chat.models import DirectMessage, IdempotencyKey, Membership, Message, Room
from realtime import api as realtime
from tests.chat.helpers import ai_get, ai_post, listening

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DIRECT_FIELDS = {"id", "from_ai_id", "to_ai_id", "content", "signature", "signature_verified", "timestamp"}
ROOM_MESSAGE_FIELDS = {
    "id", "room", "agentId", "agentName", "avatar", "content", "timestamp", "moltbookVerified", "moltbookName",
    "ownerTwitter", "signature", "signatureVerified", "mentions", "replyTo",
}  # fmt: skip
GROUP_FIELDS = {"id", "name", "description", "owner_id", "member_count", "created_at"}


def send(api, sender, recipient, content="hello", **extra):
    body = {"toAiId": str(recipient.agent.id), "content": content}
    return ai_post(api, sender, "/messages", body, **extra)


def inbox(api, who, **params):
    response = ai_get(api, who, "/messages", params)
    assert response.status_code == 200, response.content
    return response.json()["messages"]


class TestHealthAndMe:
    def test_health_needs_no_key_and_names_the_service(self, api):
        response = api.get("/ai/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "service": "AI Agent API"}

    def test_health_is_503_when_the_database_does_not_answer_and_405_for_other_methods(self, api, monkeypatch):
        def broken(*args, **kwargs):
            from django.db import OperationalError

            raise OperationalError("gone")

        assert api.post("/ai/health").json()["code"] == "method_not_allowed"
        monkeypatch.setattr(connection, "cursor", broken)
        response = api.get("/ai/health")
        assert response.status_code == 503
        assert response.json()["success"] is False and response.json()["code"] == "database_unavailable"

    def test_me_answers_the_agent_as_active_with_the_connected_message(self, api, agent):
        response = ai_get(api, agent, "/me")
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "AI Agent API connected"
        assert set(body) == {"aiAgent", "message"}
        assert set(body["aiAgent"]) == {"id", "name", "status", "avatar", "public_key", "created_at"}
        assert body["aiAgent"]["id"] == str(agent.agent.id)
        assert body["aiAgent"]["name"] == "alice"
        assert body["aiAgent"]["status"] == "active"
        assert body["aiAgent"]["public_key"] is None
        assert ISO_MS.fullmatch(body["aiAgent"]["created_at"])

    def test_the_legacy_x_api_key_header_works_too(self, api, agent):
        assert api.get("/ai/me", HTTP_X_API_KEY=agent.key).json()["aiAgent"]["name"] == "alice"

    @pytest.mark.parametrize("path", ["/me", "/messages", "/friends", "/groups"])
    def test_every_route_but_health_needs_a_key(self, api, path):
        response = api.get(f"/ai{path}")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized" and response.json()["success"] is False
        assert api.get(f"/ai{path}", HTTP_AUTHORIZATION="Bearer chatr_nope").status_code == 401

    def test_a_banned_agent_is_403(self, api, make_agent):
        banned = make_agent("outlaw", is_banned=True)
        response = ai_get(api, banned, "/me")
        assert response.status_code == 403
        assert response.json()["code"] == "agent_banned"

    def test_patch_me_changes_the_avatar_on_both_surfaces(self, api, agent):
        response = api.patch("/ai/me", {"avatar": "🦀"}, format="json", **agent.auth)
        assert response.status_code == 200
        assert response.json()["aiAgent"]["avatar"] == "🦀"
        assert api.get("/api/me", **agent.auth).json()["agent"]["avatar"] == "🦀"

    def test_an_unknown_ai_path_is_404_in_the_error_shape(self, api, agent):
        response = ai_get(api, agent, "/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"success": False, "error": "Not found.", "code": "not_found"}


class TestFriends:
    def test_lists_every_active_agent_but_oneself_online_first_then_most_recently_seen(self, api, agent, make_agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            stale = make_agent("stale")
            ai_get(api, stale, "/me")
            clock.shift(3600)  # stale is offline now
            recent = make_agent("recent")
            ai_get(api, recent, "/me")
            api.post("/api/disconnect", **recent.auth)  # offline, but seen more recently than stale
            make_agent("never")
            online = make_agent("online")
            ai_get(api, online, "/me")
            make_agent("outlaw", is_banned=True)
            response = ai_get(api, agent, "/friends")
        assert response.status_code == 200
        friends = response.json()["friends"]
        assert [friend["name"] for friend in friends] == ["online", "recent", "stale", "never"]
        assert set(friends[0]) == {"id", "name", "avatar", "online", "public_key"}
        assert [friend["online"] for friend in friends] == [True, False, False, False]

    def test_pages_with_limit_and_offset(self, api, agent, make_agent):
        for index in range(5):
            make_agent(f"friend{index}")
        everyone = [friend["id"] for friend in ai_get(api, agent, "/friends").json()["friends"]]
        page = ai_get(api, agent, "/friends", {"limit": 2, "offset": 2}).json()["friends"]
        assert [friend["id"] for friend in page] == everyone[2:4]

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
    def test_bad_paging_is_400(self, api, agent, query):
        assert ai_get(api, agent, "/friends", query).status_code == 400


class TestDirectMessages:
    def test_sending_answers_201_with_the_contract_message(self, api, agent, bob):
        response = send(api, agent, bob, "  你好！  ")
        assert response.status_code == 201
        body = response.json()
        assert body["success"] is True
        message = body["message"]
        assert set(message) == DIRECT_FIELDS
        stored = DirectMessage.objects.get()
        assert message["id"] == str(stored.id)
        assert message["from_ai_id"] == str(agent.agent.id)
        assert message["to_ai_id"] == str(bob.agent.id)
        assert message["content"] == "你好！" == stored.content
        assert message["signature"] is None and message["signature_verified"] is False
        assert ISO_MS.fullmatch(message["timestamp"])

    def test_the_recipient_reads_it_with_the_sender_attached(self, api, agent, bob):
        sent = send(api, agent, bob, "hi bob").json()["message"]
        received = inbox(api, bob)
        assert len(received) == 1
        assert set(received[0]) == DIRECT_FIELDS | {"from_ai"}
        assert {key: received[0][key] for key in DIRECT_FIELDS} == sent
        assert received[0]["from_ai"] == {"id": str(agent.agent.id), "name": "alice", "public_key": None}

    def test_content_is_1_to_2000_code_points_after_stripping(self, api, agent, bob):
        assert send(api, agent, bob, "🦞" * 2000).status_code == 201
        for content in ["x" * 2001, "   ", ""]:
            response = send(api, agent, bob, content)
            assert response.status_code == 400
            assert response.json()["code"] == "validation_error" and "content" in response.json()["details"]
        assert DirectMessage.objects.count() == 1

    @pytest.mark.parametrize(
        "body",
        [
            {"content": "no recipient"},
            {"toAiId": 123, "content": "a number"},
            {"toAiId": None, "content": "null"},
            {"toAiId": "not-a-uuid", "content": "junk"},
            {"toAiId": ["list"], "content": "list"},
            {"toAiId": "RECIPIENT", "content": 5},
            {"toAiId": "RECIPIENT", "content": None},
            {"toAiId": "RECIPIENT", "content": ["hi"]},
            {"toAiId": "RECIPIENT", "content": {"text": "hi"}},
            {"toAiId": "RECIPIENT"},
            {"toAiId": "RECIPIENT", "content": "hi", "signature": 42},
            {"toAiId": "RECIPIENT", "content": "nul\x00byte"},
        ],
        ids=repr,
    )
    def test_malformed_bodies_are_400_and_store_nothing(self, api, agent, bob, body):
        body = {key: str(bob.agent.id) if value == "RECIPIENT" else value for key, value in body.items()}
        response = ai_post(api, agent, "/messages", body)
        assert response.status_code == 400
        assert response.json()["success"] is False and response.json()["code"] == "validation_error"
        assert not DirectMessage.objects.exists()

    def test_an_unknown_recipient_is_404(self, api, agent):
        response = ai_post(api, agent, "/messages", {"toAiId": str(uuid.uuid4()), "content": "anyone?"})
        assert response.status_code == 404
        assert response.json()["code"] == "agent_not_found"
        assert not DirectMessage.objects.exists()

    def test_a_banned_recipient_is_unknown(self, api, agent, make_agent):
        banned = make_agent("outlaw", is_banned=True)
        assert send(api, agent, banned).status_code == 404
        assert not DirectMessage.objects.exists()

    def test_messaging_oneself_is_400(self, api, agent):
        response = send(api, agent, agent)
        assert response.status_code == 400
        assert response.json()["code"] == "cannot_message_self"
        assert not DirectMessage.objects.exists()


class TestInbox:
    @pytest.fixture
    def sixty(self, agent, bob):
        messages = [DirectMessage(sender=agent.agent, recipient=bob.agent, content=f"m{index}") for index in range(60)]
        DirectMessage.objects.bulk_create(messages)
        return [str(pk) for pk in DirectMessage.objects.order_by("id").values_list("id", flat=True)]

    def test_without_since_answers_the_latest_50_oldest_first(self, api, bob, sixty):
        assert [message["id"] for message in inbox(api, bob)] == sixty[-50:]
        assert [message["id"] for message in inbox(api, bob, limit=3)] == sixty[-3:]

    def test_since_reads_forwards_without_gaps_or_duplicates(self, api, bob, sixty):
        seen, cursor = [], 0
        while page := inbox(api, bob, since=cursor, limit=7):
            seen += [message["id"] for message in page]
            cursor = page[-1]["id"]
        assert seen == sixty

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"since": -1}, {"since": "x"}, {"limit": "1e3"}])
    def test_bad_parameters_are_400(self, api, bob, query):
        response = ai_get(api, bob, "/messages", query)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"

    def test_reading_costs_the_same_queries_for_1_or_50_messages(self, api, agent, bob):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                inbox(api, bob)
            return len(captured)

        send(api, agent, bob, "one")
        queries()  # the first request also marks bob online
        queries()  # the next one fills the key cache (the presence write changed bob)
        one = queries()
        DirectMessage.objects.bulk_create(
            DirectMessage(sender=agent.agent, recipient=bob.agent, content=f"m{index}") for index in range(49)
        )
        assert queries() == one


class TestPrivacy:
    def test_an_agent_reads_only_the_messages_it_received(self, api, agent, bob, carol):
        send(api, agent, bob, "alice to bob")
        send(api, carol, bob, "carol to bob")
        send(api, bob, agent, "bob to alice")
        assert [message["content"] for message in inbox(api, bob)] == ["alice to bob", "carol to bob"]
        assert [message["content"] for message in inbox(api, agent)] == ["bob to alice"]
        assert inbox(api, carol) == []

    @pytest.mark.parametrize("name", ["toAiId", "to_ai_id", "aiId", "agent", "recipient", "from_ai_id", "inbox"])
    def test_no_query_parameter_opens_another_agents_inbox(self, api, agent, bob, carol, name):
        send(api, agent, bob, "for bob only")
        assert inbox(api, carol, **{name: str(bob.agent.id)}) == []

    def test_a_direct_message_appears_on_no_other_route(self, api, settings, agent, bob, carol, group):
        """Every GET route of the URLconf, anonymously and as the sender or a bystander, never shows a DM.

        Only the recipient's own ``GET /ai/messages`` shows it. Routes are found by walking the URLconf,
        so routes added later (pages, lists) are covered too; each path parameter is tried with every
        id and name this test knows.
        """
        settings.CHATR_RATELIMITS = False
        services.join_group(agent=carol.agent, group_id=group.id)
        services.post_room_message(agent=agent.agent, room=group, content="a public group message")
        secret = "a secret for bob " + uuid.uuid4().hex
        assert send(api, agent, bob, secret).status_code == 201
        candidates = [group.id, "lobby", str(agent.agent.id), str(bob.agent.id), "alice", "bob"]

        checked = []
        for path in _get_paths(candidates):
            if path in django_settings.CHATR_STREAM_PATHS:
                continue  # streams never end; their own tests (real sockets) watch who sees which frame
            for who in (None, agent, carol):
                response = api.get(path, **(who.auth if who else {}))
                assert secret not in response.content.decode("utf-8", "replace"), (path, who)
                checked.append(path)
        for required in ["/api/messages", "/api/groups", f"/ai/groups/{group.id}/messages", "/ai/messages"]:
            assert required in checked
        assert secret in ai_get(api, bob, "/messages").content.decode()

    def test_a_direct_message_is_published_only_on_the_recipients_inbox(
        self, api, agent, bob, group, django_capture_on_commit_callbacks
    ):
        channels = [
            realtime.room_channel("lobby"),
            realtime.room_channel(group.id),
            realtime.inbox_channel(agent.agent.id),
        ]
        inbox_of_bob = realtime.inbox_channel(bob.agent.id)
        with listening(*channels, inbox_of_bob) as received, django_capture_on_commit_callbacks(execute=True):
            sent = send(api, agent, bob, "psst").json()["message"]
        assert [event["type"] for event in received[realtime.inbox_channel(bob.agent.id)]] == ["direct"]
        event = received[realtime.inbox_channel(bob.agent.id)][0]
        assert event["data"]["id"] == sent["id"]
        assert event["data"]["from_ai"] == {"id": str(agent.agent.id), "name": "alice", "public_key": None}
        # Other channels may carry presence (alice came online by sending), never the message.
        assert all(event["type"] == "presence" for channel in channels for event in received[channel])


def _get_paths(candidates: list[str]) -> list[str]:
    """Every concrete GET path of the URLconf (admin aside), with parameters filled from ``candidates``."""
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/")
    paths: list[str] = []
    for route in routes:
        if route.startswith("/admin/") or route.startswith("/^"):
            continue
        if "<" not in route:
            paths.append(route)
            continue
        paths += [re.sub(r"<[^>]+>", value, route) for value in candidates]
    return paths


class TestGroups:
    def test_creating_answers_201_and_makes_the_creator_owner_and_member(self, api, agent):
        response = ai_post(api, agent, "/groups", {"name": "投资讨论群", "description": "AI 投资者交流群"})
        assert response.status_code == 201
        body = response.json()
        assert body["success"] is True
        group = body["group"]
        assert set(group) == GROUP_FIELDS
        assert uuid.UUID(group["id"])
        assert group["name"] == "投资讨论群" and group["description"] == "AI 投资者交流群"
        assert group["owner_id"] == str(agent.agent.id)
        assert group["member_count"] == 1
        assert ISO_MS.fullmatch(group["created_at"])
        room = Room.objects.get(pk=group["id"])
        assert room.kind == Room.Kind.GROUP
        assert Membership.objects.get(room=room).role == Membership.Role.OWNER

    def test_the_seed_example_needs_only_a_name(self, api, agent):
        response = ai_post(api, agent, "/groups", {"name": "测试群"})
        assert response.status_code == 201
        assert response.json()["group"]["description"] == ""

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 65},
            {"name": 7},
            {"name": None},
            {"name": "ok", "description": "x" * 501},
            {"name": "ok", "description": 5},
        ],
        ids=repr,
    )
    def test_bad_names_and_descriptions_are_400_and_store_nothing(self, api, agent, body):
        response = ai_post(api, agent, "/groups", body)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
        assert not Room.objects.filter(kind=Room.Kind.GROUP).exists()

    def test_names_and_descriptions_at_the_bounds_are_accepted(self, api, agent):
        response = ai_post(api, agent, "/groups", {"name": "群" * 64, "description": "🦞" * 500})
        assert response.status_code == 201

    def test_join_and_leave_are_idempotent_and_counted(self, api, bob, group):
        path = f"/groups/{group.id}"
        for _ in range(2):
            response = ai_post(api, bob, f"{path}/join")
            assert response.status_code == 200
            assert response.json()["success"] is True
            assert response.json()["group"]["member_count"] == 2
        assert Membership.objects.filter(room=group).count() == 2
        for _ in range(2):
            response = ai_post(api, bob, f"{path}/leave")
            assert response.status_code == 200
            assert response.json()["group"]["member_count"] == 1

    @pytest.mark.parametrize("group_id", ["lobby", "00000000-0000-0000-0000-000000000000", "nope", "x" * 300])
    @pytest.mark.parametrize("action", ["join", "leave", "messages"])
    def test_an_unknown_group_is_404(self, api, agent, group_id, action):
        response = ai_post(api, agent, f"/groups/{group_id}/{action}", {"content": "hi"})
        assert response.status_code == 404
        assert response.json()["code"] == "group_not_found"
        if action == "messages":
            assert ai_get(api, agent, f"/groups/{group_id}/messages").status_code == 404
        assert not Membership.objects.exists() and not Message.objects.exists()

    def test_the_list_holds_only_the_callers_groups(self, api, agent, bob, group):
        other = services.create_group(owner=bob.agent, name="Bob's den")
        assert [item["id"] for item in ai_get(api, agent, "/groups").json()["groups"]] == [group.id]
        ai_post(api, agent, f"/groups/{other.id}/join")
        mine = ai_get(api, agent, "/groups").json()["groups"]
        assert {item["id"] for item in mine} == {group.id, other.id}
        assert all(set(item) == GROUP_FIELDS for item in mine)
        assert {item["id"]: item["member_count"] for item in mine} == {group.id: 1, other.id: 2}
        ai_post(api, agent, f"/groups/{group.id}/leave")
        assert [item["id"] for item in ai_get(api, agent, "/groups").json()["groups"]] == [other.id]


class TestGroupMessages:
    def test_only_members_may_post(self, api, bob, group):
        path = f"/groups/{group.id}/messages"
        refused = ai_post(api, bob, path, {"content": "let me in"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_a_member" and refused.json()["success"] is False
        ai_post(api, bob, f"/groups/{group.id}/join")
        posted = ai_post(api, bob, path, {"content": "大家好!"})
        assert posted.status_code == 201
        ai_post(api, bob, f"/groups/{group.id}/leave")
        assert ai_post(api, bob, path, {"content": "still here?"}).status_code == 403
        assert list(Message.objects.values_list("content", flat=True)) == ["大家好!"]

    def test_posting_answers_201_with_the_room_message(self, api, agent, group):
        response = ai_post(api, agent, f"/groups/{group.id}/messages", {"content": "  Hello, group  "})
        assert response.status_code == 201
        assert response.json()["success"] is True
        message = response.json()["message"]
        assert set(message) == ROOM_MESSAGE_FIELDS
        assert message["room"] == group.id and message["agentId"] == str(agent.agent.id)
        assert message["content"] == "Hello, group"
        assert message["signature"] is None and message["signatureVerified"] is False

    def test_content_is_1_to_2000_code_points(self, api, agent, group):
        path = f"/groups/{group.id}/messages"
        assert ai_post(api, agent, path, {"content": "😀" * 2000}).status_code == 201
        for body in [{"content": "x" * 2001}, {"content": " "}, {"content": 3}, {}]:
            assert ai_post(api, agent, path, body).status_code == 400
        assert Message.objects.count() == 1

    def test_history_is_ascending_with_limit_and_before(self, api, agent, carol, group):
        ids = [
            str(services.post_room_message(agent=agent.agent, room=group, content=f"g{index}").id) for index in range(5)
        ]
        path = f"/groups/{group.id}/messages"
        # Groups are public: any agent may read the history, members or not.
        assert [m["id"] for m in ai_get(api, carol, path).json()["messages"]] == ids
        assert [m["id"] for m in ai_get(api, carol, path, {"limit": 2}).json()["messages"]] == ids[-2:]
        page = ai_get(api, carol, path, {"limit": 2, "before": ids[2]}).json()["messages"]
        assert [m["id"] for m in page] == ids[:2]
        assert all(set(m) == ROOM_MESSAGE_FIELDS and m["room"] == group.id for m in page)
        assert ai_get(api, carol, path, {"limit": 101}).status_code == 400

    def test_group_messages_stay_out_of_the_lobby(self, api, agent, group):
        ai_post(api, agent, f"/groups/{group.id}/messages", {"content": "only in the group"})
        assert api.get("/api/messages").json()["messages"] == []
        assert api.get("/api/agents").json()["stats"]["totalMessages"] == 0

    def test_a_group_message_is_published_on_the_groups_room_channel(
        self, api, agent, group, django_capture_on_commit_callbacks
    ):
        channels = (realtime.room_channel(group.id), realtime.room_channel("lobby"))
        with listening(*channels) as received, django_capture_on_commit_callbacks(execute=True):
            sent = ai_post(api, agent, f"/groups/{group.id}/messages", {"content": "live"}).json()["message"]
        assert received[realtime.room_channel(group.id)] == [{"type": "message", "data": sent}]
        assert [event["type"] for event in received[realtime.room_channel("lobby")]] in ([], ["presence"])


class TestPublicGroupList:
    def test_lists_every_group_publicly_most_recently_active_first(self, api, agent, bob, group):
        with time_machine.travel("2026-02-01 10:00:00Z", tick=False):  # created before the other's message
            quiet = services.create_group(owner=bob.agent, name="Quiet")
        services.join_group(agent=bob.agent, group_id=group.id)
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
            services.post_room_message(agent=agent.agent, room=group, content="hi")
        response = api.get("/api/groups")
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert body["groups"] == [
            {
                "id": group.id,
                "name": "Lobster lovers",
                "description": "Claws and chat",
                "memberCount": 2,
                "lastMessageAt": "2026-03-01T10:00:00.000Z",
            },
            {"id": quiet.id, "name": "Quiet", "description": "", "memberCount": 1, "lastMessageAt": None},
        ]

    def test_the_lobby_is_not_a_group(self, api, group):
        assert [item["id"] for item in api.get("/api/groups").json()["groups"]] == [group.id]

    def test_listing_is_one_query(self, api, agent, django_assert_num_queries):
        for index in range(5):
            services.create_group(owner=agent.agent, name=f"g{index}")
        with django_assert_num_queries(1):
            assert len(api.get("/api/groups").json()["groups"]) == 5


class TestLimits:
    def test_direct_and_group_messages_share_30_a_minute(self, api, agent, bob, carol, group):
        path = f"/groups/{group.id}/messages"
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for index in range(20):
                assert send(api, agent, bob, f"dm{index}").status_code == 201
            for index in range(10):
                response = ai_post(api, agent, path, {"content": f"group{index}"})
                assert response.status_code == 201
            assert response["X-RateLimit-Limit"] == "30" and response["X-RateLimit-Remaining"] == "0"
            for refused in (send(api, agent, bob, "dm31"), ai_post(api, agent, path, {"content": "g31"})):
                assert refused.status_code == 429
                body = refused.json()
                assert body["code"] == "rate_limited" and body["success"] is False
                assert 1 <= body["retry_after"] <= 60
                assert refused["Retry-After"] == str(body["retry_after"])
                assert refused["X-RateLimit-Remaining"] == "0"
            assert send(api, carol, bob, "carol is not limited").status_code == 201
            clock.shift(refused.json()["retry_after"])
            assert send(api, agent, bob, "next minute").status_code == 201
        assert DirectMessage.objects.filter(sender=agent.agent).count() == 21
        assert Message.objects.count() == 10

    def test_100_ai_requests_a_minute_per_agent(self, api, agent, bob):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for index in range(100):
                response = ai_get(api, agent, "/me", REMOTE_ADDR=f"198.51.100.{index % 50}")
                assert response.status_code == 200
                assert response["X-RateLimit-Limit"] == "100"
                assert response["X-RateLimit-Remaining"] == str(99 - index)
            refused = ai_get(api, agent, "/groups", REMOTE_ADDR="198.51.100.200")
            assert refused.status_code == 429
            assert refused.json()["code"] == "rate_limited" and 1 <= refused.json()["retry_after"] <= 60
            assert refused["X-RateLimit-Limit"] == "100" and refused["X-RateLimit-Remaining"] == "0"
            assert "X-RateLimit-Reset" in refused and "Retry-After" in refused
            assert ai_get(api, bob, "/me").status_code == 200
            assert api.get("/ai/health").status_code == 200
            clock.shift(refused.json()["retry_after"])
            assert ai_get(api, agent, "/me").status_code == 200

    def test_a_refused_message_does_not_use_up_the_limit(self, api, agent, bob, group):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
            for _ in range(40):
                assert send(api, agent, bob, "x" * 2001).status_code == 400
                assert send(api, agent, agent, "me").status_code == 400
            assert send(api, agent, bob, "fine").status_code == 201


class TestIdempotency:
    def test_a_retried_direct_message_is_sent_once_and_not_counted(self, api, agent, bob):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
            first = send(api, agent, bob, "once", HTTP_IDEMPOTENCY_KEY="dm-1")
            for _ in range(35):
                again = send(api, agent, bob, "once", HTTP_IDEMPOTENCY_KEY="dm-1")
                assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
                assert again.json() == first.json()
            assert "Idempotent-Replayed" not in first
            assert send(api, agent, bob, "twice").status_code == 201
        assert DirectMessage.objects.count() == 2

    def test_a_retried_group_message_is_posted_once(self, api, agent, group):
        path = f"/groups/{group.id}/messages"
        first = ai_post(api, agent, path, {"content": "once"}, HTTP_IDEMPOTENCY_KEY="g-1")
        again = ai_post(api, agent, path, {"content": "once"}, HTTP_IDEMPOTENCY_KEY="g-1")
        assert first.status_code == again.status_code == 201
        assert again.json()["message"]["id"] == first.json()["message"]["id"]
        assert Message.objects.count() == 1

    def test_the_same_key_with_another_body_is_409(self, api, agent, bob):
        assert send(api, agent, bob, "first", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
        response = send(api, agent, bob, "second", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_reused"
        assert DirectMessage.objects.count() == 1

    def test_a_failed_send_does_not_burn_the_key(self, api, agent):
        response = ai_post(
            api, agent, "/messages", {"toAiId": str(uuid.uuid4()), "content": "x"}, HTTP_IDEMPOTENCY_KEY="z"
        )
        assert response.status_code == 404
        assert not IdempotencyKey.objects.exists()


def test_agents_are_one_store_for_both_surfaces(api, agent):
    """An agent registered on /api is the same row /ai answers for."""
    assert Agent.objects.count() == 1
    assert ai_get(api, agent, "/me").json()["aiAgent"]["id"] == api.get("/api/me", **agent.auth).json()["agent"]["id"]
