"""The hand-built room message shape is exactly what ``RoomMessageSerializer``'s declared fields give."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from accounts import services as account_services
from chat import events, selectors, services
from chat.models import DirectMessage, Message
from chat.serializers import (
    DirectMessageSerializer,
    InboxMessageSerializer,
    RoomMessageSerializer,
    RoomPostInputSerializer,
    direct_message_data,
    inbox_message_data,
    room_message_data,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_limits(settings):
    settings.CHATR_RATELIMITS = False


def declared(message: Message) -> dict:
    """DRF's generic field-by-field answer for the declared fields (the schema's shape)."""
    return dict(serializers.Serializer.to_representation(RoomMessageSerializer(), message))


def test_every_kind_of_message_has_the_declared_shape(agent, verified_agent, make_agent, group):
    make_agent("bob")
    lobby = selectors.lobby()
    plain = services.post_room_message(agent=agent.agent, room=lobby, content="plain words")
    target = services.post_room_message(agent=verified_agent.agent, room=lobby, content="é" * 150)
    reply = services.post_room_message(
        agent=agent.agent, room=lobby, content="@bob @lobster see this", reply_to=target.pk
    )
    hidden_reply = services.post_room_message(agent=agent.agent, room=lobby, content="again", reply_to=plain.pk)
    in_group = services.post_room_message(agent=agent.agent, room=group, content="in the group")
    moderator = account_services.create_moderator(username="mod", password="a long moderator password")
    services.hide_message(message=plain, moderator=moderator)

    messages = selectors.room_messages_by_id(ids=[m.pk for m in (target, reply, hidden_reply, in_group)])
    for message in messages:
        assert room_message_data(message) == declared(message)
        assert RoomMessageSerializer(message).data == declared(message)
    by_id = {message.pk: room_message_data(message) for message in messages}
    assert by_id[reply.pk]["replyTo"]["excerpt"] == "é" * 100
    assert [mention["name"] for mention in by_id[reply.pk]["mentions"]] == ["bob", "lobster"]
    assert by_id[reply.pk]["moltbookVerified"] is False
    assert by_id[target.pk]["moltbookVerified"] is True
    assert by_id[target.pk]["ownerTwitter"] == "lobster_owner"
    assert by_id[hidden_reply.pk]["replyTo"]["excerpt"] is None
    assert by_id[in_group.pk]["room"] == group.pk


def test_a_page_of_messages_is_built_from_one_query(agent, make_agent):
    bob = make_agent("bob")
    lobby = selectors.lobby()
    first = services.post_room_message(agent=bob.agent, room=lobby, content="first")
    for number in range(5):
        services.post_room_message(agent=agent.agent, room=lobby, content=f"@bob n{number}", reply_to=first.pk)
    with CaptureQueriesContext(connection) as queries:
        messages = selectors.room_messages(room_id=lobby.pk, limit=50)
        data = [events.message_data(message) for message in messages]
    assert len(queries) == 1
    assert data[-1]["replyTo"]["agentName"] == "bob"


def test_direct_messages_have_the_declared_shapes(agent, make_agent):
    """The hand-built DM answer and inbox item are what DRF's generic field-by-field answer for the declared fields
    of ``DirectMessageSerializer`` and ``InboxMessageSerializer`` gives, key order included (the bytes of the 201)."""
    bob = make_agent("bob")
    plain = services.send_direct_message(sender=agent.agent, recipient_id=bob.agent.pk, content="psst ✨")
    signed = DirectMessage.objects.create(
        sender=bob.agent,
        recipient=agent.agent,
        content="signed",
        signature="c2lnbmF0dXJl",
        signature_verified=True,
        created_at=plain.created_at,
    )
    for message in DirectMessage.objects.filter(pk__in=[plain.pk, signed.pk]).select_related("sender"):
        for serializer, built in (
            (DirectMessageSerializer, direct_message_data),
            (InboxMessageSerializer, inbox_message_data),
        ):
            generic = dict(serializers.Serializer.to_representation(serializer(), message))
            assert list(built(message).items()) == list(generic.items())
            assert json.dumps(serializer(message).data) == json.dumps(generic)
    assert direct_message_data(plain)["signature"] is None
    assert inbox_message_data(signed)["from_ai"]["name"] == "bob"


@pytest.mark.parametrize(
    "value",
    [
        1,
        0,
        -1,
        42,
        2**63 - 1,
        2**63,
        "1",
        "01",
        "0",
        "42",
        "",
        " 1",
        "1 ",
        "1.0",
        "+1",
        "-1",
        "١٢",
        "²",
        "9" * 19,
        "9" * 20,
        "1" * 19,
        True,
        False,
        1.0,
        None,
        "abc",
        [1],
        {"id": 1},
    ],
)
def test_a_message_id_is_validated_as_drfs_integer_field_would(value):
    """``MessageIdField``'s shortcut for the usual ids answers what DRF's ``IntegerField`` path answers (then
    refusing booleans and floats), for every kind of value, valid or not."""
    field = RoomPostInputSerializer().fields["replyTo"]
    declared = serializers.IntegerField(allow_null=True, min_value=1, max_value=2**63 - 1)

    def outcome(run):
        try:
            return ("value", run(value))
        except serializers.ValidationError as error:
            return ("error", error.detail)

    expected = outcome(declared.run_validation)
    if expected[0] == "value" and isinstance(value, bool | float):
        expected = ("error", ["A message id is required."])
    assert outcome(field.run_validation) == expected
