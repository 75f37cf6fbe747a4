"""One prepared instance of each message-creating POST's input serializer (``ROOM_POST_INPUT``,
``AI_ROOM_POST_INPUT``, ``DIRECT_MESSAGE_INPUT``, each shared by a view and a request table's command) validates
exactly as a fresh serializer per request does, and keeps nothing of a request."""

from __future__ import annotations

import threading

import pytest
from rest_framework import serializers

from chat.serializers import (
    AI_ROOM_POST_INPUT,
    DIRECT_MESSAGE_INPUT,
    ROOM_POST_INPUT,
    AiRoomPostInputSerializer,
    DirectMessageInputSerializer,
    RoomPostInputSerializer,
)
from chatr.errors import error_for

BODIES = [
    {"content": "hello"},
    {"content": "hello", "signature": None, "replyTo": None},
    {"content": "hello", "replyTo": 7},
    {"content": "hello", "replyTo": "7"},
    {"content": "hello", "extra": [1, 2]},
    {"content": ""},
    {"content": 5},
    {"content": None},
    {"content": "x\x1b[31m"},
    {"content": "a", "replyTo": 1.0},
    {"content": "a", "replyTo": 0.0},
    {"content": "a", "replyTo": True},
    {"content": "a", "replyTo": 1.5},
    {"content": "a", "replyTo": 0},
    {"content": "a", "replyTo": "x" * 2000},
    {"content": "a", "signature": 5},
    {},
    [],
    None,
    "text",
    7,
]


def outcome(validate, body):
    try:
        return "valid", validate(body)
    except Exception as error:
        return "invalid", error_for(error)


AI_BODIES = [
    {"content": "a", "reply_to": 3},
    {"content": "a", "reply_to": 3, "replyTo": 3},
    {"content": "a", "reply_to": 3, "replyTo": 4},
    {"content": "a", "reply_to": 2.0},
    {"content": "a", "reply_to": False},
]


@pytest.mark.parametrize("body", BODIES)
def test_the_prepared_serializer_answers_as_a_fresh_one(body):
    expected = outcome(RoomPostInputSerializer.validated, body)
    assert outcome(ROOM_POST_INPUT.validated, body) == expected
    assert outcome(ROOM_POST_INPUT.validated, body) == expected  # and again: nothing kept from the first


@pytest.mark.parametrize("body", BODIES + AI_BODIES)
def test_the_prepared_ai_serializer_answers_as_a_fresh_one(body):
    expected = outcome(AiRoomPostInputSerializer.validated, body)
    assert outcome(AI_ROOM_POST_INPUT.validated, body) == expected
    assert outcome(AI_ROOM_POST_INPUT.validated, body) == expected


UUID = "00000000-0000-4000-8000-000000000000"
DIRECT_BODIES = [
    {"toAiId": UUID, "content": "a"},
    {"toAiId": UUID.upper(), "content": "a", "signature": None},
    {"toAiId": "00000000000040008000000000000000", "content": "a"},
    {"toAiId": "not a uuid", "content": "a"},
    {"toAiId": 5, "content": "a"},
    {"toAiId": None, "content": "a"},
    {"toAiId": UUID, "content": ""},
    {"toAiId": UUID, "content": 5},
    {"toAiId": UUID, "content": "a", "signature": 5},
    {"toAiId": UUID, "content": "a", "extra": 1},
    {"content": "a"},
]


@pytest.mark.parametrize("body", BODIES + DIRECT_BODIES)
def test_the_prepared_direct_message_serializer_answers_as_a_fresh_one(body):
    expected = outcome(DirectMessageInputSerializer.validated, body)
    assert outcome(DIRECT_MESSAGE_INPUT.validated, body) == expected
    assert outcome(DIRECT_MESSAGE_INPUT.validated, body) == expected


@pytest.mark.parametrize("body", [{"content": "a", "replyTo": 1.0}, {"content": "a", "replyTo": True}])
def test_a_message_id_is_checked_without_initial_data(body):
    """The instance is never given ``data=``: a check that read ``initial_data`` would fail here, not refuse."""
    with pytest.raises(serializers.ValidationError) as refused:
        RoomPostInputSerializer().run_validation(body)
    assert "replyTo" in refused.value.detail


def test_the_ai_spelling_is_checked_the_same_way():
    with pytest.raises(serializers.ValidationError) as refused:
        AiRoomPostInputSerializer.validated({"content": "a", "reply_to": 2.0})
    assert refused.value.detail == {"reply_to": ["A message id is required."]}


def test_threads_share_the_prepared_instance():
    bodies = [{"content": f"post {n}", "replyTo": n + 1} for n in range(200)]
    results: dict[int, list] = {}

    def validate(worker: int) -> None:
        results[worker] = [ROOM_POST_INPUT.validated(body) for body in bodies]

    threads = [threading.Thread(target=validate, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [{"content": body["content"], "replyTo": body["replyTo"]} for body in bodies]
    assert all(result == expected for result in results.values())
