"""The agent endpoints of the chatr surface (contract §3), in-process."""

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import override_settings

from accounts.keys import hash_api_key
from accounts.models import Agent

pytestmark = pytest.mark.django_db


def register(api, name, ip="198.51.100.7", forwarded_for=None, **fields):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return api.post("/api/register", {"name": name, **fields}, format="json", REMOTE_ADDR=ip, **headers)


def pem(curve) -> str:
    key = ec.generate_private_key(curve).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class TestRegister:
    def test_answers_201_with_the_contract_body_and_a_chatr_key(self, api):
        response = register(api, "Claw_Bot-1", avatar="🦀")
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"success", "agent", "message"}
        assert body["success"] is True
        assert set(body["agent"]) == {"id", "name", "avatar", "apiKey"}
        assert body["agent"]["name"] == "Claw_Bot-1"
        assert body["agent"]["avatar"] == "🦀"
        assert body["agent"]["apiKey"].startswith("chatr_")
        assert len(body["agent"]["apiKey"]) >= len("chatr_") + 22  # >= 128 bits in urlsafe base64

    def test_avatar_defaults_to_a_robot(self, api):
        assert register(api, "plain").json()["agent"]["avatar"] == "🤖"

    @pytest.mark.parametrize(
        "name", ["a", "x" * 33, "has space", "semi;colon", "Bоt", "émile", "bot\n", "", "名前"], ids=repr
    )
    def test_refuses_names_outside_2_to_32_ascii_letters_digits_underscore_hyphen(self, api, name):
        response = register(api, name)
        assert response.status_code == 400
        body = response.json()
        assert body["success"] is False and body["code"] == "validation_error"
        assert "name" in body["details"]
        assert not Agent.objects.exists()

    @pytest.mark.parametrize("name", ["ab", "x" * 32, "A-b_9"])
    def test_accepts_names_at_the_bounds(self, api, name):
        assert register(api, name).status_code == 201

    def test_names_are_unique_case_insensitively(self, api):
        assert register(api, "Lobster").status_code == 201
        response = register(api, "lOBSTER")
        assert response.status_code == 409
        assert response.json()["code"] == "name_taken"
        assert Agent.objects.count() == 1

    def test_avatar_is_at_most_64_code_points(self, api):
        assert register(api, "emoji64", avatar="🦞" * 64).status_code == 201
        response = register(api, "emoji65", avatar="🦞" * 65)
        assert response.status_code == 400
        assert "avatar" in response.json()["details"]

    def test_a_number_is_not_a_name(self, api):
        response = register(api, 12345)
        assert response.status_code == 400

    def test_the_database_holds_only_the_hash_of_the_key(self, api):
        key = register(api, "secretive").json()["agent"]["apiKey"]
        agent = Agent.objects.get(name="secretive")
        assert agent.key_hash == hash_api_key(key)
        for field in Agent._meta.concrete_fields:
            assert key not in str(getattr(agent, field.attname))

    def test_the_sixth_registration_from_one_ip_in_an_hour_is_refused(self, api):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for index in range(5):
                assert register(api, f"burst{index}").status_code == 201
            response = register(api, "burst5")
            assert response.status_code == 429
            body = response.json()
            assert body["code"] == "rate_limited" and body["retry_after"] >= 1
            assert response["Retry-After"] == str(body["retry_after"])
            assert response["X-RateLimit-Limit"] == "5" and response["X-RateLimit-Remaining"] == "0"
            assert int(response["X-RateLimit-Reset"]) > 1772359200
            assert register(api, "elsewhere", ip="198.51.100.8").status_code == 201
            clock.shift(3601)
            assert register(api, "burst5").status_code == 201

    def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(self, api):
        for index in range(5):
            assert register(api, f"spoof{index}", forwarded_for=f"203.0.113.{index}").status_code == 201
        response = register(api, "spoof5", forwarded_for="203.0.113.99")
        assert response.status_code == 429

    @override_settings(CHATR_TRUSTED_PROXIES=["10.0.0.0/8"])
    def test_forwarded_for_counts_behind_a_trusted_proxy(self, api):
        for index in range(5):
            response = register(api, f"proxied{index}", ip="10.0.0.2", forwarded_for="6.6.6.6, 203.0.113.1")
            assert response.status_code == 201
        # The right-most untrusted hop is the client; a different client behind the proxy is not limited.
        assert register(api, "other", ip="10.0.0.2", forwarded_for="203.0.113.2").status_code == 201
        blocked = register(api, "proxied5", ip="10.0.0.2", forwarded_for="1.1.1.1, 203.0.113.1, 10.0.0.9")
        assert blocked.status_code == 429


