"""Mentions, replies and search (contract §12) through the client: ``search()``, ``mentions()``, ``mentions_stream()``
and ``post(..., reply_to=)`` on ``Chatr`` and ``AsyncChatr``, and ``chatr search`` / ``chatr mentions`` /
``chatr post --reply-to``, against real server processes."""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chatr_client import (
    AsyncChatr,
    AuthenticationError,
    Chatr,
    Event,
    InvalidRequestError,
    Mention,
    MentionedAgent,
)
from chatr_client._core import StreamResume
from chatr_client.cli import ANSI_MARK, highlight, search_line
from chatr_client.models import Message

from tests.aio import run as run_async
from tests.client.conftest import Cli, unique_name
from tests.client.test_resume import Lines
from tests.moderation.test_live import HttpAdmin
from tests.server import ServerProcess
from tests.waiting import wait_until_async

pytestmark = pytest.mark.e2e


def word() -> str:
    """A search word no other test posts (letters and digits only: one word to the server's tokenizer)."""
    return f"kw{secrets.token_hex(5)}"


def agent(url: str, prefix: str) -> Chatr:
    # A hyphen, not an underscore: "a@bob_1.com" holds the bare domain "1.com", a link to the link rule (§3).
    reg = Chatr(url).register(unique_name(prefix).replace("_", "-"))
    return Chatr(url, api_key=reg.api_key)


def end_streams(owner: Chatr, *pumps: Pump) -> None:
    """Rotating the key ends the owner's streams on the server; reconnecting with the old key is then a 401, which
    the client raises instead of retrying, so the streams stop for good (and hold no stream slot afterwards)."""
    owner.rotate_key()
    for pump in pumps:
        pump.thread.join(timeout=30)
        assert isinstance(pump.error, AuthenticationError), pump.error


class Pump:
    """Reads a blocking event iterator in a thread, so that a test waits for events with a timeout."""

    def __init__(self, events: Iterator[Event]) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(events,), daemon=True)
        self.thread.start()

    def _run(self, events: Iterator[Event]) -> None:
        try:
            for event in events:
                self.events.put(event)
        except Exception as error:  # what ended the stream, for the test to look at
            self.error = error

    def next(self, predicate: Callable[[Event], bool], timeout: float = 30) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if predicate(event):
                return event


# -- the library -----------------------------------------------------------------------------------------------------


def test_post_reply_to_carries_mentions_and_reply_and_invalid_targets_are_typed_errors(
    chatr_server: ServerProcess,
) -> None:
    alice, bob = agent(chatr_server.url, "ralice"), agent(chatr_server.url, "rbob")
    bob_me = bob.me()
    original = bob.post("a question worth answering " + "x" * 120)
    answer = alice.post(f"@{bob_me.name.upper()} here is the answer", reply_to=original.id)
    assert answer.mentions == (MentionedAgent(id=bob_me.id, name=bob_me.name),)
    assert answer.reply_to is not None
    assert (answer.reply_to.id, answer.reply_to.agent_id, answer.reply_to.agent_name) == (
        original.id,
        bob_me.id,
        bob_me.name,
    )
    assert answer.reply_to.excerpt == original.content[:100]
    # An int id works as well as the string ``Message.id``; a plain post has no reply and no mentions.
    assert alice.post("again", reply_to=int(original.id)).reply_to.id == original.id
    plain = alice.post("nobody addressed")
    assert plain.reply_to is None and plain.mentions == ()
    [read_back] = [m for m in bob.messages(after=int(answer.id) - 1) if m.id == answer.id]
    assert read_back.reply_to == answer.reply_to and read_back.mentions == answer.mentions

    group = alice.create_group(unique_name("rgroup"))
    bob.join_group(group.id)
    in_group = bob.post("group talk", room=group.id)
    reply = alice.post("group answer", room=group.id, reply_to=in_group.id)
    assert reply.reply_to.id == in_group.id and reply.room == group.id
    for target, room in ((original.id, group.id), (in_group.id, "lobby"), ("999999999", "lobby")):
        with pytest.raises(InvalidRequestError) as caught:
            alice.post("misdirected", room=room, reply_to=target)
        assert (caught.value.status, caught.value.code) == (400, "invalid_reply")


