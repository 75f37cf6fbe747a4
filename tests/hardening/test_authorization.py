"""The authorization matrix (OWASP API1 broken object level, API3 broken property level authorization).

Every route of both API surfaces is found by walking the URLconf, so a route added later is covered
without touching this file: unless it is listed as public below, each of its methods must answer
401 without a key. Each authenticated route and method is then tried with no key, a malformed
header, a rotated key, a key revoked by a moderator and a banned agent's key: each answers the
contract's code and changes nothing in any table (DRF authenticates before it looks at the method, so
methods a route does not serve are tried too). Then one agent goes after another's resources.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import services as account_services
from accounts.models import Agent
from chat import services as chat_services
from chat.models import DirectMessage, Membership, Message
from tests.hardening.conftest import row_counts, send
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes (as the URLconf spells them) and methods anyone may call without a key (contract §3-§5).
PUBLIC = {
    ("health", "GET"),
    ("api/health", "GET"),
    ("ai/health", "GET"),
    ("api/register", "POST"),
    ("api/messages", "GET"),
    ("api/agents", "GET"),
    ("api/agents/<str:id_or_name>", "GET"),
    ("api/groups", "GET"),
    ("api/stream", "GET"),
    ("api/stream/status", "GET"),
    ("api/search", "GET"),
    ("api/schema/", "GET"),
    ("api/docs/", "GET"),
    # Redirects to the two above (chatr.slash).
    ("api/schema", "GET"),
    ("api/docs", "GET"),
    ("api/rules", "GET"),
    ("api/rooms/<str:room_id>/", "GET"),
}

_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def api_routes() -> list[str]:
    """Every route of the /api and /ai surfaces (and /health), from the URLconf itself, but the streams.

    A stream authenticates in a worker thread, which cannot see the test's uncommitted database:
    ``test_every_authenticated_stream_answers_the_same_over_a_real_server`` tries those.
    """

    def walk(patterns, prefix: str = ""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    streams = {path.lstrip("/") for path in settings.CHATR_STREAM_PATHS}  # over real sockets, below
    routes = {route for route in walk(get_resolver().url_patterns) if route.startswith(("api/", "ai/", "health"))}
    return sorted(routes - streams)


def concrete(route: str, values: dict[str, str]) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, f"no sample value for <{name}> in {route}: add one to the `values` fixture"
        return values[name]

    return "/" + _PARAM.sub(fill, route)


@pytest.fixture
def values(victim, victim_group) -> dict[str, str]:
    """What to put in each path parameter: the victim's resources."""
    victim_message = chat_services.post_room_message(agent=victim.agent, room=victim_group, content="mine")
    return {
        "id_or_name": str(victim.agent.pk),
        "group_id": victim_group.pk,
        "room_id": victim_group.pk,
        "message_id": str(victim_message.pk),
    }


@pytest.fixture(autouse=True)
def _no_request_limit(settings):
    # This test makes a few hundred requests from one address: the per-IP limit is not its subject.
    settings.CHATR_RATES = {**settings.CHATR_RATES, "requests_per_ip": "100000/m"}
    settings.CHATR_STREAM_STATUS = True  # served, so that its methods are tried too


def call(client, method: str, path: str, **extra):
    body = json.dumps({"content": "hi", "name": "x"}) if method != "GET" else None
    return send(client, method, path, body, **extra)


@pytest.fixture
def authenticated(quiet_client, values) -> list[tuple[str, str, str]]:
    """(route, method, path) of every non-public route and method that is served: those answering 401 without a key."""
    found = []
    for route in api_routes():
        path = concrete(route, values)
        for method in METHODS:
            if (route, method) in PUBLIC:
                continue
            response = call(quiet_client, method, path)
            assert response.status_code in {401, 405}, (
                f"{method} /{route} answers {response.status_code} without a key: require one, or list it in PUBLIC"
            )
            if response.status_code == 401:
                found.append((route, method, path))
    return found


def test_the_walk_finds_every_route_of_both_surfaces(authenticated):
    routes = {route for route, _, _ in authenticated}
    assert {"api/me", "api/keys/rotate", "api/heartbeat", "api/disconnect", "api/messages"} <= routes
    assert {"ai/me", "ai/friends", "ai/messages", "ai/groups", "ai/webhook", "api/verify/start"} <= routes
    assert {"ai/groups/<str:group_id>/join", "ai/groups/<str:group_id>/messages"} <= routes
    assert len(authenticated) >= 20


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:200]
    body = response.json()
    assert body == {"success": False, "error": body["error"], "code": code}
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"HTTP_AUTHORIZATION": ""},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic Y2hhdHI6Y2hhdHI="},
        {"HTTP_AUTHORIZATION": "Bearer chatr_" + "A" * 43},
        {"HTTP_AUTHORIZATION": "Bearer " + "x" * 4000},
        {"HTTP_X_API_KEY": "chatr_not-a-key"},
    ],
)
def test_every_authenticated_route_answers_401_to_a_missing_or_unknown_key_and_changes_nothing(
    quiet_client, authenticated, header
):
    before = row_counts()
    for _route, method, path in authenticated:
        assert_error(call(quiet_client, method, path, **header), 401, "unauthorized")
    assert row_counts() == before


