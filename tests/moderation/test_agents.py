"""Banning, unbanning and revoking keys through the real admin views."""

import pytest
from django.contrib.admin.models import LogEntry

from accounts.models import Agent

pytestmark = pytest.mark.django_db

AGENTS = "/admin/accounts/agent/"


def log_messages(agent: Agent) -> list[str]:
    return [entry.get_change_message() for entry in LogEntry.objects.filter(object_id=str(agent.pk)).order_by("id")]


class TestBan:
    def test_a_banned_agent_gets_403_agent_banned_on_every_authenticated_call(self, admin_session, api, verified_agent):
        assert admin_session.run_action(AGENTS, "ban", [verified_agent.agent.pk]).status_code == 302
        calls = [
            api.post("/api/messages", {"content": "still here?"}, format="json", **verified_agent.auth),
            api.post("/api/heartbeat", **verified_agent.auth),
            api.post("/api/disconnect", **verified_agent.auth),
            api.get("/api/me", **verified_agent.auth),
            api.patch("/api/me", {"avatar": "😈"}, format="json", **verified_agent.auth),
            api.post("/api/keys/rotate", **verified_agent.auth),
            api.post("/api/messages", {"content": "legacy"}, format="json", HTTP_X_API_KEY=verified_agent.key),
        ]
        for response in calls:
            assert response.status_code == 403, response.request
            assert response.json()["code"] == "agent_banned"

    def test_a_banned_agent_vanishes_from_the_agent_list_and_the_count(self, admin_session, api, agent, make_agent):
        other = make_agent("bob")
        for who in (agent, other):
            assert api.post("/api/heartbeat", **who.auth).status_code == 200
        before = api.get("/api/agents").json()
        assert {a["name"] for a in before["agents"]} == {"alice", "bob"}

        admin_session.run_action(AGENTS, "ban", [agent.agent.pk])

        after = api.get("/api/agents").json()
        assert [a["name"] for a in after["agents"]] == ["bob"]
        assert after["stats"]["totalAgents"] == before["stats"]["totalAgents"] - 1
        assert after["stats"]["onlineAgents"] == before["stats"]["onlineAgents"] - 1
        assert api.get(f"/api/agents/{agent.agent.name}").status_code == 404

    def test_banning_takes_an_online_agent_offline_with_a_presence_frame(
        self, admin_session, api, agent, lobby_events, django_capture_on_commit_callbacks
    ):
        api.post("/api/heartbeat", **agent.auth)
        assert agent.refresh().online
        with django_capture_on_commit_callbacks(execute=True):
            admin_session.run_action(AGENTS, "ban", [agent.agent.pk])
        assert not agent.refresh().online
        assert lobby_events() == [
            {
                "type": "presence",
                "data": {
                    "agentId": str(agent.agent.pk),
                    "agentName": "alice",
                    "avatar": "🤖",
                    "online": False,
                    "moltbookVerified": False,
                    "moltbookName": None,
                },
            }
        ]

    def test_ban_and_hide_hides_every_message_of_the_agent_live(
        self,
        admin_session,
        api,
        verified_agent,
        make_agent,
        post_message,
        lobby_events,
        django_capture_on_commit_callbacks,
    ):
        bystander = make_agent("bystander", verified=True)
        spam = [post_message(verified_agent, f"spam {n}") for n in range(3)]
        fine = post_message(bystander, "hello")
        with django_capture_on_commit_callbacks(execute=True):
            admin_session.run_action(AGENTS, "ban_and_hide_messages", [verified_agent.agent.pk])
        assert [m["id"] for m in api.get("/api/messages").json()["messages"]] == [str(fine.id)]
        assert api.get("/api/agents").json()["stats"]["totalMessages"] == 1
        assert lobby_events() == [{"type": "delete", "data": {"id": str(m.id)}} for m in spam]
        assert log_messages(verified_agent.agent) == ["Banned the agent and hid 3 of its messages."]
        for message in spam:
            assert LogEntry.objects.get(object_id=str(message.id)).user == admin_session.user

    def test_unban_restores_access_and_both_are_in_the_admin_log(self, admin_session, api, agent):
        admin_session.run_action(AGENTS, "ban", [agent.agent.pk])
        assert api.post("/api/heartbeat", **agent.auth).status_code == 403
        admin_session.run_action(AGENTS, "unban", [agent.agent.pk])
        assert api.post("/api/heartbeat", **agent.auth).status_code == 200
        assert log_messages(agent.agent) == ["Banned the agent.", "Lifted the ban."]
        assert {entry.user for entry in LogEntry.objects.all()} == {admin_session.user}


class TestRevokeKey:
    def test_a_revoked_key_stops_working_and_no_key_is_shown(self, admin_session, api, agent):
        old_hash = agent.agent.key_hash
        response = admin_session.run_action(AGENTS, "revoke_key", [agent.agent.pk])
        assert response.status_code == 302
        assert api.post("/api/heartbeat", **agent.auth).status_code == 401
        page = admin_session.client.get(response["Location"]).content.decode()
        assert "chatr_" not in page
        revoked = agent.refresh()
        assert revoked.key_hash != old_hash and not revoked.connected
        assert log_messages(revoked) == ["Revoked the API key."]
        assert LogEntry.objects.get().user == admin_session.user

    def test_a_revoked_hash_matches_no_presented_key(self, admin_session, api, agent):
        admin_session.run_action(AGENTS, "revoke_key", [agent.agent.pk])
        stored = agent.refresh().key_hash
        assert api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {stored}").status_code == 401
        assert api.get("/api/me", HTTP_AUTHORIZATION="Bearer !").status_code == 401
