"""POST /api/verify/start and /api/verify/complete in-process, against the fake Moltbook over real HTTP."""

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Agent
from tests.fake_moltbook import FakeMoltbook
from verification.models import Challenge
from verification.services import CODE_ALPHABET

CODE_RE = re.compile(f"[{CODE_ALPHABET}]{{8}}")


def start(api, who, name="molty"):
    return api.post("/api/verify/start", {"moltbookName": name}, format="json", **who.auth)


def complete(api, who, name="molty"):
    return api.post("/api/verify/complete", {"moltbookName": name}, format="json", **who.auth)


def assert_unverified(who):
    agent = who.refresh()
    assert (agent.moltbook_verified, agent.moltbook_name, agent.owner_twitter) == (False, None, None)


# --- start ---------------------------------------------------------------------------------------


def test_start_issues_an_8_character_code_and_the_text_to_post(api, agent):
    response = start(api, agent, "Molty")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert CODE_RE.fullmatch(body["code"])
    assert body["moltbookName"] == "Molty"
    assert f"[{body['code']}]" in body["message"]
    assert "http://testserver/skill.md" in body["message"]
    assert len(body["instructions"]) == 3
    assert "/api/verify/complete" in body["instructions"][2]


def test_the_message_uses_chatr_public_url_when_set(api, agent, settings):
    settings.CHATR_PUBLIC_URL = "https://chat.example.org"
    body = start(api, agent).json()
    assert body["message"].endswith(f"[{body['code']}] https://chat.example.org/skill.md")
    assert "chat.example.org" in body["message"].split("[")[0]


def test_codes_are_drawn_from_the_alphabet_at_random(api, make_agent):
    codes = {start(api, make_agent(), "molty").json()["code"] for _ in range(20)}
    assert len(codes) == 20
    assert all(CODE_RE.fullmatch(code) for code in codes)


def test_start_again_reuses_the_code_for_the_same_name_in_any_spelling(api, agent):
    first = start(api, agent, "molty").json()["code"]
    assert start(api, agent, "MOLTY").json()["code"] == first
    assert start(api, agent, "other_molty").json()["code"] != first
    assert Challenge.objects.filter(agent=agent.agent).count() == 2


def test_a_code_older_than_24_hours_is_replaced(api, agent):
    first = start(api, agent).json()["code"]
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        second = start(api, agent).json()["code"]
        assert second != first
        assert start(api, agent).json()["code"] == second
    assert Challenge.objects.filter(agent=agent.agent).count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"moltbookName": "m"},
        {"moltbookName": "m" * 65},
        {"moltbookName": "bad name"},
        {"moltbookName": "bad.name"},
        {"moltbookName": "émile"},
        {"moltbookName": " molty"},
        {"moltbookName": ""},
        {"moltbookName": 12345},
        {"moltbookName": None},
        {"moltbookName": ["molty"]},
        {},
    ],
)
@pytest.mark.parametrize("path", ["/api/verify/start", "/api/verify/complete"])
def test_a_bad_moltbook_name_is_400_and_changes_nothing(api, agent, fake, path, payload):
    response = api.post(path, payload, format="json", **agent.auth)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "validation_error"
    assert "moltbookName" in body["details"]
    assert not Challenge.objects.exists()
    assert fake.api_requests() == []


def test_names_of_2_and_64_characters_are_accepted(api, agent):
    assert start(api, agent, "ab").status_code == 200
    assert start(api, agent, "A-_9" * 16).status_code == 200


@pytest.mark.parametrize("path", ["/api/verify/start", "/api/verify/complete"])
def test_verification_needs_an_api_key(api, db, path):
    response = api.post(path, {"moltbookName": "molty"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    wrong = api.post(path, {"moltbookName": "molty"}, format="json", HTTP_AUTHORIZATION="Bearer chatr_nope")
    assert wrong.status_code == 401


def test_a_body_that_is_not_json_is_400(api, agent):
    response = api.post("/api/verify/start", "{nope", content_type="application/json", **agent.auth)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


# --- complete ------------------------------------------------------------------------------------


def test_a_post_with_the_code_verifies_with_moltbooks_spelling_and_the_owner(api, agent, fake):
    fake.add_agent("Molty_Prime", claimed=True, x_handle="prime_owner")
    code = start(api, agent, "molty_prime").json()["code"]
    fake.add_post("Molty_Prime", content=f"Verifying my 🦞 account [{code}] http://testserver/skill.md")

    response = complete(api, agent, "molty_prime")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "verified": True,
        "moltbookName": "Molty_Prime",
        "ownerTwitter": "prime_owner",
        "message": "🦞 Verified as Molty_Prime on Moltbook!",
    }
    stored = agent.refresh()
    assert (stored.moltbook_verified, stored.moltbook_name, stored.owner_twitter) == (
        True,
        "Molty_Prime",
        "prime_owner",
    )
    assert Challenge.objects.get(agent=stored).used_at is not None
    me = api.get("/api/me", **agent.auth).json()["agent"]
    assert (me["moltbookVerified"], me["moltbookName"], me["ownerTwitter"]) == (True, "Molty_Prime", "prime_owner")


def test_the_code_in_a_post_title_counts(api, agent, fake):
    fake.add_agent("molty", x_handle="own")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", title=f"Joining chatr [{code}]", content="hello")
    assert complete(api, agent).status_code == 200


def test_a_claimed_account_without_an_owner_handle_verifies_with_a_null_owner(api, agent, fake):
    fake.add_agent("molty", claimed=True, x_handle=None)
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"[{code}]")
    body = complete(api, agent).json()
    assert body["ownerTwitter"] is None
    assert agent.refresh().owner_twitter is None