def test_search_finds_words_with_matches_filters_and_pages_without_overlap(chatr_server: ServerProcess) -> None:
    alice, bob = agent(chatr_server.url, "salice"), agent(chatr_server.url, "sbob")
    key = word()
    posted = [alice.post(f"Number {n}: the {key.upper()} report, naïve café") for n in range(5)]
    bob_post = bob.post(f"bob also says {key}")

    anonymous = Chatr(chatr_server.url)  # search needs no key
    found = anonymous.search(key)
    assert [m.id for m in found.messages] == [bob_post.id, *reversed([m.id for m in posted])]  # newest first
    assert found.next is None
    for message in found.messages:
        [(start, end)] = message.matches
        assert message.content[start:end].lower() == key
    # Diacritics and case folded; a phrase; the from_ and room filters.
    assert {m.id for m in anonymous.search(f'NAIVE {key} "cafe"').messages} == {m.id for m in posted}
    assert [m.id for m in anonymous.search(key, from_=bob.me().name).messages] == [bob_post.id]
    assert len(anonymous.search(key, room="lobby").messages) == 6

    pages, before = [], None
    while True:
        page = anonymous.search(key, from_=alice.me().name, limit=2, before=before)
        pages.append([m.id for m in page.messages])
        if page.next is None:
            break
        before = page.next
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == list(reversed([m.id for m in posted]))

    for bad in ("!!! ???", "x" * 201):
        with pytest.raises(InvalidRequestError) as caught:
            anonymous.search(bad)
        assert (caught.value.status, caught.value.code) == (400, "invalid_input")


def test_mentions_lists_the_feed_with_its_cursor_and_needs_a_key(chatr_server: ServerProcess) -> None:
    alice, bob = agent(chatr_server.url, "malice"), agent(chatr_server.url, "mbob")
    bob_name = bob.me().name
    assert bob.mentions().mentions == []
    mine = bob.post("bob's own words")
    mention = alice.post(f"hi @{bob_name}!")
    reply = alice.post("a reply without a name", reply_to=mine.id)
    alice.post(f"mail a@{bob_name}.com is no mention")

    feed = bob.mentions()
    assert [(item.reason, item.message.id) for item in feed.mentions] == [("mention", mention.id), ("reply", reply.id)]
    assert all(isinstance(item, Mention) for item in feed.mentions)
    assert int(feed.mentions[0].id) < int(feed.mentions[1].id) and feed.cursor == feed.mentions[-1].id
    assert feed.mentions[1].message.reply_to.id == mine.id
    assert [item.message.id for item in bob.mentions(limit=1).mentions] == [reply.id]  # the latest
    assert [item.message.id for item in bob.mentions(after=feed.mentions[0].id).mentions] == [reply.id]
    empty = bob.mentions(after=feed.cursor)
    assert empty.mentions == [] and empty.cursor == feed.cursor
    assert alice.mentions().mentions == []  # never one's own
    with pytest.raises(AuthenticationError):
        Chatr(chatr_server.url).mentions()


def test_mentions_stream_sends_history_live_items_and_delete_frames(
    chatr_server: ServerProcess, moderator: HttpAdmin
) -> None:
    alice, bob = agent(chatr_server.url, "lalice"), agent(chatr_server.url, "lbob")
    bob_name = bob.me().name
    first = alice.post(f"@{bob_name} before the stream")
    # The streams read with a client of their own, which keeps the key that ``end_streams`` rotates away.
    pump = Pump(Chatr(chatr_server.url, api_key=bob.api_key).mentions_stream())
    history = pump.next(lambda e: e.type == "history")
    assert [item.message.id for item in history.data] == [first.id]
    live = alice.post(f"@{bob_name} while it runs")
    event = pump.next(lambda e: e.type == "mention")
    assert isinstance(event.data, Mention) and event.data.message.id == live.id and event.id == event.data.id
    assert moderator.action("/admin/chat/message/", "hide", [live.id]).status_code == 302
    deleted = pump.next(lambda e: e.type == "delete")
    assert deleted.data == {"id": event.data.id, "messageId": live.id}
    # Resuming from the first item's feed id replays only what came after it, and the hidden one is gone.
    later = alice.post(f"@{bob_name} after the hide")
    resumed = Pump(Chatr(chatr_server.url, api_key=bob.api_key).mentions_stream(last_event_id=history.data[-1].id))
    replay = resumed.next(lambda e: e.type == "mention")
    assert replay.data.message.id == later.id
    end_streams(bob, pump, resumed)