def test_every_authenticated_route_answers_401_to_a_rotated_key_and_changes_nothing(
    quiet_client, authenticated, make_agent
):
    rotated = make_agent("rotated")
    account_services.rotate_api_key(agent=rotated.agent)
    row = Agent.objects.values().get(pk=rotated.agent.pk)
    before = row_counts()
    for _route, method, path in authenticated:
        assert_error(call(quiet_client, method, path, key=rotated.key), 401, "unauthorized")
    assert row_counts() == before
    assert Agent.objects.values().get(pk=rotated.agent.pk) == row  # not even marked as seen


def test_every_authenticated_route_answers_401_to_a_key_revoked_by_a_moderator(
    quiet_client, authenticated, make_agent, moderator
):
    revoked = make_agent("revoked")
    account_services.revoke_api_key(agent=revoked.agent, moderator=moderator)
    row = Agent.objects.values().get(pk=revoked.agent.pk)
    before = row_counts()
    for _route, method, path in authenticated:
        assert_error(call(quiet_client, method, path, key=revoked.key), 401, "unauthorized")
    assert row_counts() == before
    assert Agent.objects.values().get(pk=revoked.agent.pk) == row


def test_every_authenticated_route_answers_403_to_a_banned_agent_and_changes_nothing(
    quiet_client, authenticated, make_agent, moderator
):
    banned = make_agent("banned")
    account_services.ban_agent(agent=banned.agent, moderator=moderator)
    row = Agent.objects.values().get(pk=banned.agent.pk)
    before = row_counts()
    for _route, method, path in authenticated:
        assert_error(call(quiet_client, method, path, key=banned.key), 403, "agent_banned")
    assert row_counts() == before
    assert Agent.objects.values().get(pk=banned.agent.pk) == row


@pytest.fixture
def moderator(db):
    return account_services.create_moderator(username="matrix-mod", password=uuid.uuid4().hex)


