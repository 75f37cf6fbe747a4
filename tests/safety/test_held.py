"""Held posts: the 202, idempotent replays, the author's list, and a moderator's approval or refusal."""

from __future__ import annotations

import pytest

from chat.models import Message
from safety.models import HeldMessage, Rule
from tests.moderation.conftest import csrf_token
from tests.safety.conftest import lobby_contents, post

pytestmark = pytest.mark.django_db

HELD = "/admin/safety/heldmessage/"


@pytest.fixture
def holding_rule(make_rule):
    return make_rule(
        "terms", {"terms": ["review me"]}, name="needs-review", action="hold", reason="A human looks first."
    )


def test_a_held_post_is_202_and_reaches_no_reader(api, verified_agent, holding_rule):
    response = post(api, verified_agent, "please review me")
    assert response.status_code == 202
    held = HeldMessage.objects.get()
    assert response.json() == {
        "success": True,
        "held": {"id": f"h{held.pk}", "rule": "needs-review", "reason": "A human looks first."},
    }
    assert lobby_contents(api) == []
    assert api.get("/api/agents").json()["stats"]["totalMessages"] == 0
    assert api.get("/api/search", {"q": "review"}).json()["messages"] == []


def test_a_retry_with_the_same_idempotency_key_replays_the_hold(api, verified_agent, holding_rule):
    first = post(api, verified_agent, "please review me", HTTP_IDEMPOTENCY_KEY="k1")
    again = post(api, verified_agent, "please review me", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert HeldMessage.objects.count() == 1


def test_the_author_lists_its_own_held_posts(api, verified_agent, bob, holding_rule):
    post(api, verified_agent, "please review me")
    post(api, bob, "review me too")
    mine = api.get("/api/held", **verified_agent.auth).json()
    assert mine["success"] is True
    assert [(item["room"], item["content"], item["rule"]) for item in mine["held"]] == [
        ("lobby", "please review me", "needs-review")
    ]
    assert mine["held"][0]["id"].startswith("h") and mine["held"][0]["createdAt"].endswith("Z")
    assert api.get("/api/held").status_code == 401


def test_approval_posts_it_as_a_new_message_at_approval_time(
    api, verified_agent, bob, holding_rule, admin_session, django_capture_on_commit_callbacks
):
    post(api, verified_agent, "please review me")
    earlier = post(api, bob, "meanwhile").json()["message"]
    held = HeldMessage.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_session.run_action(HELD, "approve", [held.pk])
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == "approved"
    message = Message.objects.get(pk=held.message_id)
    assert message.pk > int(earlier["id"]) and message.created_at >= held.created_at
    assert lobby_contents(api) == ["meanwhile", "please review me"]
    assert api.get("/api/held", **verified_agent.auth).json()["held"] == []


def test_refusal_discards_it(api, verified_agent, holding_rule, admin_session):
    post(api, verified_agent, "please review me")
    held = HeldMessage.objects.get()
    admin_session.run_action(HELD, "refuse", [held.pk])
    held.refresh_from_db()
    assert held.status == "refused" and held.message_id is None
    admin_session.run_action(HELD, "approve", [held.pk])  # decided: nothing more happens
    assert lobby_contents(api) == []


def test_held_messages_are_discarded_after_seven_days(api, verified_agent, holding_rule):
    from datetime import timedelta

    from django.utils import timezone

    from safety.services import discard_stale_held

    post(api, verified_agent, "please review me")
    HeldMessage.objects.update(created_at=timezone.now() - timedelta(days=7, seconds=1))
    assert discard_stale_held() == 1
    assert HeldMessage.objects.get().status == "discarded"


class TestAdmin:
    def test_a_pattern_re2_refuses_is_refused_when_saved(self, admin_session):
        client = admin_session.client
        page = client.get("/admin/safety/rule/add/")
        assert page.status_code == 200
        form = {
            "csrfmiddlewaretoken": csrf_token(page.content.decode()),
            "name": "backref",
            "reason": "No.",
            "kind": "pattern",
            "action": "block",
            "applies_to": "all",
            "enabled": "on",
            "position": "0",
            "in_lobby": "on",
            "settings": '{"pattern": "(a)\\\\1"}',
        }
        refused = client.post("/admin/safety/rule/add/", form)
        assert refused.status_code == 200
        assert "RE2 refuses this pattern" in refused.content.decode()
        form["settings"] = '{"pattern": "(?i)free money"}'
        form["csrfmiddlewaretoken"] = csrf_token(refused.content.decode())
        assert client.post("/admin/safety/rule/add/", form).status_code == 302

    def test_a_control_character_in_the_settings_is_refused_when_saved(self, admin_session):
        """A ``\\u0000`` in the settings' JSON failed inside PostgreSQL's jsonb (a 500 for the moderator)."""
        client = admin_session.client
        page = client.get("/admin/safety/rule/add/")
        form = {
            "csrfmiddlewaretoken": csrf_token(page.content.decode()),
            "name": "nul",
            "reason": "No.",
            "kind": "terms",
            "action": "block",
            "applies_to": "all",
            "enabled": "on",
            "position": "0",
            "in_lobby": "on",
            "settings": '{"terms": ["bad\\u0000"]}',
        }
        refused = client.post("/admin/safety/rule/add/", form)
        assert refused.status_code == 200
        assert "Control characters are not allowed." in refused.content.decode()
        assert not Rule.objects.exists()

    def test_a_rule_saved_in_the_admin_applies_to_the_next_post(self, admin_session, api, verified_agent):
        client = admin_session.client
        page = client.get("/admin/safety/rule/add/")
        form = {
            "csrfmiddlewaretoken": csrf_token(page.content.decode()),
            "name": "money",
            "reason": "No money talk.",
            "kind": "terms",
            "action": "block",
            "applies_to": "all",
            "enabled": "on",
            "position": "0",
            "in_lobby": "on",
            "settings": '{"terms": ["money"]}',
        }
        assert client.post("/admin/safety/rule/add/", form).status_code == 302
        assert post(api, verified_agent, "free money").json()["rule"] == "money"

    def test_an_admin_save_logs_once_the_entry_the_service_wrote(self, admin_session):
        from django.contrib.admin.models import LogEntry

        from chat.models import LOBBY_ID

        client = admin_session.client
        page = client.get("/admin/safety/rule/add/")
        form = {
            "csrfmiddlewaretoken": csrf_token(page.content.decode()),
            "name": "money",
            "reason": "No money talk.",
            "kind": "terms",
            "action": "block",
            "applies_to": "all",
            "enabled": "on",
            "position": "0",
            "in_lobby": "on",
            "settings": '{"terms": ["money"]}',
        }
        assert client.post("/admin/safety/rule/add/", form).status_code == 302
        page = client.get("/admin/safety/roomslowmode/add/")
        form = {"csrfmiddlewaretoken": csrf_token(page.content.decode()), "room": LOBBY_ID, "seconds": "5"}
        assert client.post("/admin/safety/roomslowmode/add/", form).status_code == 302
        messages = list(LogEntry.objects.order_by("id").values_list("change_message", flat=True))
        assert messages == ["Saved the rule.", "Set slow mode to 5 s."]

    def test_a_slow_mode_longer_than_an_import_allows_is_refused(self, admin_session):
        """The admin took any number (a typo could slow a room for years) while an import refuses over 3600 s."""
        from chat.models import LOBBY_ID
        from safety.models import RoomSlowMode

        client = admin_session.client
        page = client.get("/admin/safety/roomslowmode/add/")
        form = {"csrfmiddlewaretoken": csrf_token(page.content.decode()), "room": LOBBY_ID, "seconds": "36000"}
        refused = client.post("/admin/safety/roomslowmode/add/", form)
        assert refused.status_code == 200 and "At most 3600 seconds" in refused.content.decode()
        assert not RoomSlowMode.objects.exists()
        form["seconds"], form["csrfmiddlewaretoken"] = "3600", csrf_token(refused.content.decode())
        assert client.post("/admin/safety/roomslowmode/add/", form).status_code == 302
        assert RoomSlowMode.objects.get().seconds == 3600


@pytest.mark.parametrize(
    ("kind", "settings", "problem"),
    [
        ("terms", {"terms": []}, "non-empty list"),
        ("terms", {"terms": [f"t{n}" for n in range(1001)]}, "at most 1000"),
        ("terms", {"terms": ["!!!"]}, "letter or digit"),
        ("pattern", {"pattern": "x" * 501}, "at most 500"),
        ("links", {"domains": ["not a domain"]}, "not a domain"),
        ("links", {"domains": ["evil.com"], "mode": "maybe"}, "deny"),
        ("near_duplicate", {"similarity": 0.2}, "between 0.3 and 1.0"),
        ("flood", {"posts": 10}, "seconds is required"),
        ("new_agent", {"minutes": 5, "extra": 1}, "Unknown setting"),
    ],
)
def test_invalid_settings_are_refused(make_rule, kind, settings, problem):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        make_rule(kind, settings)
    assert problem in str(refused.value)


def test_the_author_is_told_on_its_inbox_stream_and_webhook(
    api, verified_agent, holding_rule, admin_session, settings, django_capture_on_commit_callbacks
):
    from realtime import api as hub
    from tests.realtime.capture import capture_events
    from webhooks import services as webhook_services
    from webhooks.models import Delivery

    settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
    webhook_services.set_webhook(agent=verified_agent.agent, url="http://127.0.0.1:9/hook")
    post(api, verified_agent, "please review me")
    post(api, verified_agent, "review me again")
    first, second = HeldMessage.objects.order_by("id")
    with capture_events() as captured, django_capture_on_commit_callbacks(execute=True):
        admin_session.run_action(HELD, "approve", [first.pk])
        admin_session.run_action(HELD, "refuse", [second.pk])
    first.refresh_from_db()
    inbox = [event for channel, event in captured if channel == hub.inbox_channel(verified_agent.agent.pk)]
    assert inbox == [
        {
            "type": "held_decided",
            "data": {"heldId": f"h{first.pk}", "approved": True, "messageId": str(first.message_id)},
        },
        {"type": "held_decided", "data": {"heldId": f"h{second.pk}", "approved": False}},
    ]
    payloads = [delivery.payload for delivery in Delivery.objects.order_by("id")]
    assert [(payload["type"], payload["heldId"], payload["approved"]) for payload in payloads] == [
        ("held_decided", f"h{first.pk}", True),
        ("held_decided", f"h{second.pk}", False),
    ]


def test_a_held_group_post_notifies_no_one(api, verified_agent, bob, group, holding_rule, settings):
    """Held: no mention in anyone's feed, no webhook delivery to the group's members, no count."""
    from chat.models import Notification, Room
    from webhooks import services as webhook_services
    from webhooks.models import Delivery

    settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
    webhook_services.set_webhook(agent=bob.agent, url="http://127.0.0.1:9/hook")
    url = f"/ai/groups/{group.pk}/messages"
    response = api.post(url, {"content": "@bob please review me"}, format="json", **verified_agent.auth)
    assert response.status_code == 202
    assert Notification.objects.count() == 0 and Delivery.objects.count() == 0
    assert Room.objects.get(pk=group.pk).visible_count == 0
    assert api.get("/api/mentions", **bob.auth).json()["mentions"] == []
    assert api.get(url, **bob.auth).json()["messages"] == []
