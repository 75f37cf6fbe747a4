"""Lobby messages on the chatr surface (contract §2, §3, §8), in-process."""

import json

import pytest
import time_machine
from django.db import connection

from chat.models import IdempotencyKey, Message

pytestmark = pytest.mark.django_db


def post(api, who, content, **headers):
    return api.post("/api/messages", {"content": content}, format="json", **who.auth, **headers)


class TestPosting:
    def test_answers_201_with_the_room_message(self, api, verified_agent):
        response = post(api, verified_agent, "  Hello from a lobster!  ")
        assert response.status_code == 201
        body = response.json()
        assert body["success"] is True
        message = body["message"]
        assert set(message) == {
            "id", "room", "agentId", "agentName", "avatar", "content", "timestamp", "moltbookVerified",
            "moltbookName", "ownerTwitter", "signature", "signatureVerified", "mentions", "replyTo",
        }  # fmt: skip
        assert message["content"] == "Hello from a lobster!"
        assert message["room"] == "lobby"
        assert message["id"] == str(Message.objects.get().id)
        assert message["agentId"] == str(verified_agent.agent.id)
        assert message["moltbookVerified"] is True and message["moltbookName"] == "molt_lobster"
        assert message["ownerTwitter"] == "lobster_owner"
        assert message["timestamp"].endswith("Z") and len(message["timestamp"]) == 24
        assert message["signature"] is None and message["signatureVerified"] is False

    def test_content_is_1_to_250_code_points_after_stripping(self, api, verified_agent):
        assert post(api, verified_agent, "🦞" * 250).status_code == 201
        too_long = post(api, verified_agent, "x" * 251)
        assert too_long.status_code == 400
        assert too_long.json()["code"] == "validation_error"
        assert "content" in too_long.json()["details"]
        blank = post(api, verified_agent, " \n\t ")
        assert blank.status_code == 400 and "content" in blank.json()["details"]
        assert Message.objects.count() == 1

    @pytest.mark.parametrize("content", [None, 42, ["hi"], {"text": "hi"}, True])
    def test_content_must_be_a_string(self, api, verified_agent, content):
        response = api.post("/api/messages", {"content": content}, format="json", **verified_agent.auth)
        assert response.status_code == 400
        assert not Message.objects.exists()

    def test_posting_needs_a_key(self, api):
        response = api.post("/api/messages", {"content": "hi"}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    def test_unverified_agents_may_not_post_links(self, api, agent):
        response = post(api, agent, "look at example.com/cool")
        assert response.status_code == 403
        assert response.json()["code"] == "url_not_allowed"
        assert not Message.objects.exists()
        assert post(api, agent, "my file is main.py").status_code == 201

    def test_verified_agents_may_post_links(self, api, verified_agent):
        assert post(api, verified_agent, "see https://example.com").status_code == 201


class TestMessageLimits:
    def test_unverified_agents_post_once_per_5_minutes(self, api, agent, make_agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            first = post(api, agent, "one")
            assert first.status_code == 201
            assert first["X-RateLimit-Limit"] == "1" and first["X-RateLimit-Remaining"] == "0"
            second = post(api, agent, "two")
            assert second.status_code == 429
            assert second.json()["code"] == "rate_limited"
            assert 1 <= second.json()["retry_after"] <= 300
            assert second["Retry-After"] == str(second.json()["retry_after"])
            assert post(api, make_agent("bystander"), "others are not limited").status_code == 201
            clock.shift(second.json()["retry_after"])
            assert post(api, agent, "three").status_code == 201
        assert list(Message.objects.filter(agent=agent.agent).values_list("content", flat=True)) == ["one", "three"]

    def test_verified_agents_post_10_a_minute(self, api, verified_agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for index in range(10):
                response = post(api, verified_agent, f"m{index}")
                assert response.status_code == 201
                assert response["X-RateLimit-Remaining"] == str(9 - index)
            eleventh = post(api, verified_agent, "m10")
            assert eleventh.status_code == 429
            clock.shift(eleventh.json()["retry_after"])
            assert post(api, verified_agent, "m10").status_code == 201
        assert Message.objects.count() == 11

    def test_a_refused_post_does_not_use_up_the_limit(self, api, agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
            assert post(api, agent, "https://nope.example").status_code == 403
            assert post(api, agent, "x" * 300).status_code == 400
            assert post(api, agent, "fine").status_code == 201

    def test_120_requests_a_minute_per_ip(self, api):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for _ in range(120):
                assert api.get("/api/messages", REMOTE_ADDR="203.0.113.50").status_code == 200
            response = api.get("/api/messages", REMOTE_ADDR="203.0.113.50")
            assert response.status_code == 429
            assert response.json()["code"] == "rate_limited" and response.json()["success"] is False
            assert api.get("/api/messages", REMOTE_ADDR="203.0.113.51").status_code == 200
            clock.shift(61)
            assert api.get("/api/messages", REMOTE_ADDR="203.0.113.50").status_code == 200


class TestIdempotency:
    def test_a_retry_with_the_same_key_replays_the_first_answer(self, api, agent):
        first = post(api, agent, "only once", HTTP_IDEMPOTENCY_KEY="retry-1")
        again = post(api, agent, "only once", HTTP_IDEMPOTENCY_KEY="retry-1")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert Message.objects.count() == 1

    def test_a_replay_is_not_counted_by_the_message_limit(self, api, agent):
        # Unverified: one message per 5 minutes, yet the retries all succeed.
        for _ in range(3):
            assert post(api, agent, "steady", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
        assert post(api, agent, "new", HTTP_IDEMPOTENCY_KEY="k2").status_code == 429

    def test_the_same_key_with_another_body_is_409(self, api, agent):
        assert post(api, agent, "first", HTTP_IDEMPOTENCY_KEY="dup").status_code == 201
        response = post(api, agent, "second", HTTP_IDEMPOTENCY_KEY="dup")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_reused"
        assert Message.objects.count() == 1

    def test_keys_belong_to_one_agent(self, api, agent, verified_agent):
        assert post(api, agent, "mine", HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
        assert post(api, verified_agent, "mine", HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
        assert Message.objects.count() == 2

    def test_a_failed_post_does_not_burn_the_key(self, api, agent):
        assert post(api, agent, "x" * 251, HTTP_IDEMPOTENCY_KEY="later").status_code == 400
        assert not IdempotencyKey.objects.exists()
        assert post(api, agent, "x" * 251, HTTP_IDEMPOTENCY_KEY="later").status_code == 400

    def test_keys_expire_after_24_hours(self, api, verified_agent):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            first = post(api, verified_agent, "daily", HTTP_IDEMPOTENCY_KEY="day")
            clock.shift(24 * 3600 + 1)
            second = post(api, verified_agent, "daily", HTTP_IDEMPOTENCY_KEY="day")
        assert second.status_code == 201 and "Idempotent-Replayed" not in second
        assert second.json()["message"]["id"] != first.json()["message"]["id"]

    @pytest.mark.parametrize("key", ["", "x" * 65, "spa ce", "ünï"])
    def test_malformed_keys_are_400(self, api, agent, key):
        response = post(api, agent, "hi", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_idempotency_key"
        assert not Message.objects.exists()


class TestHistory:
    @pytest.fixture
    def thousand(self, make_agent):
        author = make_agent("historian", verified=True)
        Message.objects.bulk_create(
            Message(room_id="lobby", agent=author.agent, content=f"m{index}") for index in range(1000)
        )
        return [str(pk) for pk in Message.objects.order_by("id").values_list("id", flat=True)]

    def test_pages_backwards_and_forwards_through_1000_messages_without_gaps_or_duplicates(self, api, thousand):
        seen_backwards: list[str] = []
        page = api.get("/api/messages", {"limit": 100}).json()["messages"]
        while page:
            ids = [message["id"] for message in page]
            assert ids == sorted(ids, key=int)
            seen_backwards = ids + seen_backwards
            page = api.get("/api/messages", {"limit": 100, "before": ids[0]}).json()["messages"]
        assert seen_backwards == thousand

        seen_forwards: list[str] = []
        cursor = 0
        while True:
            page = api.get("/api/messages", {"limit": 37, "after": cursor}).json()["messages"]
            if not page:
                break
            seen_forwards += [message["id"] for message in page]
            cursor = page[-1]["id"]
        assert seen_forwards == thousand

    def test_defaults_to_the_latest_50_oldest_first(self, api, thousand):
        ids = [message["id"] for message in api.get("/api/messages").json()["messages"]]
        assert ids == thousand[-50:]

    def test_hidden_messages_are_not_listed(self, api, thousand):
        Message.objects.filter(pk=int(thousand[-1])).update(hidden=True)
        ids = [message["id"] for message in api.get("/api/messages", {"limit": 3}).json()["messages"]]
        assert ids == thousand[-4:-1]

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before": -1}, {"after": "y"}])
    def test_bad_parameters_are_400(self, api, query):
        response = api.get("/api/messages", query)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"

    def test_history_is_one_query(self, api, thousand, django_assert_num_queries):
        with django_assert_num_queries(1):
            api.get("/api/messages", {"limit": 100})


class TestErrorShape:
    def test_a_body_that_is_not_json_is_400(self, api, agent):
        response = api.generic("POST", "/api/messages", "{nope", content_type="application/json", **agent.auth)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_json"

    def test_a_body_that_is_not_an_object_is_400(self, api, agent):
        response = api.generic("POST", "/api/messages", "[1, 2]", content_type="application/json", **agent.auth)
        assert response.status_code == 400
        assert response.json()["success"] is False

    def test_a_form_body_is_415(self, api, agent):
        response = api.post(
            "/api/messages", "content=hi", content_type="application/x-www-form-urlencoded", **agent.auth
        )
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"

    def test_a_body_over_16_kib_is_413(self, api, agent):
        body = json.dumps({"content": "x" * (16 * 1024)})
        response = api.generic("POST", "/api/messages", body, content_type="application/json", **agent.auth)
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert not Message.objects.exists()

    def test_an_unknown_path_is_404_in_the_error_shape(self, api):
        response = api.get("/api/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"success": False, "error": "Not found.", "code": "not_found"}

    def test_a_wrong_method_is_405(self, api):
        response = api.delete("/api/messages")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"

    def test_invalid_utf8_is_400(self, api, agent):
        response = api.generic(
            "POST", "/api/messages", b'{"content": "\xff\xfe"}', content_type="application/json", **agent.auth
        )
        assert response.status_code == 400

    def test_nul_bytes_are_refused(self, api, verified_agent):
        response = post(api, verified_agent, "nul\x00byte")
        assert response.status_code == 400
        assert not Message.objects.exists()


class TestHealth:
    @pytest.mark.parametrize("path", ["/health", "/api/health"])
    def test_ok_while_the_database_answers(self, api, path):
        response = api.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_503_when_the_database_does_not(self, api, monkeypatch):
        def broken(*args, **kwargs):
            from django.db import OperationalError

            raise OperationalError("gone")

        monkeypatch.setattr(connection, "cursor", broken)
        response = api.get("/health")
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"

    def test_other_methods_are_405_in_the_error_shape(self, api):
        response = api.post("/health")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"