def test_mentions_resume_state_counts_feed_ids_and_drops_repeats() -> None:
    state = StreamResume.for_mentions(7)
    assert state.path == "/api/mentions/stream" and state.headers("k")["Last-Event-ID"] == "7"

    def item(n: int) -> dict[str, Any]:
        message = {"id": str(100 + n), "agentId": "a", "agentName": "A", "content": f"m{n}", "timestamp": ""}
        return {"id": str(n), "reason": "mention", "message": message}

    def frame(kind: str, data: object) -> str:
        return json.dumps({"type": kind, "data": data})

    assert state.feed("7", frame("mention", item(7)), None) == []  # already delivered before the drop
    [event] = state.feed("8", frame("mention", item(8)), None)
    assert event.data.message.id == "108" and state.headers(None)["Last-Event-ID"] == "8"
    [history] = state.feed("9", frame("history", [item(8), item(9)]), None)
    assert [m.id for m in history.data] == ["9"]
    [deleted] = state.feed("", frame("delete", {"id": "9", "messageId": "109"}), None)
    assert deleted.type == "delete" and state.last_id == 9


def test_mentions_stream_resumes_after_a_server_restart_with_nothing_lost_or_repeated(
    restartable_server: ServerProcess,
) -> None:
    url = restartable_server.url
    alice, bob = agent(url, "xalice"), agent(url, "xbob")
    bob_name = bob.me().name

    def mention(text: str) -> str:
        return alice.post(f"@{bob_name} {text}").id

    ids = [mention("before")]
    pump = Pump(Chatr(url, api_key=bob.api_key).mentions_stream())
    seen: list[Mention] = []

    def take(count: int) -> None:
        while len(seen) < count:
            event = pump.next(lambda e: e.type in ("history", "mention"), timeout=60)
            seen.extend(event.data if event.type == "history" else [event.data])

    take(1)
    ids += [mention(f"live {n}") for n in range(3)]
    take(4)
    restartable_server.restart()
    # Posted while the stream waits to reconnect: only the Last-Event-ID resume can deliver these.
    ids += [mention(f"gap {n}") for n in range(3)]
    ids += [mention(f"after {n}") for n in range(2)]
    take(9)
    ids.append(mention("the last"))  # a repeat of any before it would come first
    take(10)
    while not pump.events.empty():
        event = pump.events.get()
        seen.extend(event.data if event.type == "history" else [event.data] if event.type == "mention" else [])
    assert [item.message.id for item in seen] == ids
    feed_ids = [int(item.id) for item in seen]
    assert feed_ids == sorted(set(feed_ids))
    assert [item.id for item in bob.mentions(after=0).mentions] == [item.id for item in seen]
    end_streams(bob, pump)


# -- AsyncChatr ------------------------------------------------------------------------------------------------------


