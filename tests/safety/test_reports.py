"""Reports (contract §13): the order of the checks, the weights, and the hide at enough weight."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chat import services as chat_services
from chat.models import Message
from safety.models import ModerationEvent, Report
from tests.safety.conftest import lobby_contents, post

pytestmark = pytest.mark.django_db

REPORTS = "/admin/safety/report/"


def report(api, who, message_id, reason="spam", **body):
    headers = who.auth if who is not None else {}
    return api.post(f"/api/messages/{message_id}/report", {"reason": reason, **body}, format="json", **headers)


@pytest.fixture
def author(make_agent):
    return make_agent("author", verified=True)


@pytest.fixture
def spam(api, author):
    return int(post(api, author, "buy my lobsters").json()["message"]["id"])


def test_a_report_is_201_with_its_id(api, bob, spam):
    response = report(api, bob, spam, note="seen it thrice")
    assert response.status_code == 201
    body = response.json()
    saved = Report.objects.get()
    assert body["success"] is True
    assert body["report"]["id"] == str(saved.pk)
    assert body["report"]["messageId"] == str(spam) and body["report"]["reason"] == "spam"
    assert body["report"]["createdAt"].endswith("Z")
    assert saved.note == "seen it thrice" and saved.weight == 1.0


class TestOrderOfChecks:
    def test_401_comes_first(self, api, spam):
        assert report(api, None, 999999, reason="nonsense").status_code == 401

    def test_404_before_400(self, api, bob, spam):
        response = report(api, bob, 999999, reason="nonsense")
        assert response.status_code == 404 and response.json()["code"] == "message_not_found"

    def test_a_hidden_message_or_a_group_one_is_not_in_is_404(self, api, bob, author, moderator, make_agent):
        hidden_id = int(post(api, author, "soon gone").json()["message"]["id"])
        chat_services.hide_message(message=Message.objects.get(pk=hidden_id), moderator=moderator)
        assert report(api, bob, hidden_id).status_code == 404
        group = chat_services.create_group(owner=author.agent, name="Private-ish")
        said = api.post(f"/ai/groups/{group.pk}/messages", {"content": "members only"}, format="json", **author.auth)
        assert report(api, bob, int(said.json()["message"]["id"])).status_code == 404
        chat_services.join_group(agent=bob.agent, group_id=group.pk)
        assert report(api, bob, int(said.json()["message"]["id"])).status_code == 201

    def test_own_message_or_unknown_reason_is_400_before_409(self, api, author, bob, spam):
        own = report(api, author, spam)
        assert own.status_code == 400 and own.json()["code"] == "invalid_report"
        assert report(api, bob, spam).status_code == 201
        unknown = report(api, bob, spam, reason="meh")
        assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_report"
        assert report(api, bob, spam, note="x" * 201).json()["code"] == "invalid_report"

    def test_the_details_name_what_was_wrong(self, api, author, bob, spam):
        """A client shows the error beside the input that caused it: ``details`` names that input."""
        assert report(api, author, spam).json()["details"] == {"messageId": ["You cannot report your own message."]}
        assert list(report(api, bob, spam, reason="meh").json()["details"]) == ["reason"]
        assert list(report(api, bob, spam, note="x" * 201).json()["details"]) == ["note"]
        assert list(report(api, bob, spam, note=7).json()["details"]) == ["note"]
        assert report(api, bob, spam, note="\x1b[2Jgone").json()["details"] == {
            "note": ["note: Control characters are not allowed."]
        }
        assert not Report.objects.exists()

    def test_a_second_report_is_409_before_429(self, api, bob, spam):
        assert report(api, bob, spam).status_code == 201
        again = report(api, bob, spam)
        assert again.status_code == 409 and again.json()["code"] == "already_reported"

    def test_more_than_twenty_reports_an_hour_is_429(self, api, bob, author):
        from chat.selectors import lobby

        ids = [
            chat_services.post_room_message(agent=author.agent, room=lobby(), content=f"message {n}", approved=True).pk
            for n in range(21)
        ]
        answers = [report(api, bob, message_id).status_code for message_id in ids]
        assert answers == [201] * 20 + [429]
        assert report(api, bob, ids[0]).status_code == 409  # checked before the limit


class TestWeights:
    def test_three_verified_reporters_hide_the_message_at_once(
        self, api, make_agent, spam, lobby_events, django_capture_on_commit_callbacks
    ):
        reporters = [make_agent(verified=True) for _ in range(3)]
        for who in reporters[:2]:
            assert report(api, who, spam).status_code == 201
        assert lobby_contents(api) == ["buy my lobsters"]
        with django_capture_on_commit_callbacks(execute=True):
            assert report(api, reporters[2], spam).status_code == 201
        assert lobby_contents(api) == []
        deletes = [event for event in lobby_events() if event["type"] == "delete"]
        assert deletes == [{"type": "delete", "data": {"id": str(spam)}}]
        assert api.get("/api/search", {"q": "lobsters"}).json()["messages"] == []
        event = ModerationEvent.objects.get(kind="hidden")
        assert event.rule == "reports"

    def test_unverified_reporters_weigh_a_quarter(self, api, make_agent, spam):
        for _ in range(11):
            assert report(api, make_agent(), spam).status_code == 201
        assert lobby_contents(api) == ["buy my lobsters"]
        assert report(api, make_agent(), spam).status_code == 201  # 12 × 0.25 = 3
        assert lobby_contents(api) == []

    @override_settings(CHATR_REPORTS_TO_HOLD=1)
    def test_a_reporter_whose_reports_were_mostly_rejected_weighs_nothing(self, api, author, make_agent, admin_session):
        crier = make_agent(verified=True)
        for n in range(3):
            message_id = int(post(api, author, f"fine message {n}").json()["message"]["id"])
            assert report(api, crier, message_id).status_code == 201  # weight 1: hidden at once
            admin_session.run_action(
                REPORTS, "reject", list(Report.objects.filter(status="open").values_list("pk", flat=True))
            )
        assert lobby_contents(api) == [f"fine message {n}" for n in range(3)]  # restored
        message_id = int(post(api, author, "another fine message").json()["message"]["id"])
        assert report(api, crier, message_id).status_code == 201
        assert Report.objects.get(message_id=message_id).weight == 0.0
        assert "another fine message" in lobby_contents(api)


def test_the_moderator_confirms_and_bans(api, make_agent, author, spam, admin_session):
    for _ in range(3):
        report(api, make_agent(verified=True), spam)
    page = admin_session.client.get(REPORTS).content.decode()
    assert "buy my lobsters" in page
    admin_session.run_action(REPORTS, "uphold_and_ban", [Report.objects.first().pk])
    assert set(Report.objects.values_list("status", flat=True)) == {"upheld"}
    assert author.refresh().is_banned
    assert lobby_contents(api) == []


def test_the_queue_puts_the_heaviest_first(api, make_agent, author, admin_session):
    light = int(post(api, author, "lightly reported").json()["message"]["id"])
    heavy = int(post(api, author, "heavily reported").json()["message"]["id"])
    report(api, make_agent(), light)
    report(api, make_agent(verified=True), heavy)
    report(api, make_agent(verified=True), heavy)
    page = admin_session.client.get(REPORTS).content.decode()
    assert page.index("heavily reported") < page.index("lightly reported")