def test_after_success_a_new_start_issues_a_new_code(api, agent, fake):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"[{code}]")
    assert complete(api, agent).status_code == 200
    assert start(api, agent).json()["code"] != code


def test_already_verified_answers_200_without_asking_moltbook(api, agent, fake):
    fake.add_agent("Molty", x_handle="own")
    code = start(api, agent, "molty").json()["code"]
    fake.add_post("Molty", content=f"[{code}]")
    assert complete(api, agent, "molty").status_code == 200
    asked = len(fake.api_requests())

    again = complete(api, agent, "MOLTY")

    assert again.status_code == 200
    assert again.json() == {
        "success": True,
        "verified": True,
        "alreadyVerified": True,
        "moltbookName": "Molty",
        "ownerTwitter": "own",
        "message": "🦞 Verified as Molty on Moltbook!",
    }
    assert len(fake.api_requests()) == asked


def test_complete_before_start_is_400_and_asks_nobody(api, agent, fake):
    fake.add_agent("molty")
    response = complete(api, agent)
    assert response.status_code == 400
    assert response.json()["code"] == "verification_not_started"
    assert fake.api_requests() == []


def test_an_expired_challenge_cannot_be_completed(api, agent, fake):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"[{code}]")
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        response = complete(api, agent)
    assert response.status_code == 400
    assert response.json()["code"] == "verification_not_started"
    assert_unverified(agent)


def test_an_unknown_moltbook_name_is_404(api, agent, fake):
    start(api, agent, "ghost")
    response = complete(api, agent, "ghost")
    assert response.status_code == 404
    assert response.json()["code"] == "moltbook_user_not_found"
    assert_unverified(agent)


def test_an_unclaimed_account_is_403_even_with_the_post(api, agent, fake):
    fake.add_agent("shy", claimed=False)
    code = start(api, agent, "shy").json()["code"]
    fake.add_post("shy", content=f"[{code}]")
    response = complete(api, agent, "shy")
    assert response.status_code == 403
    assert response.json()["code"] == "moltbook_not_claimed"
    assert_unverified(agent)


def test_the_code_only_in_a_comment_is_404_with_the_code_in_the_body(api, agent, fake):
    fake.add_agent("molty")
    fake.add_agent("other")
    code = start(api, agent).json()["code"]
    fake.add_post("other", content="a thread")
    fake.add_comment("molty", content=f"Verifying [{code}]")

    response = complete(api, agent)

    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "verification_post_not_found"
    assert body["verificationCode"] == code
    assert f"[{code}]" in body["error"]
    assert_unverified(agent)
    # Nothing changed: the same code is still open and still completes once it is posted.
    assert start(api, agent).json()["code"] == code
    fake.add_post("molty", content=f"[{code}]")
    assert complete(api, agent).status_code == 200


def test_the_code_in_another_accounts_post_is_404(api, agent, fake):
    fake.add_agent("molty")
    fake.add_agent("impostor")
    code = start(api, agent).json()["code"]
    fake.add_post("impostor", content=f"[{code}]")
    fake.profile_posts = "missing"  # the fallback feed shows the impostor's post: still not ours

    response = complete(api, agent)

    assert response.status_code == 404
    assert response.json()["code"] == "verification_post_not_found"
    assert len(fake.api_requests("/api/v1/posts")) == 1
    assert_unverified(agent)


def test_the_code_without_its_brackets_does_not_count(api, agent, fake):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"my code is {code}")
    assert complete(api, agent).status_code == 404


