"""Group commit on PostgreSQL with two processes: batches that hold posts to several rooms, mentions and replies
lock their rows in one order, so two processes' batches never deadlock; every post is 201 and stored once. With
Redis too, a burst answered by the lobby's post command (``chatr.commands``) reaches a reader of the other process
in id order, once each, and a resume from the middle of it misses nothing."""

from __future__ import annotations

import re
import threading

import psycopg
import pytest
import requests

from search.text import document
from tests.e2e.clients import headers, register
from tests.scale.tools import Reader
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

POSTERS = 16
POSTS_EACH = 8


def test_two_processes_posting_to_two_rooms_with_mentions_never_fail(two_postgres_servers):
    servers = two_postgres_servers
    agents = [register(servers[index % 2].url, "gcpg") for index in range(POSTERS)]
    owner = agents[0]
    group = requests.post(
        f"{servers[0].url}/ai/groups", json={"name": "batches"}, headers=headers(owner), timeout=10
    ).json()["group"]
    for agent in agents[1:]:
        joined = requests.post(f"{servers[1].url}/ai/groups/{group['id']}/join", headers=headers(agent), timeout=10)
        assert joined.status_code == 200, joined.text
    target = requests.post(
        f"{servers[0].url}/api/messages", json={"content": "reply to me"}, headers=headers(owner), timeout=10
    ).json()["message"]["id"]
    names = [agent["name"] for agent in agents]
    start = threading.Barrier(POSTERS)
    failures: list[str] = []
    stored: list[str] = []

    def post(index: int) -> None:
        agent, base = agents[index], servers[index % 2].url
        with requests.Session() as session:
            start.wait()
            for n in range(POSTS_EACH):
                # Alternate rooms, and mention agents in opposite orders, so batches of the two processes meet
                # the same rows in different orders unless the writer orders its locks.
                mentioned = " ".join(f"@{name}" for name in (names[::-1] if (index + n) % 2 else names)[:3])
                if (index + n) % 2:
                    url, body = f"{base}/api/messages", {"content": f"{mentioned} lobby {index}-{n}", "replyTo": target}
                else:
                    url, body = (
                        f"{base}/ai/groups/{group['id']}/messages",
                        {"content": f"{mentioned} group {index}-{n}"},
                    )
                answer = session.post(url, json=body, headers=headers(agent), timeout=60)
                if answer.status_code == 201:
                    stored.append(answer.json()["message"]["id"])
                else:
                    failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=post, args=(index,)) for index in range(POSTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert len(stored) == len(set(stored)) == POSTERS * POSTS_EACH


def commands_answered(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    found = re.search(r'chatr_commands_total\{outcome="answered",route="api/messages"\} (\S+)', text)
    assert found is not None, "the lobby's post command is not in the request table"
    return float(found.group(1))


def test_a_burst_through_the_post_command_keeps_the_order_across_processes_and_a_resume_misses_nothing():
    with postgres_redis_servers(CHATR_RATELIMITS="off", CHATR_METRICS="1") as servers:
        agents = [register(servers[index % 2].url, "burst") for index in range(POSTERS)]
        reader = Reader(servers[1].url)
        reader.start()
        assert reader.connected.wait(10)
        answered_before = sum(commands_answered(server.url) for server in servers)
        start = threading.Barrier(POSTERS)
        acknowledged: list[int] = []
        failures: list[str] = []

        def post(index: int) -> None:
            with requests.Session() as session:
                start.wait()
                for n in range(POSTS_EACH):
                    base = servers[(index + n) % 2].url
                    answer = session.post(
                        f"{base}/api/messages", json={"content": f"burst {index}-{n}"}, headers=headers(agents[index])
                    )
                    if answer.status_code == 201:
                        acknowledged.append(int(answer.json()["message"]["id"]))
                    else:
                        failures.append(f"{answer.status_code} {answer.text}")

        threads = [threading.Thread(target=post, args=(index,)) for index in range(POSTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        assert sum(commands_answered(server.url) for server in servers) - answered_before == POSTERS * POSTS_EACH
        burst = sorted(acknowledged)
        assert len(set(burst)) == POSTERS * POSTS_EACH
        reader.wait_for(set(burst))
        reader.stop()
        assert [number for number in reader.ids if number in set(burst)] == burst  # §2: id order, once each
        middle = burst[len(burst) // 2]
        resumed = Reader(servers[0].url)
        resumed.last = str(middle)
        resumed.start()
        resumed.wait_for({number for number in burst if number > middle})
        resumed.stop()
        assert resumed.ids == [number for number in burst if number > middle]


def test_posts_stored_together_keep_every_character_mention_and_reply_target(two_postgres_servers):
    """The writer sends a batch's messages to PostgreSQL as one JSON text (``chatr.json_rows``): text that JSON
    escapes or that looks like JSON or SQL (quotes, backslashes, a written ``\\u0000``, braces, brackets, NULL, new
    lines, tabs, line separators, characters beyond the BMP, placeholders), mentions and reply targets come back as
    posted, and each is found by search (whose rows go the same way)."""
    servers = two_postgres_servers
    agents = [register(servers[index % 2].url, "arr") for index in range(POSTERS)]
    target = requests.post(
        f"{servers[0].url}/api/messages", json={"content": "the target"}, headers=headers(agents[0]), timeout=10
    ).json()["message"]["id"]
    tricky = [
        'a "quoted" word',
        "back\\slash \\\\ two",
        "{braces}, commas",
        "NULL",
        "line\nbreak",
        "🦞 é ß",
        "'",
        "\\u0000 written out",
        '{"content": "json", "n": [1, 2]}',
        "tab\there\r\nand\u2028separators",
        "%s %(name)s %% $1 ?",
        "𝄞 astral",
    ]
    start = threading.Barrier(POSTERS)
    answers: list[dict] = []

    def post(index: int) -> None:
        with requests.Session() as session:
            start.wait()
            for n in range(POSTS_EACH):
                other = agents[(index + 1) % POSTERS]["name"]
                body: dict = {"content": f"@{other} {tricky[(index + n) % len(tricky)]} {index}-{n}"}
                if n % 2:
                    body["replyTo"] = target
                answer = session.post(
                    f"{servers[index % 2].url}/api/messages", json=body, headers=headers(agents[index]), timeout=60
                )
                assert answer.status_code == 201, answer.text
                answers.append(answer.json()["message"])

    threads = [threading.Thread(target=post, args=(index,)) for index in range(POSTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == POSTERS * POSTS_EACH
    stored: dict[str, dict] = {}
    cursor = target
    while page := requests.get(
        f"{servers[1].url}/api/messages", params={"after": cursor, "limit": 100}, timeout=10
    ).json()["messages"]:
        stored.update((message["id"], message) for message in page)
        cursor = page[-1]["id"]
    for answer in answers:
        message = stored[answer["id"]]
        assert (message["content"], message["mentions"], message["replyTo"]) == (
            answer["content"],
            answer["mentions"],
            answer["replyTo"],
        )
        assert len(message["mentions"]) == 1
        assert (message["replyTo"] or {}).get("id") in {None, target}
    sent = {f"{tricky[(index + n) % len(tricky)]} {index}-{n}" for index in range(POSTERS) for n in range(POSTS_EACH)}
    assert {message["content"].split(" ", 1)[1] for message in (stored[a["id"]] for a in answers)} == sent
    with psycopg.connect(servers[0].env["DATABASE_URL"], autocommit=True) as connection:
        indexed = dict(
            connection.execute(
                "SELECT s.message_id, s.document = to_tsvector('simple', %s) FROM chat_message_search s "
                "WHERE s.message_id = %s",
                [document(answer["content"]), int(answer["id"])],
            ).fetchone()
            or (answer["id"], None)
            for answer in answers
        )
    assert set(indexed.values()) == {True}, indexed  # every message's row, with its own words
