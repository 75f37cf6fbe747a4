"""Hiding and restoring messages through the real admin views: readers, counters, frames and the log."""

import pytest
from django.contrib.admin.models import LogEntry

from chat.models import Message, Room

pytestmark = pytest.mark.django_db

MESSAGES = "/admin/chat/message/"


def lobby_ids(api) -> list[str]:
    return [message["id"] for message in api.get("/api/messages").json()["messages"]]


def total_messages(api) -> int:
    return api.get("/api/agents").json()["stats"]["totalMessages"]


class TestHide:
    def test_a_hidden_message_leaves_history_stats_and_streams(
        self, admin_session, api, verified_agent, post_message, lobby_events, django_capture_on_commit_callbacks
    ):
        keep = post_message(verified_agent, "a fine message")
        spam = post_message(verified_agent, "buy cheap lobsters")
        assert lobby_ids(api) == [str(keep.id), str(spam.id)]
        assert total_messages(api) == 2

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_session.run_action(MESSAGES, "hide", [spam.id])
        assert response.status_code == 302

        assert lobby_events() == [{"type": "delete", "data": {"id": str(spam.id)}}]
        assert lobby_ids(api) == [str(keep.id)]
        assert total_messages(api) == 1
        spam.refresh_from_db()
        assert spam.hidden and spam.hidden_at is not None

    def test_hiding_is_recorded_in_the_admin_log_with_the_moderator(self, admin_session, verified_agent, post_message):
        spam = post_message(verified_agent, "spam")
        admin_session.run_action(MESSAGES, "hide", [spam.id])
        entry = LogEntry.objects.get(object_id=str(spam.id))
        assert entry.user == admin_session.user
        assert entry.get_change_message() == "Hid the message from readers."
        assert entry.content_type.model_class() is Message

    def test_hiding_twice_counts_once_and_sends_one_frame(
        self, admin_session, api, verified_agent, post_message, lobby_events, django_capture_on_commit_callbacks
    ):
        spam = post_message(verified_agent, "spam")
        with django_capture_on_commit_callbacks(execute=True):
            admin_session.run_action(MESSAGES, "hide", [spam.id])
        with django_capture_on_commit_callbacks(execute=True):
            admin_session.run_action(MESSAGES, "hide", [spam.id])
        assert len(lobby_events()) == 1
        assert total_messages(api) == 0
        assert LogEntry.objects.filter(object_id=str(spam.id)).count() == 1

    def test_the_changelist_post_without_a_csrf_token_is_refused(self, admin_session, verified_agent, post_message):
        spam = post_message(verified_agent, "spam")
        response = admin_session.client.post(MESSAGES, {"action": "hide", "_selected_action": [str(spam.id)]})
        assert response.status_code == 403
        spam.refresh_from_db()
        assert not spam.hidden


class TestRestore:
    def test_a_restored_message_is_back_in_history_and_stats_without_a_frame(
        self, admin_session, api, verified_agent, post_message, lobby_events, django_capture_on_commit_callbacks
    ):
        message = post_message(verified_agent, "misjudged")
        admin_session.run_action(MESSAGES, "hide", [message.id])
        assert lobby_ids(api) == []
        lobby_events()  # drop what the hide sent

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_session.run_action(MESSAGES, "restore", [message.id])
        assert response.status_code == 302
        assert lobby_ids(api) == [str(message.id)]
        assert total_messages(api) == 1
        assert lobby_events() == []
        entries = LogEntry.objects.filter(object_id=str(message.id)).order_by("id")
        assert [entry.get_change_message() for entry in entries] == [
            "Hid the message from readers.",
            "Restored the message.",
        ]
        assert {entry.user for entry in entries} == {admin_session.user}

    def test_restoring_a_visible_message_changes_nothing(self, admin_session, api, verified_agent, post_message):
        message = post_message(verified_agent, "never hidden")
        admin_session.run_action(MESSAGES, "restore", [message.id])
        assert Room.objects.get(pk="lobby").visible_count == 1
        assert not LogEntry.objects.exists()


class TestGroups:
    def test_hiding_a_group_message_tells_the_group_stream_and_leaves_the_lobby_alone(
        self, admin_session, api, verified_agent, post_message, listen, django_capture_on_commit_callbacks
    ):
        from chat import services as chat_services
        from realtime import api as realtime

        group = chat_services.create_group(owner=verified_agent.agent, name="lobster club")
        said = chat_services.post_room_message(agent=verified_agent.agent, room=group, content="club secret")
        post_message(verified_agent, "in the lobby")
        group_stream, lobby_stream = listen(realtime.room_channel(group.pk)), listen(realtime.room_channel("lobby"))
        with django_capture_on_commit_callbacks(execute=True):
            admin_session.run_action(MESSAGES, "hide", [said.id])
        assert group_stream.received() == [{"type": "delete", "data": {"id": str(said.id)}}]
        assert lobby_stream.received() == []
        assert Room.objects.get(pk=group.pk).visible_count == 0
        assert total_messages(api) == 1
        history = api.get(f"/ai/groups/{group.pk}/messages", **verified_agent.auth).json()["messages"]
        assert history == []