@pytest.mark.parametrize("mode", ["missing", "null", "empty"])
@pytest.mark.parametrize("style", ["snake", "camel"])
def test_when_the_profile_omits_the_post_the_newest_posts_feed_finds_it(api, agent, fake, mode, style):
    fake.add_agent("Molty", x_handle="own")
    fake.add_agent("chatty")
    code = start(api, agent, "molty").json()["code"]
    fake.add_post("Molty", content=f"[{code}]", author_style=style)
    fake.add_post("chatty", content="later noise")
    fake.add_post(None, content="a post whose author is gone")
    fake.profile_posts = mode

    response = complete(api, agent, "molty")

    assert response.status_code == 200, response.json()
    assert response.json()["moltbookName"] == "Molty"
    assert agent.refresh().moltbook_verified is True


def test_the_feed_is_not_asked_when_the_profile_lists_the_post(api, agent, fake):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"[{code}]")
    assert complete(api, agent).status_code == 200
    assert fake.api_requests("/api/v1/posts") == []


def test_a_post_with_a_null_author_in_the_feed_does_not_verify(api, agent, fake):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post(None, content=f"[{code}]")
    fake.profile_posts = "missing"
    assert complete(api, agent).status_code == 404


@pytest.mark.parametrize("status", [500, 502, 503])
def test_moltbook_failing_is_502_and_changes_nothing(api, agent, fake, status):
    fake.add_agent("molty")
    code = start(api, agent).json()["code"]
    fake.add_post("molty", content=f"[{code}]")
    fake.fail_status = status

    response = complete(api, agent)

    assert response.status_code == 502
    assert response.json()["code"] == "moltbook_unavailable"
    assert_unverified(agent)
    assert Challenge.objects.get(agent=agent.agent).used_at is None
    fake.fail_status = None
    assert complete(api, agent).status_code == 200


def test_the_feed_failing_during_the_fallback_is_502(api, agent, fake):
    fake.add_agent("molty")
    start(api, agent)
    fake.profile_posts = "missing"
    fake.fail_status, fake.fail_path = 500, "/posts"
    response = complete(api, agent)
    assert response.status_code == 502
    assert response.json()["code"] == "moltbook_unavailable"


def test_garbled_json_from_moltbook_is_502(api, agent, fake):
    fake.add_agent("molty")
    start(api, agent)
    fake.garbled = True
    response = complete(api, agent)
    assert response.status_code == 502
    assert response.json()["code"] == "moltbook_unavailable"
    assert_unverified(agent)


def test_moltbook_refusing_connections_is_502(api, agent, settings):
    settings.MOLTBOOK_API_URL = FakeMoltbook.refused_url()
    start(api, agent)
    response = complete(api, agent)
    assert response.status_code == 502
    assert response.json()["code"] == "moltbook_unavailable"
    assert_unverified(agent)


def test_a_slow_moltbook_is_502_within_the_timeout(api, agent, fake, settings):
    settings.MOLTBOOK_TIMEOUT_SECONDS = 0.5
    fake.add_agent("molty")
    start(api, agent)
    fake.slow_seconds = 6
    started = time.monotonic()
    response = complete(api, agent)
    assert time.monotonic() - started < 1.5
    assert response.status_code == 502
    assert response.json()["code"] == "moltbook_unavailable"
    assert_unverified(agent)


def test_a_second_agent_verifying_the_same_name_takes_the_badge(api, make_agent, fake):
    first, second = make_agent("first"), make_agent("second")
    fake.add_agent("Molty", x_handle="own")
    first_code = start(api, first, "molty").json()["code"]
    fake.add_post("Molty", content=f"[{first_code}]")
    assert complete(api, first, "molty").status_code == 200

    second_code = start(api, second, "MOLTY").json()["code"]
    fake.add_post("Molty", content=f"[{second_code}]")
    response = complete(api, second, "MOLTY")

    assert response.status_code == 200
    assert "alreadyVerified" not in response.json()
    assert (second.refresh().moltbook_verified, second.agent.moltbook_name) == (True, "Molty")
    assert_unverified(first)
    assert Agent.objects.filter(moltbook_name__iexact="molty").count() == 1


def test_verifying_a_new_name_releases_the_old_one(api, agent, fake):
    fake.add_agent("old_molty")
    fake.add_agent("new_molty")
    for name in ("old_molty", "new_molty"):
        code = start(api, agent, name).json()["code"]
        fake.add_post(name, content=f"[{code}]")
        assert complete(api, agent, name).status_code == 200
    assert agent.refresh().moltbook_name == "new_molty"
    assert not Agent.objects.filter(moltbook_name="old_molty").exists()


def test_verification_attempts_are_limited_per_agent(api, agent, fake, settings):
    settings.CHATR_RATES = {**settings.CHATR_RATES, "verify_attempts_per_agent": "2/h"}
    fake.add_agent("molty")
    start(api, agent)
    assert [complete(api, agent).status_code for _ in range(2)] == [404, 404]
    limited = complete(api, agent)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert len(fake.api_requests("/api/v1/agents/profile")) == 2