class TestAnotherAgentsResources:
    """alice (the attacker) against the victim's group, inbox, webhook and profile."""

    def test_posting_in_a_group_one_has_not_joined_is_403_and_stores_nothing(self, quiet_client, agent, victim_group):
        before = row_counts()
        path = f"/ai/groups/{victim_group.pk}/messages"
        response = send(quiet_client, "POST", path, json.dumps({"content": "let me in"}), key=agent.key)
        assert_error(response, 403, "not_a_member")
        assert row_counts() == before

    def test_leaving_a_group_one_is_not_in_removes_nobody(self, quiet_client, agent, victim, victim_group):
        response = send(quiet_client, "POST", f"/ai/groups/{victim_group.pk}/leave", "{}", key=agent.key)
        assert response.status_code == 200
        assert Membership.objects.filter(room=victim_group, agent=victim.agent).exists()
        assert Membership.objects.filter(room=victim_group).count() == 1

    @pytest.mark.parametrize(
        "query",
        ["", "?toAiId={victim}", "?to_ai_id={victim}", "?agent={victim}", "?recipient={victim}", "?aiId={victim}"],
    )
    def test_the_inbox_shows_only_ones_own_messages_whatever_the_query_names(
        self, quiet_client, agent, victim, make_agent, query
    ):
        sender = make_agent("sender")
        chat_services.send_direct_message(sender=sender.agent, recipient_id=victim.agent.pk, content="for victim only")
        path = "/ai/messages" + query.replace("{victim}", str(victim.agent.pk))
        response = quiet_client.get(path, HTTP_AUTHORIZATION=f"Bearer {agent.key}")
        assert response.status_code == 200
        assert response.json()["messages"] == []
        assert "for victim only" not in response.content.decode()

    def test_another_agents_webhook_can_be_neither_read_nor_deleted_nor_replaced(
        self, quiet_client, agent, victim, settings
    ):
        from webhooks import services as webhook_services

        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
        webhook_services.set_webhook(agent=victim.agent, url="http://127.0.0.1:9/victim")
        victims = Endpoint.objects.values().get(agent=victim.agent)
        read = quiet_client.get("/ai/webhook", HTTP_AUTHORIZATION=f"Bearer {agent.key}")
        assert read.json()["webhook_url"] is None
        deleted = send(
            quiet_client, "DELETE", "/ai/webhook", json.dumps({"agent": str(victim.agent.pk)}), key=agent.key
        )
        assert deleted.json()["deleted"] is False
        body = {
            "webhook_url": "http://127.0.0.1:9/mine",
            "agent": str(victim.agent.pk),
            "agent_id": str(victim.agent.pk),
        }
        replaced = send(quiet_client, "POST", "/ai/webhook", json.dumps(body), key=agent.key)
        assert replaced.status_code == 200
        assert Endpoint.objects.values().get(agent=victim.agent) == victims
        assert Endpoint.objects.get(agent=agent.agent).url == "http://127.0.0.1:9/mine"

    @pytest.mark.parametrize("path", ["/api/me", "/ai/me"])
    def test_a_profile_update_cannot_set_protected_fields_or_touch_another_agent(
        self, quiet_client, agent, victim, path
    ):
        victims = Agent.objects.values().get(pk=victim.agent.pk)
        body = {
            "avatar": "🦀",
            "id": str(victim.agent.pk),
            "agentId": str(victim.agent.pk),
            "name": "victim",
            "moltbookVerified": True,
            "moltbook_verified": True,
            "moltbookName": "stolen",
            "ownerTwitter": "stolen",
            "is_banned": True,
            "key_hash": "0" * 64,
            "apiKey": victim.key,
            "createdAt": "2000-01-01T00:00:00.000Z",
        }
        response = send(quiet_client, "PATCH", path, json.dumps(body), key=agent.key)
        assert response.status_code == 200
        alice = agent.refresh()
        assert (alice.avatar, alice.name, alice.moltbook_verified, alice.moltbook_name, alice.is_banned) == (
            "🦀",
            "alice",
            False,
            None,
            False,
        )
        assert send(quiet_client, "GET", "/api/me", key=agent.key).status_code == 200  # the key still works
        assert Agent.objects.values().get(pk=victim.agent.pk) == victims

    def test_registration_cannot_set_protected_fields(self, quiet_client):
        chosen = str(uuid.uuid4())
        body = {"name": "upstart", "id": chosen, "moltbookVerified": True, "is_banned": False, "apiKey": "chatr_mine"}
        response = send(quiet_client, "POST", "/api/register", json.dumps(body))
        assert response.status_code == 201
        registered = response.json()["agent"]
        assert registered["id"] != chosen and registered["apiKey"] != "chatr_mine"
        assert Agent.objects.get(name="upstart").moltbook_verified is False

    def test_a_message_cannot_claim_another_sender_or_room(self, quiet_client, verified_agent, victim, victim_group):
        body = {
            "content": "who am I",
            "agentId": str(victim.agent.pk),
            "agent": str(victim.agent.pk),
            "from_ai_id": str(victim.agent.pk),
            "room": victim_group.pk,
            "signatureVerified": True,
        }
        response = send(quiet_client, "POST", "/api/messages", json.dumps(body), key=verified_agent.key)
        assert response.status_code == 201
        message = Message.objects.get()
        assert (message.agent_id, message.room_id, message.signature_verified) == (
            verified_agent.agent.pk,
            "lobby",
            False,
        )
        dm = {"toAiId": str(victim.agent.pk), "content": "hi", "from_ai_id": str(victim.agent.pk)}
        assert send(quiet_client, "POST", "/ai/messages", json.dumps(dm), key=verified_agent.key).status_code == 201
        assert DirectMessage.objects.get().sender_id == verified_agent.agent.pk

    def test_the_public_view_of_an_agent_holds_no_secret(self, quiet_client, victim, settings):
        from webhooks import services as webhook_services

        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
        webhook_services.set_webhook(agent=victim.agent, url="http://127.0.0.1:9/victim")
        for path in (f"/api/agents/{victim.agent.pk}", "/api/agents/victim", "/api/agents"):
            text = quiet_client.get(path).content.decode()
            assert victim.agent.key_hash not in text
            assert victim.key not in text
            assert "127.0.0.1:9" not in text


@pytest.mark.e2e
def test_every_authenticated_stream_answers_the_same_over_a_real_server(tmp_path):
    import requests

    from tests.browser import run_in_server
    from tests.e2e.clients import register
    from tests.e2e.conftest import E2E_ENV
    from tests.server import sqlite_server

    server = sqlite_server(tmp_path, server="uvicorn", **E2E_ENV)
    try:
        rotated, banned = register(server.url, "rotated"), register(server.url, "banned")
        assert requests.post(f"{server.url}/api/keys/rotate", headers=bearer(rotated["apiKey"]), timeout=10).ok
        run_in_server(
            server,
            "from accounts import services; from accounts.models import Agent; "
            "mod = services.create_moderator(username='mod', password='x-' * 8); "
            f"services.ban_agent(agent=Agent.objects.get(name='{banned['name']}'), moderator=mod)",
        )
        streams = [path for path in settings.CHATR_STREAM_PATHS if ("/".join(path.split("/")[1:]), "GET") not in PUBLIC]
        assert "/api/inbox/stream" in streams
        for path in streams:
            for method in ("GET", "POST"):
                for key, status, code in (
                    (None, 401, "unauthorized"),
                    ("chatr_" + "A" * 43, 401, "unauthorized"),
                    (rotated["apiKey"], 401, "unauthorized"),
                    (banned["apiKey"], 403, "agent_banned"),
                ):
                    response = requests.request(
                        method, server.url + path, headers=bearer(key) if key else {}, timeout=10, stream=True
                    )
                    assert (response.status_code, response.json()["code"]) == (status, code), (method, path, key)
    finally:
        server.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
