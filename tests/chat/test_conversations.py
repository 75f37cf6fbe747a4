"""Mentions, replies and notifications (contract §12) at the service level and through /api and /ai, in-process."""

from __future__ import annotations

import pytest

from accounts.models import Agent
from chat import selectors, services, stream
from chat.mentions import InvalidReply, TooManyMentions, mentioned_names
from chat.models import Notification
from realtime import api as realtime
from tests.realtime.capture import capture_events
from webhooks import services as webhook_services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_limits(settings):
    settings.CHATR_RATELIMITS = False  # the rules here are not about rates
    settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def moderator(db):
    from accounts import services as account_services

    return account_services.create_moderator(username="mod", password="a long moderator password")


def post(who, content, *, room=None, reply_to=None):
    return services.post_room_message(
        agent=who.agent, room=room or selectors.lobby(), content=content, reply_to=reply_to
    )


def names(message) -> list[str]:
    return [mention["name"] for mention in message.mentions]


class TestMentionGrammar:
    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ("@bob hi", ["bob"]),
            ("hi @Bob!", ["bob"]),
            ("(@bob) ,@carol;@dave", ["bob", "carol", "dave"]),
            ("mail a@bob.com", []),
            ("x.@bob y-@carol z_@dave 9@erin", []),
            ("@bob.com", ["bob"]),
            ("@b @" + "x" * 33, []),  # names are 2-32 characters
            ("@bob @BOB @Bob", ["bob"]),
            ("é@bob", ["bob"]),
            ("no at sign", []),
        ],
    )
    def test_the_rule_for_where_a_name_starts_and_ends(self, content, expected):
        assert mentioned_names(content) == expected

    def test_known_names_resolve_case_insensitively_in_order_of_first_appearance(self, agent, make_agent):
        bob, carol = make_agent("Bob"), make_agent("carol")
        message = post(agent, "@CAROL and @bob, then @carol again")
        assert message.mentions == [
            {"id": str(carol.agent.pk), "name": "carol"},
            {"id": str(bob.agent.pk), "name": "Bob"},
        ]

    def test_unknown_banned_and_self_are_plain_text(self, agent, make_agent):
        make_agent("bob")
        make_agent("villain", is_banned=True)
        message = post(agent, "@nobody @villain @alice @bob")
        assert names(message) == ["bob"]
        assert message.mentions == [m for m in message.mentions if m["name"] != "alice"]

    def test_an_e_mail_address_mentions_no_one(self, agent, make_agent):
        make_agent("bob")
        assert post(agent, "write to a@bob.com").mentions == []

    def test_ten_distinct_agents_pass_and_eleven_are_refused_with_nothing_stored(self, agent, make_agent):
        others = [make_agent(f"peer{index}") for index in range(11)]
        ten = " ".join(f"@{other.agent.name}" for other in others[:10])
        assert len(post(agent, ten + " @alice @ghost").mentions) == 10  # self and unknown do not count
        before = Notification.objects.count(), selectors.newest_room_message_id(room_id="lobby")
        with pytest.raises(TooManyMentions):
            post(agent, " ".join(f"@{other.agent.name}" for other in others))
        assert (Notification.objects.count(), selectors.newest_room_message_id(room_id="lobby")) == before

    def test_over_the_api_eleven_mentions_are_400_too_many_mentions(self, api, agent, make_agent):
        others = [make_agent(f"peer{index}") for index in range(11)]
        content = " ".join(f"@{other.agent.name}" for other in others)
        response = api.post("/api/messages", {"content": content}, format="json", **agent.auth)
        assert response.status_code == 400 and response.json()["code"] == "too_many_mentions"

    def test_content_without_at_or_reply_costs_no_extra_query(self, agent, django_assert_max_num_queries):
        post(agent, "warm up")
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as plain:
            post(agent, "a plain message")
        assert not any("accounts_agent" in query["sql"] and "LOWER" in query["sql"] for query in plain.captured_queries)
        assert not any("chat_notification" in query["sql"] for query in plain.captured_queries)

    def test_all_mentioned_names_are_resolved_in_one_query(self, agent, make_agent):
        for index in range(5):
            make_agent(f"peer{index}")
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            post(agent, "@peer0 @peer1 @peer2 @peer3 @peer4 @ghost")
        lookups = [q for q in captured.captured_queries if "LOWER" in q["sql"] and "accounts_agent" in q["sql"]]
        assert len(lookups) == 1


