"""Group commit for direct messages (chat.direct_writer): DMs that arrive together are stored in one transaction,
each 201 after the commit that stored it; the inbox and the inbox stream get each DM once, in id order; a DM that
breaks inside a batch fails alone. Against a real uvicorn process over real sockets, and the batch's failure rule
in process."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from chat import direct_writer, selectors
from chat.models import DirectMessage
from realtime import hub as realtime_hub
from tests.e2e.clients import headers, register
from tests.server import sqlite_server
from tests.sse import frames_until, sse_frames

SENDERS = 10
EACH = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("direct-commit"), server="uvicorn", CHATR_METRICS="1", CHATR_RATELIMITS="off"
    )
    yield process
    process.stop()


def commits_and_messages(base: str) -> tuple[float, float]:
    text = requests.get(f"{base}/metrics", timeout=10).text
    count = re.search(r"^chatr_direct_messages_per_commit_count (\S+)$", text, re.MULTILINE)
    total = re.search(r"^chatr_direct_messages_per_commit_sum (\S+)$", text, re.MULTILINE)
    return (float(count.group(1)) if count else 0.0), (float(total.group(1)) if total else 0.0)


@pytest.mark.e2e
def test_concurrent_dms_are_stored_once_each_and_reach_the_inbox_in_id_order(server):
    base = server.url
    recipients = [register(base, prefix="inbox") for _ in range(2)]
    senders = [register(base, prefix="dm") for _ in range(SENDERS)]
    streams = [sse_frames(base, path="/api/inbox/stream", **headers(who)) for who in recipients]
    for stream in streams:
        frames_until(stream, lambda seen: any(frame.type == "history" for frame in seen))
    commits_before, stored_before = commits_and_messages(base)
    start = threading.Barrier(SENDERS)
    answers: list[list[requests.Response]] = [[] for _ in range(SENDERS)]

    def send(index: int) -> None:
        with requests.Session() as session:
            session.get(f"{base}/health", timeout=10)
            start.wait()
            for n in range(EACH):
                to = recipients[(index + n) % 2]
                body = {"toAiId": to["id"], "content": f"dm {n} from {index}"}
                answers[index].append(session.post(f"{base}/ai/messages", json=body, headers=headers(senders[index])))

    threads = [threading.Thread(target=send, args=(index,)) for index in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    sent: dict[str, list[int]] = {who["id"]: [] for who in recipients}
    for index, replies in enumerate(answers):
        assert [reply.status_code for reply in replies] == [201] * EACH
        for n, reply in enumerate(replies):
            message = reply.json()["message"]
            assert message["content"] == f"dm {n} from {index}" and message["from_ai_id"] == senders[index]["id"]
            sent[message["to_ai_id"]].append(int(message["id"]))
    for who, stream in zip(recipients, streams, strict=True):
        ids = sorted(sent[who["id"]])
        inbox = requests.get(f"{base}/ai/messages?limit=100", headers=headers(who), timeout=10).json()["messages"]
        assert [int(message["id"]) for message in inbox] == ids  # stored once each, nothing else
        wanted = len(ids)
        frames = frames_until(stream, lambda seen: sum(frame.type == "direct" for frame in seen) >= wanted)  # noqa: B023
        assert [int(frame.data["id"]) for frame in frames if frame.type == "direct"] == ids  # once each, in order
    commits, stored = commits_and_messages(base)
    assert stored - stored_before == SENDERS * EACH
    assert commits - commits_before < SENDERS * EACH  # DMs that arrived together shared a transaction


@pytest.mark.django_db
def test_a_dm_that_breaks_inside_a_batch_fails_alone(make_agent):
    """A constraint the batch's one ``INSERT`` breaks (here NOT NULL; a recipient deleted meanwhile breaks its
    foreign key at ``COMMIT``, the same way out) names no DM: each is written again alone, and only it fails."""
    alice, bob, carol = make_agent("alice").agent, make_agent("bob").agent, make_agent("carol").agent
    posts = [
        direct_writer.DirectPost(sender=alice, recipient=to, content=text, signature=None, signature_verified=False)
        for to, text in ((bob, "to bob"), (carol, None), (bob, "to bob again"))
    ]
    entries = [direct_writer._Entry(post) for post in posts]
    direct_writer._write_batch(entries)
    assert [entry.error is None for entry in entries] == [True, False, True]
    assert isinstance(entries[1].error, IntegrityError) and entries[1].result is None
    stored = list(DirectMessage.objects.order_by("pk").values_list("pk", "content"))
    assert stored == [(entries[0].result.pk, "to bob"), (entries[2].result.pk, "to bob again")]


@pytest.mark.django_db
def test_a_batch_is_one_insert_in_queue_order(make_agent):
    alice, bob, carol = make_agent("alice").agent, make_agent("bob").agent, make_agent("carol").agent
    posts = [
        direct_writer.DirectPost(sender=alice, recipient=to, content=f"n{n}", signature=None, signature_verified=False)
        for n, to in enumerate((bob, carol, bob, carol))
    ]
    entries = [direct_writer._Entry(post) for post in posts]
    with CaptureQueriesContext(connection) as queries:
        direct_writer._write_batch(entries)
    inserts = [query for query in queries.captured_queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    ids = [entry.result.pk for entry in entries]
    assert ids == sorted(ids)
    assert [message.content for message in selectors.inbox(agent=bob, since=None, limit=10)] == ["n0", "n2"]


@pytest.mark.django_db(transaction=True)  # real commits: on_commit callbacks run
def test_a_publish_that_fails_after_the_commit_stores_each_dm_once_and_answers_it(make_agent, monkeypatch):
    """An inbox frame that cannot be published (Redis gone) after the commit cannot undo it: every DM of the batch
    is its sender's, and the batch is not written a second time DM by DM (a duplicate of each)."""
    alice, bob, carol = make_agent("alice").agent, make_agent("bob").agent, make_agent("carol").agent

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis went away after the commit")

    monkeypatch.setattr(realtime_hub, "publish", unreachable)
    posts = [
        direct_writer.DirectPost(
            sender=alice, recipient=to, content=f"once {n}", signature=None, signature_verified=False
        )
        for n, to in enumerate((bob, carol, bob))
    ]
    entries = [direct_writer._Entry(post) for post in posts]
    direct_writer._write_batch(entries)
    assert [entry.error for entry in entries] == [None, None, None]
    stored = list(DirectMessage.objects.order_by("pk").values_list("pk", "content"))
    assert stored == [(entry.result.pk, f"once {n}") for n, entry in enumerate(entries)]
