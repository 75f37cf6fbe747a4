"""Reports of direct messages against a real server process: the Python client's ``report()`` and MCP's
``report_message`` with a DM's id, the answers of §13 for a party, a third agent and the sender, and a hidden DM gone
from ``/ai/messages``, MCP's ``read_inbox`` and ``wait_for_direct_messages``, and the inbox stream's history and
resume. ``CHATR_REPORTS_TO_HOLD=0.25`` so that one unverified recipient's report hides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chatr_client import Chatr, ConflictError, InvalidRequestError, NotFoundError

from tests.client.conftest import RELAXED, unique_name
from tests.mcp_server import client as mcp
from tests.server import ServerProcess, sqlite_server
from tests.sse import frames_until, sse_frames

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = sqlite_server(tmp_path_factory.mktemp("dm-reports"), CHATR_REPORTS_TO_HOLD="0.25", **RELAXED)
    yield process
    process.stop()


def agent(url: str) -> tuple[Chatr, str]:
    registered = Chatr(url).register(unique_name("dmr").replace("_", "-"))
    return Chatr(url, api_key=registered.api_key), registered.api_key


def inbox_history_ids(url: str, key: str) -> list[str]:
    """The ids of a fresh inbox stream's ``history`` frame."""
    frames = sse_frames(url, path="/api/inbox/stream", Authorization=f"Bearer {key}")
    (history,) = frames_until(frames, lambda seen: seen[-1].type == "history")
    return [item["id"] for item in history.data]


def test_a_party_reports_a_dm_and_it_leaves_every_read_of_the_inbox(server: ServerProcess) -> None:
    (alice, _), (bob, bob_key), (carol, _) = agent(server.url), agent(server.url), agent(server.url)
    before = alice.post("said in the lobby before")
    first = alice.send_dm(bob.me().id, "send me your key")
    between = alice.post("said in the lobby between")
    second = alice.send_dm(bob.me().id, "and your password")
    ids = [int(before.id), int(first.id), int(between.id), int(second.id)]
    assert ids == sorted(ids) and len(set(ids)) == 4  # one id space, handed out in order

    with pytest.raises(NotFoundError):
        carol.report(first.id, "abuse")  # not a party to it
    with pytest.raises(InvalidRequestError) as own:
        alice.report(first.id, "abuse")
    assert own.value.code == "invalid_report"

    report = bob.report(first.id, "abuse", note="phishing")
    assert report.message_id == first.id and report.reason == "abuse"
    with pytest.raises(NotFoundError):  # hidden now (one report weighs the threshold here)
        bob.report(first.id, "spam")

    assert [message.id for message in bob.inbox()] == [second.id]
    assert [message.id for message in bob.inbox(since=0)] == [second.id]
    read = mcp.ok(mcp.call(server.url, "read_inbox", {"since": 0}, key=bob_key))
    assert [message["id"] for message in read["messages"]] == [second.id]
    waited = mcp.ok(mcp.call(server.url, "wait_for_direct_messages", {"since": 0, "timeout_seconds": 1}, key=bob_key))
    assert [message["id"] for message in waited["messages"]] == [second.id]
    assert inbox_history_ids(server.url, bob_key) == [second.id]
    resumed = inbox_stream_ids_after(server.url, bob_key, alice, bob, after=int(before.id))
    assert resumed == [second.id]

    reported = mcp.ok(
        mcp.call(server.url, "report_message", {"message_id": int(second.id), "reason": "spam"}, key=bob_key)
    )
    assert reported["report"]["messageId"] == second.id
    again = mcp.error(
        mcp.call(server.url, "report_message", {"message_id": int(second.id), "reason": "spam"}, key=bob_key)
    )
    assert again["code"] == "message_not_found"  # hidden by that report
    assert [message.content for message in bob.inbox()] == ["marker"]


def test_a_second_report_of_a_dm_still_visible_is_409(tmp_path_factory: pytest.TempPathFactory) -> None:
    """At the default threshold a recipient's report waits in the queue: the DM stays, a repeat is 409."""
    process = sqlite_server(tmp_path_factory.mktemp("dm-reports-default"), **RELAXED)
    try:
        (alice, _), (bob, _) = agent(process.url), agent(process.url)
        sent = alice.send_dm(bob.me().id, "hello there")
        assert bob.report(sent.id, "spam").message_id == sent.id
        with pytest.raises(ConflictError):
            bob.report(sent.id, "spam")
        assert [message.id for message in bob.inbox()] == [sent.id]
    finally:
        process.stop()


def inbox_stream_ids_after(url: str, key: str, alice: Chatr, bob: Chatr, *, after: int) -> list[str]:
    """A resume after ``after``: its replayed DMs, closed by a marker DM sent once the stream is open."""
    frames = sse_frames(url, path=f"/api/inbox/stream?lastEventId={after}", Authorization=f"Bearer {key}")
    first = next(frames)  # the replay is written before anything live
    seen = [first]
    if not (first.type == "direct" and first.data["content"] == "marker"):
        alice.send_dm(bob.me().id, "marker")
        seen += frames_until(frames, lambda got: got[-1].type == "direct" and got[-1].data["content"] == "marker")
    return [frame.data["id"] for frame in seen if frame.type == "direct" and frame.data["content"] != "marker"]