class TestReplies:
    def test_a_reply_carries_the_target_author_and_first_100_code_points(self, agent, make_agent):
        bob = make_agent("bob")
        target = post(agent, "🦞" * 120)
        reply = post(bob, "agreed", reply_to=target.pk)
        data = selectors.room_messages(room_id="lobby")[-1]
        from chat.events import message_data

        assert message_data(data)["replyTo"] == {
            "id": str(target.pk),
            "agentId": str(agent.agent.pk),
            "agentName": "alice",
            "excerpt": "🦞" * 100,
        }
        assert reply.reply_to_id == target.pk

    def test_unknown_hidden_and_other_room_targets_are_invalid_reply_and_nothing_is_stored(
        self, agent, group, moderator
    ):
        in_group = post(agent, "in the group", room=group)
        hidden = post(agent, "soon hidden")
        services.hide_message(message=hidden, moderator=moderator)
        newest = selectors.newest_room_message_id(room_id="lobby")
        for target in (10**12, hidden.pk, in_group.pk):
            with pytest.raises(InvalidReply):
                post(agent, "answer", reply_to=target)
        assert selectors.newest_room_message_id(room_id="lobby") == newest

    @pytest.mark.parametrize("value", [0, -1, 1.5, True, "abc", [1], 2**63])
    def test_reply_to_must_be_a_message_id(self, api, agent, value):
        response = api.post("/api/messages", {"content": "x", "replyTo": value}, format="json", **agent.auth)
        assert response.status_code == 400, response.json()

    def test_the_api_answers_invalid_reply(self, api, agent):
        response = api.post("/api/messages", {"content": "x", "replyTo": 999999}, format="json", **agent.auth)
        assert response.status_code == 400 and response.json()["code"] == "invalid_reply"

    def test_ai_group_posts_accept_reply_to_in_both_spellings(self, api, agent, group):
        first = api.post(f"/ai/groups/{group.pk}/messages", {"content": "one"}, format="json", **agent.auth).json()
        target = first["message"]["id"]
        for field in ("replyTo", "reply_to"):
            response = api.post(
                f"/ai/groups/{group.pk}/messages", {"content": "two", field: target}, format="json", **agent.auth
            )
            assert response.status_code == 201, response.json()
            assert response.json()["message"]["replyTo"]["id"] == target
        history = api.get(f"/ai/groups/{group.pk}/messages", **agent.auth).json()["messages"]
        assert [m["replyTo"] and m["replyTo"]["id"] for m in history] == [None, target, target]

    def test_the_excerpt_is_null_everywhere_at_once_after_a_hide_and_back_after_restore(
        self, api, agent, make_agent, moderator
    ):
        bob = make_agent("bob")
        target = post(agent, "the original words")
        reply = post(bob, "@alice indeed", reply_to=target.pk)

        def excerpts() -> dict[str, object]:
            rest = api.get("/api/messages").json()["messages"][-1]["replyTo"]["excerpt"]
            history = stream.room_backlog("lobby", None)[0]["data"][-1]["replyTo"]["excerpt"]
            resume = stream.room_backlog("lobby", target.pk)[0]["data"]["replyTo"]["excerpt"]
            feed = api.get("/api/mentions", **agent.auth).json()["mentions"][-1]["message"]["replyTo"]["excerpt"]
            found = api.get("/api/search", {"q": "indeed"}).json()["messages"][0]["replyTo"]["excerpt"]
            page = api.get("/").content.decode()
            return {"rest": rest, "history": history, "resume": resume, "feed": feed, "search": found, "page": page}

        seen = excerpts()
        assert {k: v for k, v in seen.items() if k != "page"} == dict.fromkeys(
            ["rest", "history", "resume", "feed", "search"], "the original words"
        )
        assert "the original words</q>" in seen["page"]
        services.hide_message(message=target, moderator=moderator)
        seen = excerpts()
        assert {k: v for k, v in seen.items() if k != "page"} == dict.fromkeys(
            ["rest", "history", "resume", "feed", "search"], None
        )
        assert "message removed" in seen["page"] and "the original words" not in seen["page"]
        services.restore_message(message=target, moderator=moderator)
        assert excerpts()["rest"] == "the original words"
        assert reply.pk


