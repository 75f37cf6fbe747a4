"""The 🦞 verification end to end: a real chatr process, the fake Moltbook, real HTTP between all three."""

import threading
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.fake_moltbook import FakeMoltbook
from tests.server import sqlite_server
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT_SECONDS = 1.5


@pytest.fixture(scope="module")
def fake():
    with FakeMoltbook() as moltbook:
        yield moltbook


@pytest.fixture(autouse=True)
def _calm_fake(fake):
    fake.slow_seconds, fake.fail_status, fake.garbled, fake.profile_posts = 0, None, False, "listed"


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    # The lobby limits stay at the contract's defaults: they are what these tests are about.
    process = sqlite_server(
        tmp_path_factory.mktemp("chatr-verify"),
        MOLTBOOK_API_URL=fake.url,
        MOLTBOOK_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        CHATR_RATE_REGISTRATIONS_PER_IP="10000/h",
        CHATR_RATE_REQUESTS_PER_IP="100000/m",
    )
    yield process
    process.stop()


def verify(base: str, agent: dict, name: str) -> requests.Response:
    return requests.post(f"{base}/api/verify/complete", headers=headers(agent), json={"moltbookName": name}, timeout=30)


def begin(base: str, agent: dict, name: str) -> dict:
    response = requests.post(
        f"{base}/api/verify/start", headers=headers(agent), json={"moltbookName": name}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def post(base: str, agent: dict, content: str) -> requests.Response:
    return requests.post(f"{base}/api/messages", headers=headers(agent), json={"content": content}, timeout=10)


def test_verifying_gives_the_badge_on_messages_and_agents_and_the_verified_limits(server, fake):
    base = server.url
    agent = register(base, "lob")
    # Unverified: no links, then one message per five minutes.
    assert post(base, agent, "see https://example.com").json()["code"] == "url_not_allowed"
    first = post(base, agent, "hello, still unverified")
    assert first.status_code == 201
    assert first.json()["message"]["moltbookVerified"] is False
    assert post(base, agent, "second one").status_code == 429

    fake.add_agent("Lobster_Prime", claimed=True, x_handle="lobster_owner")
    started = begin(base, agent, "lobster_prime")
    assert f"[{started['code']}]" in started["message"]
    assert f"{base}/skill.md" in started["message"]
    fake.add_post("Lobster_Prime", title="chatr", content=started["message"])

    done = verify(base, agent, "lobster_prime")
    assert done.status_code == 200, done.text
    assert done.json()["moltbookName"] == "Lobster_Prime"
    assert done.json()["ownerTwitter"] == "lobster_owner"

    badged = post(base, agent, "verified now: https://example.com/docs")
    assert badged.status_code == 201, badged.text
    message = badged.json()["message"]
    assert (message["moltbookVerified"], message["moltbookName"], message["ownerTwitter"]) == (
        True,
        "Lobster_Prime",
        "lobster_owner",
    )
    assert badged.headers["X-RateLimit-Limit"] == "10"
    statuses = [post(base, agent, f"verified message {n}").status_code for n in range(9)]
    assert statuses == [201] * 9
    limited = post(base, agent, "the eleventh this minute")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == "10"

    history = requests.get(f"{base}/api/messages", params={"limit": 100}, timeout=10).json()["messages"]
    mine = [m for m in history if m["agentName"] == agent["name"]]
    # History shows each author's badge as it is now (messages are joined with their agent).
    assert [m["moltbookVerified"] for m in mine] == [True] * 11
    listed = requests.get(f"{base}/api/agents", timeout=10).json()["agents"]
    (me,) = [a for a in listed if a["name"] == agent["name"]]
    assert (me["moltbookVerified"], me["moltbookName"], me["ownerTwitter"]) == (True, "Lobster_Prime", "lobster_owner")
    assert verify(base, agent, "LOBSTER_PRIME").json()["alreadyVerified"] is True


def test_a_second_agent_takes_the_badge_from_the_first(server, fake):
    base = server.url
    first, second = register(base, "first"), register(base, "second")
    fake.add_agent("shared_molty", x_handle="shared_owner")
    for agent in (first, second):
        code = begin(base, agent, "shared_molty")["code"]
        fake.add_post("shared_molty", content=f"[{code}]")
        assert verify(base, agent, "shared_molty").status_code == 200

    one = requests.get(f"{base}/api/agents/{first['name']}", timeout=10).json()["agent"]
    two = requests.get(f"{base}/api/agents/{second['name']}", timeout=10).json()["agent"]
    assert (one["moltbookVerified"], one["moltbookName"], one["ownerTwitter"]) == (False, None, None)
    assert (two["moltbookVerified"], two["moltbookName"]) == (True, "shared_molty")
    assert post(base, first, "https://example.com").json()["code"] == "url_not_allowed"


def test_the_fallback_to_the_newest_posts_over_http(server, fake):
    base = server.url
    agent = register(base, "fallback")
    fake.add_agent("Camel_Molty")
    code = begin(base, agent, "camel_molty")["code"]
    fake.add_post("Camel_Molty", content=f"[{code}]", author_style="camel")
    fake.profile_posts = "missing"
    response = verify(base, agent, "camel_molty")
    assert response.status_code == 200, response.text
    assert fake.api_requests("/api/v1/posts")[-1].query == {"sort": "new", "limit": "50"}


def test_failures_answer_their_codes_over_http(server, fake):
    base = server.url
    agent = register(base, "failing")
    fake.add_agent("shy_molty", claimed=False)
    fake.add_agent("real_molty")
    fake.add_agent("thief_molty")

    begin(base, agent, "nobody_here")
    assert verify(base, agent, "nobody_here").json()["code"] == "moltbook_user_not_found"

    begin(base, agent, "shy_molty")
    unclaimed = verify(base, agent, "shy_molty")
    assert (unclaimed.status_code, unclaimed.json()["code"]) == (403, "moltbook_not_claimed")

    code = begin(base, agent, "real_molty")["code"]
    fake.add_post("thief_molty", content=f"[{code}]")
    fake.add_comment("real_molty", content=f"[{code}]")
    missing = verify(base, agent, "real_molty")
    assert (missing.status_code, missing.json()["code"]) == (404, "verification_post_not_found")
    assert missing.json()["verificationCode"] == code

    fake.fail_status = 503
    down = verify(base, agent, "real_molty")
    assert (down.status_code, down.json()["code"]) == (502, "moltbook_unavailable")
    fake.fail_status, fake.garbled = None, True
    garbled = verify(base, agent, "real_molty")
    assert (garbled.status_code, garbled.json()["code"]) == (502, "moltbook_unavailable")

    invalid = requests.post(
        f"{base}/api/verify/start", headers=headers(agent), json={"moltbookName": "no spaces"}, timeout=10
    )
    assert (invalid.status_code, invalid.json()["code"]) == (400, "validation_error")
    anonymous = requests.post(f"{base}/api/verify/start", json={"moltbookName": "real_molty"}, timeout=10)
    assert anonymous.status_code == 401
    me = requests.get(f"{base}/api/me", headers=headers(agent), timeout=10).json()["agent"]
    assert (me["moltbookVerified"], me["moltbookName"]) == (False, None)


def test_a_slow_moltbook_is_502_within_the_timeout_and_blocks_no_one_else(server, fake):
    base = server.url
    agent = register(base, "patient")
    fake.add_agent("slow_molty")
    begin(base, agent, "slow_molty")
    fake.slow_seconds = 10
    answer: dict = {}

    def slow_verify() -> None:
        started = time.monotonic()
        answer["response"] = verify(base, agent, "slow_molty")
        answer["seconds"] = time.monotonic() - started

    asked = len(fake.api_requests())
    thread = threading.Thread(target=slow_verify)
    thread.start()
    wait_until(lambda: len(fake.api_requests()) > asked, message="the server never asked Moltbook")  # it waits now
    started = time.monotonic()
    assert requests.get(f"{base}/api/messages", timeout=10).status_code == 200
    assert time.monotonic() - started < 0.5  # other requests are served while Moltbook dawdles
    thread.join()

    assert (answer["response"].status_code, answer["response"].json()["code"]) == (502, "moltbook_unavailable")
    assert TIMEOUT_SECONDS - 0.1 < answer["seconds"] < TIMEOUT_SECONDS + 1.5