class TestAuthentication:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"HTTP_AUTHORIZATION": "Bearer chatr_not-a-real-key"},
            {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
            {"HTTP_AUTHORIZATION": "Bearer"},
            {"HTTP_X_API_KEY": "chatr_unknown"},
        ],
        ids=["missing", "unknown", "wrong-scheme", "empty", "legacy-unknown"],
    )
    def test_missing_unknown_or_malformed_keys_get_the_same_401(self, api, agent, headers):
        response = api.get("/api/me", **headers)
        assert response.status_code == 401
        assert response.json() == {
            "success": False,
            "error": "Missing or invalid API key. Send it as 'Authorization: Bearer <apiKey>'.",
            "code": "unauthorized",
        }

    def test_the_legacy_x_api_key_header_works(self, api, agent):
        response = api.get("/api/me", HTTP_X_API_KEY=agent.key)
        assert response.status_code == 200
        assert response.json()["agent"]["name"] == "alice"

    def test_a_rotated_key_stops_working_at_once(self, api, agent):
        response = api.post("/api/keys/rotate", **agent.auth)
        assert response.status_code == 200
        new_key = response.json()["apiKey"]
        assert new_key.startswith("chatr_") and new_key != agent.key
        assert api.get("/api/me", **agent.auth).status_code == 401
        assert api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {new_key}").status_code == 200

    def test_a_banned_agent_gets_403(self, api, make_agent):
        banned = make_agent("villain", is_banned=True)
        response = api.post("/api/heartbeat", **banned.auth)
        assert response.status_code == 403
        assert response.json()["code"] == "agent_banned"


class TestMe:
    def test_shows_the_own_view_with_created_at(self, api, agent):
        body = api.get("/api/me", **agent.auth).json()
        assert body["success"] is True
        assert set(body["agent"]) == {
            "id", "name", "avatar", "online", "lastSeen", "moltbookVerified", "moltbookName",
            "ownerTwitter", "publicKey", "createdAt",
        }  # fmt: skip
        assert body["agent"]["createdAt"].endswith("Z") and len(body["agent"]["createdAt"]) == 24

    def test_patch_sets_avatar_and_a_p256_public_key(self, api, agent):
        key = pem(ec.SECP256R1())
        response = api.patch("/api/me", {"avatar": "🐙", "publicKey": key}, format="json", **agent.auth)
        assert response.status_code == 200
        assert response.json()["agent"]["avatar"] == "🐙"
        assert response.json()["agent"]["publicKey"] == key.strip()
        assert agent.refresh().public_key == key.strip()

    @pytest.mark.parametrize("bad", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"])
    def test_patch_refuses_malformed_pem(self, api, agent, bad):
        response = api.patch("/api/me", {"publicKey": bad}, format="json", **agent.auth)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_public_key"
        assert agent.refresh().public_key == ""

    def test_patch_refuses_keys_on_other_curves(self, api, agent):
        response = api.patch("/api/me", {"publicKey": pem(ec.SECP384R1())}, format="json", **agent.auth)
        assert response.status_code == 400


class TestPresence:
    def test_agents_lists_exactly_those_seen_in_the_last_30_minutes_and_not_disconnected(self, api, make_agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            early, late, leaver, silent = (make_agent(name) for name in ("early", "late", "leaver", "silent"))
            make_agent("banned", is_banned=True)
            for who in (early, leaver):
                assert api.post("/api/heartbeat", **who.auth).status_code == 200
            clock.shift(20 * 60)
            assert api.post("/api/heartbeat", **late.auth).status_code == 200
            assert api.post("/api/disconnect", **leaver.auth).status_code == 200
            body = api.get("/api/agents").json()
            assert [agent["name"] for agent in body["agents"]] == ["early", "late"]
            assert all(agent["online"] for agent in body["agents"])
            assert body["stats"] == {"totalAgents": 4, "onlineAgents": 2, "totalMessages": 0}

            clock.shift(11 * 60)  # early was seen 31 minutes ago
            body = api.get("/api/agents").json()
            assert [agent["name"] for agent in body["agents"]] == ["late"]
            assert body["stats"]["onlineAgents"] == 1
            assert silent.agent.name not in {agent["name"] for agent in body["agents"]}

    def test_any_authenticated_request_marks_the_agent_online(self, api, agent):
        assert api.get("/api/agents").json()["agents"] == []
        api.get("/api/me", **agent.auth)
        assert [a["name"] for a in api.get("/api/agents").json()["agents"]] == ["alice"]

    def test_agent_detail_by_id_or_name(self, api, agent):
        by_name = api.get("/api/agents/ALICE")
        assert by_name.status_code == 200
        by_id = api.get(f"/api/agents/{agent.agent.id}")
        assert by_id.json() == by_name.json()
        missing = api.get("/api/agents/nobody")
        assert missing.status_code == 404
        assert missing.json()["success"] is False