def test_async_search_mentions_reply_and_mentions_stream_across_a_restart(restartable_server: ServerProcess) -> None:
    url = restartable_server.url

    async def flow() -> None:
        anonymous = AsyncChatr(url)
        alice_reg = await anonymous.register(unique_name("aalice"))
        bob_reg = await anonymous.register(unique_name("abob"))
        alice, bob = AsyncChatr(url, api_key=alice_reg.api_key), AsyncChatr(url, api_key=bob_reg.api_key)
        key = word()
        original = await bob.post(f"the {key} question")
        answer = await alice.post(f"@{bob_reg.agent.name} the {key} answer", reply_to=original.id)
        assert answer.reply_to.excerpt == original.content
        assert answer.mentions == (MentionedAgent(id=bob_reg.agent.id, name=bob_reg.agent.name),)
        found = await anonymous.search(key, from_=alice_reg.agent.name, room="lobby", limit=5)
        assert [m.id for m in found.messages] == [answer.id] and found.next is None
        [(start, end)] = found.messages[0].matches
        assert found.messages[0].content[start:end] == key
        with pytest.raises(InvalidRequestError):
            await alice.post("nowhere", reply_to="999999999")
        with pytest.raises(InvalidRequestError):
            await anonymous.search("?!")
        feed = await bob.mentions()
        assert [(i.reason, i.message.id) for i in feed.mentions] == [("reply", answer.id)]

        events = bob.mentions_stream(last_event_id=feed.cursor)
        seen: list[str] = []

        async def collect() -> None:
            async for event in events:
                if event.type == "mention":
                    seen.append(event.data.message.id)

        task = asyncio.create_task(collect())
        ids = [(await alice.post(f"@{bob_reg.agent.name} live")).id]
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.1)
        await asyncio.to_thread(restartable_server.restart)
        ids += [(await alice.post(f"@{bob_reg.agent.name} gap {n}")).id for n in range(3)]
        ids.append((await alice.post(f"@{bob_reg.agent.name} the last")).id)  # a repeat would come before it
        await wait_until_async(lambda: seen and seen[-1] == ids[-1], timeout=30, message=lambda: f"saw {seen}")
        task.cancel()
        assert seen == ids
        for client in (anonymous, alice, bob):
            await client.close()

    run_async(flow())


# -- the command line ------------------------------------------------------------------------------------------------


def _register(cli: Cli) -> tuple[str, str]:
    name = unique_name("c")
    result = cli.run("--json", "register", name)
    assert result.returncode == 0, result.stderr
    return name, json.loads(result.stdout)["apiKey"]


def test_chatr_search_highlights_escaped_matches_filters_and_prints_json(cli: Cli) -> None:
    name, _ = _register(cli)
    key = word()
    # Not at the start: leading invisible characters are stripped like whitespace (§1).
    hostile = cli.run("--json", "post", f"so \u202ered\u202c then {key}\nforged [00:00:00] line {key.upper()}")
    assert hostile.returncode == 0, hostile.stderr
    other = cli.run("--json", "post", f"another {key}")
    assert other.returncode == 0, other.stderr

    readable = cli.run("search", key, "--from", name)
    assert readable.returncode == 0, readable.stderr
    lines = readable.stdout.splitlines()
    assert len(lines) == 2 and "\u202e" not in readable.stdout
    assert lines[0].endswith(f": another «{key}»")
    assert lines[1].endswith(f": so \\u202ered\\u202c then «{key}»\\nforged [00:00:00] line «{key.upper()}»")

    as_json = cli.run("search", key, "--room", "lobby", "--json", "--limit", "1")
    assert as_json.returncode == 0, as_json.stderr
    [hit] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert hit["id"] == json.loads(other.stdout)["id"] and hit["matches"] == [[8, 8 + len(key)]]

    nothing = cli.run("search", key, "--from", unique_name("nobody"))
    assert nothing.returncode == 0 and nothing.stdout == "No messages match.\n"
    bad = cli.run("search", "?!")
    assert bad.returncode == 1 and bad.stderr.startswith("chatr: invalid_input: ") and bad.stdout == ""
    assert cli.run("search").returncode == 2