class TestNotifications:
    def test_lobby_mentions_and_the_replied_to_author_are_told_once_each(self, agent, make_agent):
        bob = make_agent("bob")
        make_agent("carol")
        target = post(bob, "question")
        post(agent, "@bob @carol @bob answer", reply_to=target.pk)
        told = {(n.agent.name, n.reason) for n in Notification.objects.select_related("agent")}
        assert told == {("bob", "reply"), ("carol", "mention")}

    def test_replying_to_oneself_tells_no_one(self, agent):
        target = post(agent, "note to self")
        post(agent, "@alice more", reply_to=target.pk)
        assert Notification.objects.count() == 0

    def test_in_a_group_only_members_are_told(self, agent, make_agent, group):
        bob = make_agent("bob")
        make_agent("carol")
        services.join_group(agent=bob.agent, group_id=group.pk)
        post(agent, "@bob @carol look", room=group)
        assert list(Notification.objects.values_list("agent__name", flat=True)) == ["bob"]

    def test_the_feed_pages_by_its_own_cursor_and_skips_hidden_messages(self, api, agent, make_agent, moderator):
        bob = make_agent("bob")
        posted = [post(agent, f"@bob number {n}") for n in range(5)]
        services.hide_message(message=posted[2], moderator=moderator)
        first = api.get("/api/mentions", {"limit": 2}, **bob.auth).json()
        assert [item["message"]["content"] for item in first["mentions"]] == ["@bob number 3", "@bob number 4"]
        everything = api.get("/api/mentions", {"after": 0}, **bob.auth).json()
        contents = [item["message"]["content"] for item in everything["mentions"]]
        assert contents == ["@bob number 0", "@bob number 1", "@bob number 3", "@bob number 4"]
        ids = [int(item["id"]) for item in everything["mentions"]]
        assert ids == sorted(ids) and everything["cursor"] == str(ids[-1])
        after = api.get("/api/mentions", {"after": ids[1], "limit": 1}, **bob.auth).json()
        assert [item["id"] for item in after["mentions"]] == [str(ids[2])] and after["cursor"] == str(ids[2])
        empty = api.get("/api/mentions", {"after": ids[-1]}, **bob.auth).json()
        assert empty["mentions"] == [] and empty["cursor"] == str(ids[-1])
        assert all(item["reason"] == "mention" for item in everything["mentions"])

    def test_the_feed_needs_a_key_and_shows_only_the_callers_entries(self, api, agent, make_agent):
        bob, carol = make_agent("bob"), make_agent("carol")
        post(agent, "@bob only")
        assert api.get("/api/mentions").status_code == 401
        assert api.get("/api/mentions", **carol.auth).json()["mentions"] == []
        assert api.get("/api/mentions", {"after": "x"}, **bob.auth).status_code == 400

    def test_events_are_published_after_commit_and_a_hide_sends_a_delete_frame(
        self, agent, make_agent, moderator, django_capture_on_commit_callbacks
    ):
        bob = make_agent("bob")
        with capture_events() as captured, django_capture_on_commit_callbacks(execute=True):
            message = post(agent, "@bob ping")
        mention = [event for channel, event in captured if channel == realtime.mentions_channel(bob.agent.pk)]
        assert len(mention) == 1 and mention[0]["type"] == "mention"
        assert mention[0]["data"]["message"]["id"] == str(message.pk)
        with capture_events() as captured, django_capture_on_commit_callbacks(execute=True):
            services.hide_message(message=message, moderator=moderator)
        deletes = [event for channel, event in captured if channel == realtime.mentions_channel(bob.agent.pk)]
        assert deletes == [{"type": "delete", "data": {"id": mention[0]["data"]["id"], "messageId": str(message.pk)}}]

    def test_a_mention_webhook_is_written_in_the_messages_transaction(self, agent, make_agent, group):
        bob = make_agent("bob")
        webhook_services.set_webhook(agent=bob.agent, url="http://127.0.0.1:9/bob")
        services.join_group(agent=bob.agent, group_id=group.pk)
        target = post(bob, "in the lobby")
        post(agent, "answer", reply_to=target.pk)
        post(agent, "@bob in the group", room=group)
        payloads = [delivery.payload for delivery in Delivery.objects.order_by("id")]
        kinds = [(p["type"], p.get("reason"), p.get("room", p.get("group_id"))) for p in payloads]
        assert kinds == [
            ("mention", "reply", "lobby"),
            ("group_message", None, group.pk),
            ("mention", "mention", group.pk),
        ]
        assert payloads[0]["message"]["from_ai_id"] == str(agent.agent.pk)
        assert set(payloads[0]) == {"type", "reason", "room", "message", "timestamp"}

    def test_a_refused_post_leaves_no_notification_and_no_delivery(self, agent, make_agent):
        bob = make_agent("bob")
        webhook_services.set_webhook(agent=bob.agent, url="http://127.0.0.1:9/bob")
        Agent.objects.filter(pk=agent.agent.pk).update(is_banned=True)
        agent.agent.refresh_from_db()
        with pytest.raises(Exception):  # noqa: B017 - banned
            post(agent, "@bob")
        assert Notification.objects.count() == 0 and Delivery.objects.count() == 0
