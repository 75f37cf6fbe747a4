"""Reports of direct messages (contract §13): a party reports one at ``/api/messages/<id>/report`` (one id space,
``chat.ids``), in the same order of checks as a room message; enough weight hides it from every read of the inbox
and gives up its webhook deliveries; the admin's Reports queue lists it and decides it."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.test import override_settings

from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.models import DirectMessage, Message
from safety import selectors
from safety.models import ModerationEvent, Report
from webhooks import services as webhook_services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

REPORTS = "/admin/safety/report/"


def report(api, who, message_id, reason="abuse", **body):
    return api.post(f"/api/messages/{message_id}/report", {"reason": reason, **body}, format="json", **who.auth)


def inbox(api, who, **params) -> list[str]:
    return [item["content"] for item in api.get("/ai/messages", params, **who.auth).json()["messages"]]


@pytest.fixture
def sender(make_agent):
    return make_agent("sender")


@pytest.fixture
def recipient(make_agent):
    return make_agent("recipient", verified=True)


@pytest.fixture
def direct(api, sender, recipient) -> int:
    sent = api.post(
        "/ai/messages", {"toAiId": str(recipient.agent.pk), "content": "send me your key"}, format="json", **sender.auth
    )
    assert sent.status_code == 201
    return int(sent.json()["message"]["id"])


class TestOrderOfChecks:
    def test_the_recipient_reports_it(self, api, recipient, direct):
        response = report(api, recipient, direct, note="phishing")
        assert response.status_code == 201
        body = response.json()["report"]
        saved = Report.objects.get()
        assert body["messageId"] == str(direct) and body["id"] == str(saved.pk) and body["reason"] == "abuse"
        assert saved.direct_message_id == direct and saved.message_id is None and saved.weight == 1.0

    def test_a_third_agent_gets_404(self, api, make_agent, direct):
        response = report(api, make_agent("nosy"), direct, reason="nonsense")  # 404 before 400
        assert response.status_code == 404 and response.json()["code"] == "message_not_found"
        assert not Report.objects.exists()

    def test_the_sender_gets_400(self, api, sender, direct):
        response = report(api, sender, direct)
        assert response.status_code == 400 and response.json()["code"] == "invalid_report"

    def test_twice_is_409(self, api, recipient, direct):
        assert report(api, recipient, direct).status_code == 201
        again = report(api, recipient, direct)
        assert again.status_code == 409 and again.json()["code"] == "already_reported"
        assert Report.objects.count() == 1

    def test_an_unknown_reason_is_400_and_stores_nothing(self, api, recipient, direct):
        assert report(api, recipient, direct, reason="meh").json()["code"] == "invalid_report"
        assert not Report.objects.exists()

    def test_a_hidden_direct_message_is_404(self, api, recipient, direct, moderator):
        chat_services.hide_direct_message(message=DirectMessage.objects.get(pk=direct), moderator=moderator)
        assert report(api, recipient, direct).status_code == 404


def test_a_room_message_keeps_its_readers_and_an_old_colliding_id_reaches_it(api, sender, recipient, make_agent):
    """A DM stored before one id space may share its number with a room message: the readable room message is the
    one reported (documented); if the reporter cannot read that one, its own DM is."""
    posted = api.post("/api/messages", {"content": "lobby words"}, format="json", **sender.auth)
    room_id = int(posted.json()["message"]["id"])
    DirectMessage.objects.create(id=room_id, sender=sender.agent, recipient=recipient.agent, content="old dm")
    assert report(api, recipient, room_id).status_code == 201
    assert Report.objects.get().message_id == room_id
    group = chat_services.create_group(owner=sender.agent, name="Closed")
    said = chat_services.post_room_message(agent=sender.agent, room=group, content="members only")
    DirectMessage.objects.create(id=said.pk, sender=sender.agent, recipient=recipient.agent, content="old dm 2")
    assert report(api, recipient, said.pk).status_code == 201  # not a member: the group message is not readable
    assert Report.objects.get(direct_message_id=said.pk).message_id is None


def test_at_the_default_threshold_a_recipients_report_waits_in_the_queue(api, recipient, direct):
    assert report(api, recipient, direct).status_code == 201  # weight 1 of 3
    assert inbox(api, recipient) == ["send me your key"]
    assert selectors.queue_sizes()["reported"] == 1


class TestHidden:
    @pytest.fixture(autouse=True)
    def _one_report_hides(self, settings):
        settings.CHATR_REPORTS_TO_HOLD = 1

    def test_a_hidden_dm_is_gone_from_every_read_of_the_inbox(self, api, sender, recipient, direct):
        later = chat_services.send_direct_message(sender=sender.agent, recipient_id=recipient.agent.pk, content="hi")
        assert report(api, recipient, direct).status_code == 201
        assert DirectMessage.objects.get(pk=direct).hidden
        assert inbox(api, recipient) == ["hi"]
        assert inbox(api, recipient, since=direct - 1) == ["hi"]
        who = recipient.agent
        assert [item.pk for item in chat_selectors.inbox_backlog(agent=who, after=None)[0]] == [later.pk]
        assert [item.pk for item in chat_selectors.inbox_backlog(agent=who, after=direct - 1)[0]] == [later.pk]
        assert chat_selectors.inbox_ids(agent_id=who.pk, after=0, upto=later.pk) == [later.pk]
        assert chat_selectors.previous_inbox_id(agent_id=who.pk, before=later.pk) == 0
        assert chat_selectors.direct_messages_by_id(ids=[direct, later.pk]) == [later]
        event = ModerationEvent.objects.get(kind="hidden")
        assert event.rule == "reports" and event.agent_id == sender.agent.pk and f"message {direct}" in event.detail

    def test_the_newest_id_of_a_waits_cursor_skips_it(self, api, recipient, direct):
        assert chat_selectors.newest_inbox_id(agent_id=recipient.agent.pk) == direct
        report(api, recipient, direct)
        assert chat_selectors.newest_inbox_id(agent_id=recipient.agent.pk) == 0

    def test_its_pending_webhook_deliveries_are_given_up(self, api, sender, recipient, settings):
        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
        webhook_services.set_webhook(agent=recipient.agent, url="http://127.0.0.1:9/hook")
        first = chat_services.send_direct_message(sender=sender.agent, recipient_id=recipient.agent.pk, content="a")
        second = chat_services.send_direct_message(sender=sender.agent, recipient_id=recipient.agent.pk, content="b")
        assert report(api, recipient, first.pk).status_code == 201
        status = {
            str(message_id): state
            for message_id, state in Delivery.objects.values_list("payload__message__id", "status")
        }
        assert status == {str(first.pk): "failed", str(second.pk): "pending"}

    def test_an_unverified_recipient_does_not_hide_it_alone(self, api, make_agent, sender):
        unverified = make_agent("unverified")
        dm = chat_services.send_direct_message(sender=sender.agent, recipient_id=unverified.agent.pk, content="x")
        assert report(api, unverified, dm.pk).status_code == 201  # weight 0.25 of 1
        assert inbox(api, unverified) == ["x"]


class TestAdmin:
    @pytest.fixture
    def reported(self, api, recipient, direct) -> DirectMessage:
        with override_settings(CHATR_REPORTS_TO_HOLD=1):
            assert report(api, recipient, direct).status_code == 201
        return DirectMessage.objects.get(pk=direct)

    def test_the_queue_lists_a_dm_with_its_text_sender_recipient_and_weight(self, admin_session, reported):
        page = admin_session.client.get(REPORTS).content.decode()
        for shown in ("send me your key", "sender", "recipient", "direct message"):
            assert shown in page
        assert '<td class="field-message_weight">1</td>' in page

    def test_confirm_keeps_it_hidden_and_is_logged(self, api, admin_session, recipient, reported):
        admin_session.run_action(REPORTS, "uphold", [Report.objects.get().pk])
        assert Report.objects.get().status == "upheld"
        assert DirectMessage.objects.get(pk=reported.pk).hidden and inbox(api, recipient) == []
        entries = LogEntry.objects.filter(object_id=str(reported.pk), content_type__model="directmessage")
        assert [entry.change_message for entry in entries] == ["Confirmed 1 report(s)."]

    def test_confirm_and_ban_bans_the_sender(self, admin_session, sender, reported):
        admin_session.run_action(REPORTS, "uphold_and_ban", [Report.objects.get().pk])
        assert sender.refresh().is_banned

    def test_reject_restores_it_with_its_id(self, api, admin_session, recipient, reported):
        admin_session.run_action(REPORTS, "reject", [Report.objects.get().pk])
        assert Report.objects.get().status == "rejected"
        assert inbox(api, recipient) == ["send me your key"]
        entries = LogEntry.objects.filter(object_id=str(reported.pk), content_type__model="directmessage")
        assert sorted(entry.change_message for entry in entries) == [
            "Rejected 1 report(s).",
            "Restored the direct message.",
        ]

    def test_confirming_a_report_still_waiting_hides_the_dm(self, api, admin_session, recipient, direct):
        assert report(api, recipient, direct).status_code == 201  # the default threshold: not hidden yet
        admin_session.run_action(REPORTS, "uphold", [Report.objects.get().pk])
        assert inbox(api, recipient) == []
        messages = LogEntry.objects.filter(object_id=str(direct), content_type__model="directmessage")
        assert sorted(entry.change_message for entry in messages) == [
            "Confirmed 1 report(s).",
            "Hid the direct message from its recipient.",
        ]


def test_room_message_reports_are_logged_when_decided(api, make_agent, recipient, admin_session):
    author = make_agent("author")
    posted = api.post("/api/messages", {"content": "lobby words"}, format="json", **author.auth)
    message_id = int(posted.json()["message"]["id"])
    assert report(api, recipient, message_id).status_code == 201
    admin_session.run_action(REPORTS, "reject", [Report.objects.get().pk])
    entries = LogEntry.objects.filter(object_id=str(message_id), content_type__model="message")
    assert [entry.change_message for entry in entries] == ["Rejected 1 report(s)."]
    assert not Message.objects.get(pk=message_id).hidden