def test_search_lines_mark_matches_in_reverse_video_on_a_terminal_and_never_let_text_escape() -> None:
    message = Message.from_json(
        {
            "id": "1",
            "agentName": "Eve",
            "avatar": "🤖",
            "content": "a\x1b[2Jb zebra\u202e!",
            "timestamp": "2026-01-15T12:00:00.123Z",
            "matches": [[7, 12]],
        }
    )
    on, off = ANSI_MARK
    assert search_line(message, color=True) == f"[12:00:00] 🤖 Eve: a\\x1b[2Jb {on}zebra{off}\\u202e!"
    assert search_line(message) == "[12:00:00] 🤖 Eve: a\\x1b[2Jb «zebra»\\u202e!"
    # Offsets out of order, overlapping or past the end cost a highlight, never a character of the text.
    assert highlight("abcdef", [(4, 99), (0, 2), (1, 3)]) == "«ab»«c»d«ef»"
    assert highlight("a\nb", [(1, 2)]) == "a«\\n»b"


def test_chatr_post_reply_to_and_mentions_with_exit_codes(cli: Cli) -> None:
    alice, alice_key = _register(cli)
    bob, bob_key = _register(cli)
    original = json.loads(cli.run("--json", "post", "the original", CHATR_API_KEY=bob_key).stdout)
    reply = cli.run("post", f"hi @{bob}, answered", "--reply-to", original["id"], CHATR_API_KEY=alice_key)
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.rstrip("\n").endswith(f"{alice} (↪ #{original['id']} {bob}): hi @{bob}, answered")
    as_json = cli.run("post", "again", "--reply-to", original["id"], "--json", CHATR_API_KEY=alice_key)
    assert json.loads(as_json.stdout)["replyTo"]["excerpt"] == "the original"
    wrong = cli.run("post", "to nothing", "--reply-to", "999999999", CHATR_API_KEY=alice_key)
    assert wrong.returncode == 1 and wrong.stderr.startswith("chatr: invalid_reply: ")
    assert cli.run("post", "x", "--reply-to").returncode == 2

    listed = cli.run("mentions", "--json", CHATR_API_KEY=bob_key)
    assert listed.returncode == 0, listed.stderr
    items = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [item["reason"] for item in items] == ["reply", "reply"]  # the reply wins over the mention, once each
    assert items[0]["message"]["content"] == f"hi @{bob}, answered"
    readable = cli.run("mentions", "--after", items[0]["id"], CHATR_API_KEY=bob_key)
    assert readable.returncode == 0 and readable.stdout.splitlines()[0].startswith("[")
    assert f"(reply) 🤖 {alice} (↪ #{original['id']} {bob}): again" in readable.stdout
    assert cli.run("mentions", "--json", CHATR_API_KEY=alice_key).stdout == ""
    anonymous = cli.run("mentions", CHATR_API_KEY="", XDG_CONFIG_HOME=str(cli.home / "empty"))
    assert anonymous.returncode == 1 and anonymous.stderr.startswith("chatr: unauthorized: ")
    assert cli.run("mentions", "--limit", "many").returncode == 2


def test_chatr_mentions_follow_survives_a_server_restart_and_ctrl_c_exits_0(
    client_venv: Path, restartable_server: ServerProcess, tmp_path: Path
) -> None:
    cli = Cli(client_venv, tmp_path, restartable_server.url)
    bob, bob_key = _register(cli)
    _, alice_key = _register(cli)

    def mention(text: str) -> str:
        result = cli.run("--json", "post", f"@{bob} {text}", CHATR_API_KEY=alice_key)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["id"]

    ids = [mention("before")]
    follower = cli.popen("mentions", "--follow", "--json", CHATR_API_KEY=bob_key)
    try:
        lines = Lines(follower)

        def arrived(text: str) -> None:
            deadline = time.monotonic() + 60
            while not any(item["message"]["content"] == f"@{bob} {text}" for item in lines.items):
                assert time.monotonic() < deadline, f"{text!r} never arrived: {lines.items}"
                time.sleep(0.05)

        arrived("before")
        ids += [mention(f"live {n}") for n in range(2)]
        arrived("live 1")
        restartable_server.restart()
        ids += [mention(f"gap {n}") for n in range(3)]
        ids.append(mention("the last"))  # a repeat of any before it would be printed first
        arrived("the last")
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
    assert [item["message"]["id"] for item in lines.items] == ids
    assert follower.stderr.read() == ""
