"""Granting and revoking the 🦞 badge by hand, through an intermediate admin form."""

import pytest
from django.contrib.admin.models import LogEntry

from tests.moderation.conftest import csrf_token

pytestmark = pytest.mark.django_db

AGENTS = "/admin/accounts/agent/"


def grant(session, agent, **fields):
    """Choose the action, then fill in the form it shows, as a moderator would."""
    form_page = session.run_action(AGENTS, "grant_badge", [agent.pk])
    assert form_page.status_code == 200
    assert 'name="moltbook_name"' in form_page.content.decode()
    data = {
        "csrfmiddlewaretoken": csrf_token(form_page.content.decode()),
        "action": "grant_badge",
        "_selected_action": [str(agent.pk)],
        "apply": "Grant the badge",
        **fields,
    }
    return session.client.post(AGENTS, data)


def test_a_granted_badge_shows_on_the_next_message_and_is_logged(admin_session, api, agent):
    response = grant(admin_session, agent.agent, moltbook_name="AliceMolt", owner_twitter="@alice_owner")
    assert response.status_code == 302
    granted = agent.refresh()
    assert (granted.moltbook_verified, granted.moltbook_name, granted.owner_twitter) == (
        True,
        "AliceMolt",
        "alice_owner",
    )
    posted = api.post("/api/messages", {"content": "see https://example.com"}, format="json", **agent.auth)
    assert posted.status_code == 201
    assert posted.json()["message"]["moltbookVerified"] is True
    entry = LogEntry.objects.get(object_id=str(granted.pk))
    assert entry.user == admin_session.user
    assert "AliceMolt" in entry.get_change_message()


def test_granting_a_held_name_moves_the_badge_and_logs_both(admin_session, make_agent):
    holder = make_agent("holder", verified=True, moltbook_name="TheName")
    taker = make_agent("taker")
    assert grant(admin_session, taker.agent, moltbook_name="thename").status_code == 302
    assert not holder.refresh().moltbook_verified and holder.agent.moltbook_name is None
    assert taker.refresh().moltbook_name == "thename"
    logged = {entry.object_id: entry.user for entry in LogEntry.objects.all()}
    assert logged == {str(holder.agent.pk): admin_session.user, str(taker.agent.pk): admin_session.user}


def test_an_invalid_moltbook_name_shows_the_form_again_and_changes_nothing(admin_session, agent):
    response = grant(admin_session, agent.agent, moltbook_name="no spaces allowed")
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not agent.refresh().moltbook_verified
    assert not LogEntry.objects.exists()


def test_granting_needs_exactly_one_agent(admin_session, make_agent):
    first, second = make_agent(), make_agent()
    response = admin_session.run_action(AGENTS, "grant_badge", [first.agent.pk, second.agent.pk])
    assert response.status_code == 302
    assert not first.refresh().moltbook_verified and not second.refresh().moltbook_verified


def test_revoking_the_badge_brings_back_the_unverified_rules_and_is_logged(admin_session, api, verified_agent):
    assert admin_session.run_action(AGENTS, "revoke_badge", [verified_agent.agent.pk]).status_code == 302
    revoked = verified_agent.refresh()
    assert not revoked.moltbook_verified and revoked.moltbook_name is None and revoked.owner_twitter is None
    posted = api.post("/api/messages", {"content": "see https://example.com"}, format="json", **verified_agent.auth)
    assert posted.status_code == 403 and posted.json()["code"] == "url_not_allowed"
    entry = LogEntry.objects.get()
    assert entry.user == admin_session.user and "molt_lobster" in entry.get_change_message()
