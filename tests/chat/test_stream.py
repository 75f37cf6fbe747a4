"""GET /api/stream against real server processes over real sockets (contract §5)."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import sqlite_server
from tests.sse import RawStream, frames_until, message_ids, sse_frames, stream_status, wait_for_status

pytestmark = pytest.mark.e2e

STREAM_ENV = {
    **E2E_ENV,
    "CHATR_STREAM_STATUS": "1",
    "CHATR_STREAM_STATS_SECONDS": "1",
    "CHATR_STREAM_PING_SECONDS": "60",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-stream"), **STREAM_ENV)
    yield process
    process.stop()


def post(base: str, agent: dict, content: str, session: requests.Session | None = None) -> dict:
    response = (session or requests).post(
        f"{base}/api/messages", headers=headers(agent), json={"content": content}, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def test_the_seed_python_client_sees_history_messages_and_stats_as_unnamed_frames(server):
    agent = register(server.url, "seed")
    before = post(server.url, agent, "said before connecting")
    frames = sse_frames(server.url)
    history = next(frames)
    assert history.type == "history"
    assert history.data[-1]["id"] == before["id"]
    assert history.id == before["id"]  # the id line holds the newest message id of the frame
    live = post(server.url, agent, "said while watching")
    seen = frames_until(frames, lambda seen: {"message", "stats"} <= {frame.type for frame in seen})
    message = next(frame for frame in seen if frame.type == "message")
    assert message.data == live
    assert message.id == live["id"]
    stats = next(frame for frame in seen if frame.type == "stats")
    assert set(stats.data) == {"totalAgents", "onlineAgents", "totalMessages", "slowModeSeconds"}  # §5, §13
    assert stats.data["totalMessages"] >= 2


def test_the_wire_format_has_retry_no_event_lines_and_the_stream_headers(server):
    response = requests.get(f"{server.url}/api/stream", stream=True, timeout=10)
    try:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        raw = b""
        for chunk in response.iter_content(chunk_size=None):
            raw += chunk
            if raw.count(b"\n\n") >= 2:
                break
    finally:
        response.close()
    assert raw.startswith(b"retry: 3000\n\n")
    assert b"event:" not in raw
    assert b'data: {"type":"history"' in raw


def test_a_reader_that_drops_after_message_n_gets_exactly_the_50_it_missed_in_order(server):
    agent = register(server.url, "resume")
    frames = sse_frames(server.url)
    assert next(frames).type == "history"
    last = post(server.url, agent, "the last one I see")
    seen = frames_until(frames, lambda seen: seen[-1].type == "message" and seen[-1].id == last["id"])
    frames.close()  # the reader drops
    session = requests.Session()
    missed = [post(server.url, agent, f"missed {n}", session)["id"] for n in range(50)]
    for resumed in (
        sse_frames(server.url, **{"Last-Event-ID": seen[-1].id}),
        sse_frames(server.url, path=f"/api/stream?lastEventId={last['id']}"),
    ):
        replay = frames_until(resumed, lambda got: len(message_ids(got)) >= 50)
        resumed.close()
        assert {frame.type for frame in replay} <= {"message", "stats"}  # no history on a resume
        assert [frame.id for frame in replay if frame.type == "message"] == missed


def test_a_resume_after_the_server_restarts_loses_nothing(server):
    agent = register(server.url, "restart")
    last = post(server.url, agent, "before the restart")
    server.restart()
    session = requests.Session()
    missed = [post(server.url, agent, f"after restart {n}", session)["id"] for n in range(50)]
    resumed = sse_frames(server.url, **{"Last-Event-ID": last["id"]})
    replay = frames_until(resumed, lambda got: len(message_ids(got)) >= 50)
    more = post(server.url, agent, "live after the replay")
    replay += frames_until(resumed, lambda got: more["id"] in [frame.id for frame in got])
    resumed.close()
    assert [frame.id for frame in replay if frame.type == "message"] == [*missed, more["id"]]


def test_messages_posted_while_readers_connect_arrive_exactly_once_and_in_order(server):
    """Subscribing before loading history, then dropping repeats, loses and doubles nothing."""
    wait_for_status(server.url, openStreams=0)
    agent = register(server.url, "race")
    posted: list[int] = []
    done = threading.Event()

    def write() -> None:
        session = requests.Session()
        for n in range(60):
            posted.append(int(post(server.url, agent, f"race {n}", session)["id"]))
        done.set()

    readers: list[list[int]] = []

    def read() -> None:
        frames = sse_frames(server.url)
        got = frames_until(frames, lambda seen: done.is_set() and message_ids(seen)[-1:] == posted[-1:], limit=60)
        frames.close()
        readers.append(message_ids(got))

    writer = threading.Thread(target=write)
    writer.start()
    threads = []
    for _ in range(8):
        time.sleep(0.08)
        threads.append(threading.Thread(target=read))
        threads[-1].start()
    for thread in [writer, *threads]:
        thread.join(timeout=90)
    assert len(readers) == 8
    for ids in readers:
        assert ids == sorted(set(ids))  # in order, nothing twice
        mine = [number for number in ids if number >= posted[0]]
        assert mine == [number for number in posted if number >= mine[0]]  # nothing missing


def test_the_eleventh_stream_from_one_address_is_refused_with_429(server):
    wait_for_status(server.url, openStreams=0)
    streams = [RawStream(server.port) for _ in range(10)]
    try:
        for stream in streams:
            assert stream.status() == 200
            stream.read_until(b"retry: 3000")
        assert stream_status(server.url)["openStreams"] == 10
        refused = requests.get(f"{server.url}/api/stream", timeout=10)
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/json"
        body = refused.json()
        assert body["success"] is False
        assert body["code"] == "too_many_streams"
        assert body["retry_after"] >= 1
        assert int(refused.headers["Retry-After"]) >= 1
        streams.pop().vanish()
        wait_for_status(server.url, openStreams=9)
        again = RawStream(server.port)
        streams.append(again)
        assert again.status() == 200
    finally:
        for stream in streams:
            stream.close()
    wait_for_status(server.url, openStreams=0, subscribers=0)


def test_an_unknown_room_is_404_and_a_bad_last_event_id_is_400(server):
    unknown = requests.get(f"{server.url}/api/stream", params={"room": "no-such-group"}, timeout=10)
    assert unknown.status_code == 404
    assert unknown.json() == {"success": False, "error": "No room with that id.", "code": "room_not_found"}
    bad = requests.get(f"{server.url}/api/stream", headers={"Last-Event-ID": "12abc"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
    lobby = requests.get(f"{server.url}/api/stream", params={"room": "lobby"}, stream=True, timeout=10)
    assert lobby.status_code == 200
    lobby.close()


@pytest.mark.parametrize(
    "query",
    ["room=lobby&room=no-such-group", "room=no-such-group&room=lobby", "lastEventId=1&lastEventId=2", "room=&room="],
)
@pytest.mark.parametrize("path", ["/api/stream", "/api/inbox/stream"])
def test_a_repeated_stream_parameter_is_400_in_the_error_shape(server, path, query):
    agent = register(server.url, "repeat")
    answer = requests.get(f"{server.url}{path}?{query}", headers=headers(agent), stream=True, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    answer.close()
    assert body["success"] is False and body["code"] == "validation_error"
    name = query.partition("=")[0]
    assert body["details"] == {name: ["Give this parameter once."]}
    once = query.partition("&")[2]
    single = requests.get(f"{server.url}{path}?{once}", headers=headers(agent), stream=True, timeout=10)
    assert single.status_code in {200, 404}  # one value is read as before
    single.close()


def test_a_stream_counts_against_the_per_ip_request_limit(tmp_path):
    limited = sqlite_server(tmp_path, **{**STREAM_ENV, "CHATR_RATE_REQUESTS_PER_IP": "6/m"})
    try:
        before = int(requests.get(f"{limited.url}/api/messages", timeout=10).headers["X-RateLimit-Remaining"])
        stream = requests.get(f"{limited.url}/api/stream", stream=True, timeout=10)
        assert stream.status_code == 200
        assert int(stream.headers["X-RateLimit-Remaining"]) == before - 1
        stream.close()
        answers = [requests.get(f"{limited.url}/api/stream", stream=True, timeout=10) for _ in range(before)]
        assert [answer.status_code for answer in answers] == [200] * (before - 1) + [429]
        assert answers[-1].json()["code"] == "rate_limited"
        for answer in answers:
            answer.close()
    finally:
        limited.stop()


def test_200_abrupt_disconnects_bring_every_count_back_to_zero(tmp_path):
    roomy = sqlite_server(tmp_path, **{**STREAM_ENV, "CHATR_MAX_STREAMS_PER_IP": "250"})
    try:
        streams = [RawStream(roomy.port) for _ in range(200)]
        for stream in streams:
            stream.read_until(b"retry: 3000")
        wait_for_status(roomy.url, subscribers=200, openStreams=200)
        for stream in streams:
            stream.vanish()
        # Some leave before their first frame was even sent.
        early = [RawStream(roomy.port) for _ in range(20)]
        for stream in early:
            stream.vanish()
        wait_for_status(roomy.url, subscribers=0, openStreams=0, channels=0)
    finally:
        roomy.stop()


@pytest.fixture(scope="module")
def fast_clock_server(tmp_path_factory):
    """Keep-alive after 1 s of silence; presence expires after 2 s, swept every 0.3 s."""
    env = {
        **STREAM_ENV,
        "CHATR_STREAM_STATS_SECONDS": "600",
        "CHATR_STREAM_PING_SECONDS": "1",
        "CHATR_PRESENCE_TIMEOUT_SECONDS": "2",
        "CHATR_PRESENCE_SWEEP_SECONDS": "0.3",
        "CHATR_PRESENCE_COALESCE_SECONDS": "0",  # every change its own frame (coalescing: test_presence.py)
    }
    process = sqlite_server(tmp_path_factory.mktemp("chatr-clock"), **env)
    yield process
    process.stop()


def test_a_silent_stream_gets_a_ping_comment(fast_clock_server):
    stream = RawStream(fast_clock_server.port)
    try:
        started = time.monotonic()
        raw = stream.read_until(b": ping\n\n", timeout=5)
        assert 0.8 <= time.monotonic() - started <= 4
        assert raw.index(b"retry: 3000") < raw.index(b": ping")
    finally:
        stream.close()


def test_presence_frames_when_an_agent_comes_online_goes_offline_and_times_out(fast_clock_server):
    base = fast_clock_server.url
    frames = sse_frames(base)
    assert next(frames).type == "history"
    agent = register(base, "present")  # registering is not being online

    def presence(seen):
        return [(frame.data["agentName"], frame.data["online"]) for frame in seen if frame.type == "presence"]

    requests.post(f"{base}/api/heartbeat", headers=headers(agent), timeout=10)
    requests.post(f"{base}/api/heartbeat", headers=headers(agent), timeout=10)  # still online: no frame
    requests.post(f"{base}/api/disconnect", headers=headers(agent), timeout=10)
    requests.post(f"{base}/api/heartbeat", headers=headers(agent), timeout=10)
    seen = frames_until(frames, lambda seen: len(presence(seen)) >= 4, limit=10)  # the 4th: timed out
    frames.close()
    # online, offline (disconnect), online (heartbeat), offline (timed out): one frame each
    assert presence(seen) == [(agent["name"], online) for online in (True, False, True, False)]
    offline = [frame for frame in seen if frame.type == "presence"][-1]
    assert offline.data["agentId"] == agent["id"]
    assert offline.data["avatar"] == "🤖"
    assert (offline.data["moltbookVerified"], offline.data["moltbookName"]) == (False, None)


def test_a_reader_that_never_reads_is_dropped_with_bounded_memory_and_others_are_not_delayed(tmp_path):
    """uvicorn pushes back when a socket's buffers are full, so the silent reader's queue fills up."""
    import psutil

    env = {**STREAM_ENV, "CHATR_STREAM_QUEUE_FRAMES": "16", "CHATR_STREAM_STATS_SECONDS": "600"}
    uvicorn = sqlite_server(tmp_path, server="uvicorn", **env)
    try:
        agent = register(uvicorn.url, "flood")
        silent = RawStream(uvicorn.port, rcvbuf=4096)
        silent.read_until(b"retry: 3000")
        arrivals: dict[str, float] = {}
        reader_frames = sse_frames(uvicorn.url)
        assert next(reader_frames).type == "history"

        def read() -> None:
            try:
                for frame in reader_frames:
                    if frame.type == "message":
                        arrivals[frame.id] = time.monotonic()
            except requests.RequestException:
                pass  # the server stopped at the end of the test

        threading.Thread(target=read, daemon=True).start()
        wait_for_status(uvicorn.url, subscribers=2)
        server = psutil.Process(uvicorn.pid)
        rss_before = server.memory_info().rss
        sent: dict[str, float] = {}
        content = "🦞" * 250  # a 1.3 KB frame: the kernel's socket buffers fill after a few thousand
        session = requests.Session()
        for n in range(8000):
            started = time.monotonic()
            sent[post(uvicorn.url, agent, content, session)["id"]] = started
            if n % 200 == 0 and stream_status(uvicorn.url)["subscribers"] == 1:
                break
        assert stream_status(uvicorn.url)["subscribers"] == 1, "the silent reader was never dropped"
        growth = server.memory_info().rss - rss_before
        assert growth < 40 * 1024 * 1024
        deadline = time.monotonic() + 10
        while len(arrivals) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(arrivals) == set(sent)  # the reading reader missed nothing
        delays = sorted(arrivals[key] - sent[key] for key in sent)
        assert delays[len(delays) // 2] < 0.1
        assert delays[-1] < 2
        silent.sock.settimeout(10)
        try:
            while silent.sock.recv(1 << 20):  # what was buffered, then the end of the stream
                pass
        except ConnectionResetError:
            pass  # the server ended the connection with unsent data: an abortive close ends it too
    finally:
        uvicorn.stop()


def test_a_stop_ends_open_streams_after_the_grace_instead_of_waiting_for_viewers(tmp_path):
    """SIGTERM with a viewer connected: the server exits within CHATR_SHUTDOWN_GRACE_SECONDS, not never."""
    served = sqlite_server(tmp_path, server="uvicorn", **{**STREAM_ENV, "CHATR_SHUTDOWN_GRACE_SECONDS": "1"})
    viewer = RawStream(served.port)
    try:
        viewer.read_until(b'"type":"history"')
        process = served.process
        assert process is not None
        started = time.monotonic()
        process.terminate()
        process.wait(timeout=8)  # without the bound: "Waiting for connections to close" for ever
        assert time.monotonic() - started < 6
        with pytest.raises(ConnectionError):
            viewer.read_until(b"never sent", timeout=5)  # the stream was closed, so the client resumes
    finally:
        viewer.close()
        served.stop()
