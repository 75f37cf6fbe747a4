"""The Node reference of ``make bench`` (bench/reference/server.js) answers what chatr answers, so the ratio is fair.

Both servers run as real processes; the same requests go to each, and the JSON objects' key sets, the value types
and the SSE framing (contract §5) must be the same. A drift on either side fails here before it skews a benchmark.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server import ROOT, free_port, sqlite_server

pytestmark = pytest.mark.e2e

REFERENCE = ROOT / "bench" / "reference" / "server.js"


@pytest.fixture(scope="module")
def chatr(tmp_path_factory) -> Iterator[str]:
    process = sqlite_server(tmp_path_factory.mktemp("chatr-bench-ref"), server="uvicorn", CHATR_RATELIMITS="off")
    yield process.url
    process.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[str]:
    node = shutil.which("node")
    assert node, "make bench's reference needs Node.js (apt-get install nodejs)"
    port = free_port()
    log = Path(tmp_path_factory.mktemp("reference")) / "reference.log"
    with log.open("wb") as out:
        process = subprocess.Popen([node, str(REFERENCE), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            requests.get(f"{url}/health", timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


def shape(value: object) -> object:
    """Keys and value types, recursively: what a client can rely on, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


class Stream:
    """GET /api/stream read as raw SSE text (requests undoes the chunked encoding), frame by frame."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(f"{url}/api/stream", stream=True, timeout=10)
        self.chunks = self.response.iter_content(chunk_size=None)
        self.buffer = ""

    def frame(self) -> str:
        while "\n\n" not in self.buffer:
            self.buffer += next(self.chunks).decode()
        frame, self.buffer = self.buffer.split("\n\n", 1)
        return frame

    def close(self) -> None:
        self.response.close()


def session(url: str, name: str) -> dict:
    """One agent's visit: register, open the stream, post, read history back; everything both servers answer."""
    seen: dict = {}
    registered = requests.post(f"{url}/api/register", json={"name": name, "avatar": "🦊"}, timeout=10)
    seen["register"] = (registered.status_code, registered.json())
    key = registered.json()["agent"]["apiKey"]
    stream = Stream(url)
    seen["stream_headers"] = {
        name: stream.response.headers.get(name) for name in ("Content-Type", "Cache-Control", "X-Accel-Buffering")
    }
    seen["stream_start"] = [stream.frame(), stream.frame()]  # retry, then the (empty) history
    content = "hello <b>bench</b> & 'friends' 🦞"
    posted = requests.post(
        f"{url}/api/messages", json={"content": content}, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    seen["post"] = (posted.status_code, posted.json())
    frame = stream.frame()
    while frame.startswith((":", 'data: {"type":"stats"', 'data: {"type":"presence"')):
        frame = stream.frame()  # keep-alives, stats and presence may come first; the message frame is next
    seen["live"] = frame
    stream.close()
    unauthorized = requests.post(f"{url}/api/messages", json={"content": "x"}, timeout=10)
    seen["post_without_key"] = (unauthorized.status_code, unauthorized.json())
    seen["messages"] = requests.get(f"{url}/api/messages?limit=50", timeout=10).json()
    seen["agents"] = requests.get(f"{url}/api/agents", timeout=10).json()
    seen["health"] = requests.get(f"{url}/health", timeout=10).json()
    fresh = Stream(url)
    seen["fresh_stream"] = [fresh.frame(), fresh.frame()]
    fresh.close()
    seen["lobby"] = requests.get(f"{url}/", timeout=10).text
    seen["content"] = content
    return seen


def data_of(frame: str) -> tuple[list[str], dict]:
    """(the frame's field names in order, its JSON data): `id: 3\\ndata: {...}` → (["id", "data"], {...})."""
    lines = frame.split("\n")
    fields = [line.split(":", 1)[0] for line in lines]
    return fields, json.loads(lines[-1].removeprefix("data: "))


@pytest.fixture(scope="module")
def both(chatr, reference) -> tuple[dict, dict]:
    return session(chatr, "benchalice"), session(reference, "benchalice")


def test_register_and_post_answer_the_same_shapes(both):
    ours, theirs = both
    assert ours["register"][0] == theirs["register"][0] == 201
    assert shape(ours["register"][1]) == shape(theirs["register"][1])
    assert ours["post"][0] == theirs["post"][0] == 201
    assert shape(ours["post"][1]) == shape(theirs["post"][1])
    for seen in both:
        message = seen["post"][1]["message"]
        assert message["content"] == seen["content"] and message["room"] == "lobby" and message["avatar"] == "🦊"
    assert ours["post_without_key"][0] == theirs["post_without_key"][0] == 401
    assert set(ours["post_without_key"][1]) == set(theirs["post_without_key"][1]) == {"success", "error", "code"}


def test_history_agents_and_health_answer_the_same_shapes(both):
    ours, theirs = both
    for seen in both:
        assert seen["messages"]["messages"] == [seen["post"][1]["message"]]
    assert shape(ours["messages"]) == shape(theirs["messages"])
    assert shape(ours["agents"]) == shape(theirs["agents"])
    assert [agent["name"] for agent in theirs["agents"]["agents"]] == ["benchalice"]
    assert (
        ours["agents"]["stats"]
        == theirs["agents"]["stats"]
        == {
            "totalAgents": 1,
            "onlineAgents": 1,
            "totalMessages": 1,
        }
    )
    assert ours["health"] == theirs["health"] == {"status": "ok"}


def test_the_stream_is_framed_the_same(both):
    ours, theirs = both
    assert ours["stream_headers"] == theirs["stream_headers"]
    assert theirs["stream_headers"]["Content-Type"].startswith("text/event-stream")
    assert ours["stream_start"] == theirs["stream_start"] == ["retry: 3000", 'data: {"type":"history","data":[]}']
    for seen in both:
        fields, live = data_of(seen["live"])
        assert fields == ["id", "data"]  # no `event:` line; the id line holds the message id
        assert seen["live"].startswith(f"id: {seen['post'][1]['message']['id']}\n")
        assert live == {"type": "message", "data": seen["post"][1]["message"]}
        assert seen["fresh_stream"][0] == "retry: 3000"
        fields, history = data_of(seen["fresh_stream"][1])
        assert fields == ["id", "data"]
        assert history == {"type": "history", "data": [seen["post"][1]["message"]]}
    assert shape(data_of(ours["live"])[1]) == shape(data_of(theirs["live"])[1])


def test_the_lobby_pages_show_the_same_messages_escaped_at_a_comparable_size(both):
    ours, theirs = both
    escaped = "hello &lt;b&gt;bench&lt;/b&gt; &amp; &#x27;friends&#x27; 🦞"
    for seen in both:
        assert escaped in seen["lobby"]
        assert "<b>bench" not in seen["lobby"]
        assert seen["lobby"].count('<li class="msg" data-id=') == 1
    assert 0.8 < len(theirs["lobby"]) / len(ours["lobby"]) < 1.25
