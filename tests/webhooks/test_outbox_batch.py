"""The outbox of a batch of messages (issue 22): one query for the members with an endpoint and one for the
endpoints, none while no agent has an enabled endpoint (webhooks.subscribers), and exactly the rows the per-message
rule gives — a DM to its recipient, a group message to every other member with a deliverable endpoint, in the
messages' order. The subscriber set is never served after an endpoint was created, enabled, disabled or deleted:
each such test first proves the set is cached, so it fails if a change did not bump its version."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from chat import services as chat_services
from chat import webhook_events
from chat.models import DirectMessage
from webhooks import services, subscribers
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def crew(agent, bob, make_agent):
    """A group of alice (owner), bob and carol; nobody has a webhook yet."""
    carol = make_agent("carol")
    group = chat_services.create_group(owner=agent.agent, name="crew")
    chat_services.join_group(agent=bob.agent, group_id=group.pk)
    chat_services.join_group(agent=carol.agent, group_id=group.pk)
    return group, carol


def delivered_to(message) -> list[str]:
    kind = "message" if isinstance(message, DirectMessage) else "group_message"  # the two count ids apart
    rows = Delivery.objects.filter(payload__type=kind, payload__message__id=str(message.pk)).order_by("pk")
    return sorted(rows.values_list("endpoint__agent__name", flat=True))


def test_without_any_endpoint_a_group_post_asks_nothing_of_the_outbox(agent, bob, crew):
    group, _ = crew
    chat_services.post_room_message(agent=bob.agent, room=group, content="warm the caches")
    with CaptureQueriesContext(connection) as queries:
        chat_services.post_room_message(agent=bob.agent, room=group, content="hi crew")
    touched = [query["sql"] for query in queries.captured_queries if "webhook" in query["sql"]]
    assert touched == []
    assert Delivery.objects.count() == 0


def test_a_batch_gets_the_rows_of_each_message_in_order(agent, bob, crew, allow_private):
    group, carol = crew
    services.set_webhook(agent=agent.agent, url=URL)
    services.set_webhook(agent=carol.agent, url=URL)
    from_bob = chat_services.post_room_message(agent=bob.agent, room=group, content="one")
    from_alice = chat_services.post_room_message(agent=agent.agent, room=group, content="two")
    direct = chat_services.send_direct_message(sender=bob.agent, recipient_id=carol.agent.pk, content="psst")
    assert delivered_to(from_bob) == ["alice", "carol"]
    assert delivered_to(from_alice) == ["carol"]  # never the sender; bob has no webhook
    assert delivered_to(direct) == ["carol"]

    Delivery.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        deliveries = webhook_events.enqueue_batch_deliveries(messages=[from_bob, from_alice, direct])
    assert len(queries.captured_queries) == 3  # the members with an endpoint, the endpoints, the INSERT
    made = [(delivery.payload["message"]["id"], delivery.endpoint.agent_id) for delivery in deliveries]
    expected = sorted([(str(from_bob.pk), agent.agent.pk), (str(from_bob.pk), carol.agent.pk)], key=str)
    assert sorted(made[:2], key=str) == expected
    assert made[2:] == [(str(from_alice.pk), carol.agent.pk), (str(direct.pk), carol.agent.pk)]
    assert deliveries[0].payload["type"] == "group_message" and deliveries[3].payload["type"] == "message"


def test_a_webhook_set_after_the_set_was_cached_gets_the_next_message(agent, bob, crew, allow_private):
    group, _ = crew
    chat_services.post_room_message(agent=bob.agent, room=group, content="nobody listens")
    assert subscribers.cache.entry is not None and subscribers.cache.entry[1] == frozenset()
    services.set_webhook(agent=agent.agent, url=URL)
    message = chat_services.post_room_message(agent=bob.agent, room=group, content="now alice does")
    assert delivered_to(message) == ["alice"]


def test_a_disabled_then_enabled_endpoint(agent, bob, crew, allow_private):
    group, _ = crew
    endpoint, _ = services.set_webhook(agent=agent.agent, url=URL)
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="a")) == ["alice"]
    services._disable(endpoint, reason="test", now=endpoint.updated_at)
    assert subscribers.subscribed() == frozenset()
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="b")) == []
    moderator = account_services.create_moderator(username="mod", password="a-long-enough-password")
    services.enable_endpoint(endpoint=endpoint, moderator=moderator)
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="c")) == ["alice"]


def test_a_deleted_webhook_and_a_banned_agent_get_nothing(agent, bob, crew, allow_private):
    group, carol = crew
    services.set_webhook(agent=agent.agent, url=URL)
    services.set_webhook(agent=carol.agent, url=URL)
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="a")) == [
        "alice",
        "carol",
    ]
    services.delete_webhook(agent=carol.agent)
    assert subscribers.subscribed() == frozenset({agent.agent.pk})
    moderator = account_services.create_moderator(username="mod", password="a-long-enough-password")
    account_services.ban_agent(agent=agent.agent, moderator=moderator)
    assert Endpoint.objects.filter(agent=agent.agent, enabled=True).exists()  # subscribed, but not deliverable
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="b")) == []


def test_a_member_who_left_gets_no_more_group_messages(agent, bob, crew, allow_private):
    group, carol = crew
    services.set_webhook(agent=carol.agent, url=URL)
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="a")) == ["carol"]
    chat_services.leave_group(agent=carol.agent, group_id=group.pk)
    assert delivered_to(chat_services.post_room_message(agent=bob.agent, room=group, content="b")) == []
