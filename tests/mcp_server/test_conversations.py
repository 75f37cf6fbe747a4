"""Contract §12 through MCP: search_messages, read_mentions, wait_for_mentions and post_message's reply_to.

The SDK's own client against a real uvicorn process; notifications come from REST posts and MCP posts alike.
"""

import asyncio
import time
import uuid

import pytest
import requests

from tests.aio import run as run_async
from tests.mcp_server.client import acall, call, error, ok, register
from tests.mcp_server.test_waits import hub_status, parked, wait_then_post

pytestmark = pytest.mark.e2e


def rest_post(base: str, key: str, content: str, **extra: object) -> dict:
    response = requests.post(
        f"{base}/api/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={"content": content, **extra},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def test_reply_to_creates_a_reply_and_tells_its_target(server):
    asker, answerer = register(server.url), register(server.url)
    question = ok(call(server.url, "post_message", {"content": "who knows FTS5?"}, key=asker["apiKey"]))["message"]
    assert question["replyTo"] is None and question["mentions"] == []

    arguments = {"content": "I do", "reply_to": int(question["id"]), "idempotency_key": f"r-{uuid.uuid4().hex}"}
    answer = ok(call(server.url, "post_message", arguments, key=answerer["apiKey"]))
    reply = answer["message"]
    assert reply["replyTo"] == {
        "id": question["id"],
        "agentId": asker["agent"]["id"],
        "agentName": asker["agent"]["name"],
        "excerpt": "who knows FTS5?",
    }
    # Retried with the same key: the first answer, nothing posted twice (and no lobby limit hit).
    again = ok(call(server.url, "post_message", arguments, key=answerer["apiKey"]))
    assert again["replayed"] is True and again["message"] == reply
    # As REST stores it: the lobby's history serves the same replyTo.
    history = requests.get(f"{server.url}/api/messages", params={"after": int(question["id"])}, timeout=10).json()
    assert [m["replyTo"] for m in history["messages"] if m["id"] == reply["id"]] == [reply["replyTo"]]

    # The asker learns of the answer: reason "reply".
    feed = ok(call(server.url, "read_mentions", {}, key=asker["apiKey"]))
    assert [(item["reason"], item["message"]["id"]) for item in feed["mentions"]] == [("reply", reply["id"])]
    assert feed["cursor"] == feed["mentions"][-1]["id"]


def test_reply_to_an_unknown_or_other_room_message_is_refused(server):
    owner, other = register(server.url), register(server.url)
    group = ok(call(server.url, "create_group", {"name": "replies"}, key=owner["apiKey"]))["group"]["id"]
    in_group = ok(call(server.url, "post_message", {"content": "in the group", "room": group}, key=owner["apiKey"]))
    unknown = error(call(server.url, "post_message", {"content": "hm", "reply_to": 10**12}, key=other["apiKey"]))
    assert unknown["code"] == "invalid_reply"
    elsewhere = {"content": "hm", "reply_to": int(in_group["message"]["id"])}
    assert error(call(server.url, "post_message", elsewhere, key=other["apiKey"]))["code"] == "invalid_reply"
    # Nothing was stored, so the unverified lobby allowance is still there; a group reply works.
    in_thread = {"content": "answer", "room": group, "reply_to": int(in_group["message"]["id"])}
    threaded = ok(call(server.url, "post_message", in_thread, key=owner["apiKey"]))["message"]
    assert threaded["replyTo"]["id"] == in_group["message"]["id"] and threaded["room"] == group
    assert (
        error(call(server.url, "post_message", {"content": "x", "reply_to": 0}, key=other["apiKey"]))["code"]
        == "validation_error"
    )


def test_wait_for_mentions_is_woken_within_a_second_by_a_rest_post(server):
    waiter, poster = register(server.url), register(server.url)
    name = waiter["agent"]["name"]
    wait = {"tool": "wait_for_mentions", "timeout_seconds": 30}  # after: from now on
    result, posted, seconds = run_async(
        wait_then_post(
            server.url,
            wait,
            lambda: rest_post(server.url, poster["apiKey"], f"hey @{name.upper()}, there?"),
            key=waiter["apiKey"],
        )
    )
    answer = ok(result)
    assert answer["timedOut"] is False and seconds < 1.0
    [item] = answer["mentions"]
    assert item["reason"] == "mention" and item["message"] == posted
    assert posted["mentions"] == [{"id": waiter["agent"]["id"], "name": name}]
    assert answer["cursor"] == item["id"]
    assert f"<{item['id']}> mention in lobby" in result.content[0].text
    assert hub_status(server.url)["subscribers"] == 0  # the wait let go of its subscription

    # Nothing new after the cursor: an empty answer after the timeout, the cursor unchanged.
    started = time.monotonic()
    empty = ok(
        call(server.url, "wait_for_mentions", {"after": int(item["id"]), "timeout_seconds": 1}, key=waiter["apiKey"])
    )
    assert empty == {"mentions": [], "cursor": item["id"], "timedOut": True}
    assert 1.0 <= time.monotonic() - started < 3.0
    # What is already there comes back at once.
    started = time.monotonic()
    backlog = ok(call(server.url, "wait_for_mentions", {"after": 0, "timeout_seconds": 30}, key=waiter["apiKey"]))
    assert [entry["id"] for entry in backlog["mentions"]] == [item["id"]] and time.monotonic() - started < 2.0


def test_wait_for_mentions_ignores_posts_that_do_not_address_the_agent(server):
    waiter, poster, bystander = register(server.url), register(server.url), register(server.url)
    wait = {"tool": "wait_for_mentions", "timeout_seconds": 2}
    post = lambda: rest_post(server.url, poster["apiKey"], f"only @{bystander['agent']['name']} is meant")  # noqa: E731
    result, _posted, _seconds = run_async(wait_then_post(server.url, wait, post, key=waiter["apiKey"]))
    assert ok(result) == {"mentions": [], "cursor": "0", "timedOut": True}


def test_read_mentions_pages_by_the_feeds_own_cursor(server):
    reader = register(server.url)
    name = reader["agent"]["name"]
    owner = register(server.url)
    group = ok(call(server.url, "create_group", {"name": "mentions"}, key=owner["apiKey"]))["group"]["id"]
    ok(call(server.url, "join_group", {"group": group}, key=reader["apiKey"]))
    nothing = ok(call(server.url, "read_mentions", {}, key=reader["apiKey"]))
    assert nothing == {"mentions": [], "cursor": "0"}
    posted = [
        ok(call(server.url, "post_message", {"content": f"@{name} number {n}", "room": group}, key=owner["apiKey"]))
        for n in range(3)
    ]
    first = ok(call(server.url, "read_mentions", {"after": 0, "limit": 2}, key=reader["apiKey"]))
    assert [item["message"]["id"] for item in first["mentions"]] == [p["message"]["id"] for p in posted[:2]]
    rest = ok(call(server.url, "read_mentions", {"after": int(first["cursor"])}, key=reader["apiKey"]))
    assert [item["message"]["content"] for item in rest["mentions"]] == [f"@{name} number 2"]
    latest = ok(call(server.url, "read_mentions", {"limit": 1}, key=reader["apiKey"]))
    assert latest["mentions"] == rest["mentions"] and latest["cursor"] == rest["cursor"]
    # The same feed as REST's.
    headers = {"Authorization": f"Bearer {reader['apiKey']}"}
    feed = requests.get(f"{server.url}/api/mentions", headers=headers, params={"after": 0}, timeout=10).json()
    assert feed["mentions"] == first["mentions"] + rest["mentions"]
    assert error(call(server.url, "read_mentions", {"limit": 101}, key=reader["apiKey"]))["code"] == "validation_error"


def test_wait_for_mentions_shares_the_per_agent_wait_cap(server):
    key = register(server.url)["apiKey"]
    cursor = int(ok(call(server.url, "read_messages", {"limit": 1}))["cursor"])

    async def three_waits():
        # The test server allows 2 waits per agent (CHATR_MCP_WAITS_PER_AGENT=2), of every kind together.
        first = [
            asyncio.create_task(acall(server.url, "wait_for_mentions", {"timeout_seconds": 2}, key=key)),
            asyncio.create_task(
                acall(server.url, "wait_for_messages", {"after": cursor, "timeout_seconds": 2}, key=key)
            ),
        ]
        await parked(server.url, 2)
        third = await acall(server.url, "wait_for_mentions", {"timeout_seconds": 3}, key=key)
        return third, await asyncio.gather(*first)

    third, first = run_async(three_waits())
    assert error(third)["code"] == "too_many_waits"
    assert all(ok(result)["timedOut"] for result in first)
    tooo_long = error(call(server.url, "wait_for_mentions", {"timeout_seconds": 61}, key=key))
    assert tooo_long["code"] == "validation_error"


def test_search_messages_finds_words_with_their_offsets(server):
    word = f"zq{uuid.uuid4().hex[:8]}"
    searcher, first, second = register(server.url), register(server.url), register(server.url)
    older = rest_post(server.url, first["apiKey"], f"Où est {word}? Ask {word.upper()} twice")
    newer = ok(call(server.url, "post_message", {"content": f"{word} again"}, key=second["apiKey"]))["message"]
    key = searcher["apiKey"]

    found = ok(call(server.url, "search_messages", {"q": word}, key=key))
    assert [m["id"] for m in found["messages"]] == [newer["id"], older["id"]]  # newest first
    assert found["messages"][0]["matches"] == [[0, len(word)]]
    start = older["content"].index(word)
    second_start = older["content"].index(word.upper())
    assert found["messages"][1]["matches"] == [[start, start + len(word)], [second_start, second_start + len(word)]]
    assert {k: v for k, v in found["messages"][1].items() if k != "matches"} == older
    assert found["next"] is None

    page = ok(call(server.url, "search_messages", {"q": word, "limit": 1}, key=key))
    assert [m["id"] for m in page["messages"]] == [newer["id"]] and page["next"] == newer["id"]
    rest_page = ok(call(server.url, "search_messages", {"q": word, "before": int(page["next"])}, key=key))
    assert [m["id"] for m in rest_page["messages"]] == [older["id"]]

    by_author = ok(call(server.url, "search_messages", {"q": word, "from": first["agent"]["name"]}, key=key))
    assert [m["id"] for m in by_author["messages"]] == [older["id"]]
    phrase = ok(call(server.url, "search_messages", {"q": f'"{word} again"', "room": "lobby"}, key=key))
    assert [m["id"] for m in phrase["messages"]] == [newer["id"]]
    # The same answer as GET /api/search.
    rest = requests.get(f"{server.url}/api/search", params={"q": word}, timeout=10).json()
    assert rest["messages"] == found["messages"]

    nothing_to_find = error(call(server.url, "search_messages", {"q": "!!! ***"}, key=key))
    assert nothing_to_find["code"] == "invalid_input"
    assert error(call(server.url, "search_messages", {"q": "x" * 201}, key=key))["code"] == "validation_error"


def test_searches_through_mcp_count_toward_the_ip_search_limit(server):
    # Last in this module: it spends the address's 30 searches of the minute.
    key = register(server.url)["apiKey"]
    for _ in range(40):
        result = call(server.url, "search_messages", {"q": "anything"}, key=key)
        if result.is_error:
            break
    limited = error(result)
    assert limited["code"] == "rate_limited" and limited["retry_after"] >= 1
    rest = requests.get(f"{server.url}/api/search", params={"q": "anything"}, timeout=10)
    assert rest.status_code == 429
